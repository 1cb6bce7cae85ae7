//! `cargo run --example openai_clients [-- --tenants N --requests M]`
//!
//! One async-openai `Client` per tenant API key, memoized with `#[ttl_cached]`, against a
//! local mock OpenAI server. See `examples/src/openai_clients.rs`.

use clap::Parser;
use examples::openai_clients::{Args, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    examples::exit_code("openai_clients", run(&args, &mut std::io::stdout()).await)
}
