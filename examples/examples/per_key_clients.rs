//! `cargo run --example per_key_clients [-- --hosts N --requests M]`
//!
//! A `reqwest::Client` per base URL and a health-checked client per service, memoized with
//! `#[ttl_cached]`. See `examples/src/per_key_clients.rs`.

use clap::Parser;
use examples::per_key_clients::{Args, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args, &mut std::io::stdout()).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("per_key_clients: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
