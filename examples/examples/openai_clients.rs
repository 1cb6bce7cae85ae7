//! `cargo run --example openai_clients [-- --tenants N --requests M]`
//!
//! One async-openai `Client` per tenant API key, memoized with `#[ttl_cached]`, against a
//! local mock OpenAI server. See `examples/src/openai_clients.rs`.

use clap::Parser;
use examples::openai_clients::{Args, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args, &mut std::io::stdout()).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("openai_clients: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
