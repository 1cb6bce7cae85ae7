//! The logic of the runnable examples (`cargo run --example ...`), kept in a library so that
//! the test suite runs it too.

pub mod heap;

/// Serves `app` on 127.0.0.1 at an ephemeral port, on the current Tokio runtime, recording
/// each request's peer address; returns the address it listens on.
async fn serve_locally(app: axum::Router) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok(address)
}
pub mod fleet;
pub mod leak_demo;
pub mod local_server;
pub mod mock_embeddings;
pub mod mock_openai;
pub mod openai_clients;
pub mod per_key_clients;
pub mod tenant_tokens;

/// The process's exit code for an example's result: its report went to stdout; an error is
/// printed to stderr, prefixed with the example's name. A [`CannotRun`] error exits with 2,
/// like a usage error; any other with 1.
pub fn exit_code<T>(
    example: &str,
    result: Result<T, Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{example}: {error}");
            if error.is::<CannotRun>() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// Why an example cannot run here at all (a program it needs is missing, flags that do not go
/// together), as opposed to a run that went wrong: [`exit_code`] makes it exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotRun(pub String);

impl std::fmt::Display for CannotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CannotRun {}
