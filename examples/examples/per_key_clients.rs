//! `cargo run --example per_key_clients [-- --hosts N --requests M]`
//!
//! A `reqwest::Client` per base URL and a health-checked client per service, memoized with
//! `#[ttl_cached]`. See `examples/src/per_key_clients.rs`.

use clap::Parser;
use examples::per_key_clients::{Args, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    examples::exit_code("per_key_clients", run(&args, &mut std::io::stdout()).await)
}
