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
pub mod leak_demo;
pub mod local_server;
pub mod mock_openai;
pub mod openai_clients;
pub mod per_key_clients;
pub mod tenant_tokens;

/// The process's exit code for an example's result: its report went to stdout; an error is
/// printed to stderr, prefixed with the example's name.
pub fn exit_code<T>(
    example: &str,
    result: Result<T, Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{example}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
