//! `cargo run --example tenant_tokens [-- --tenants N --minutes M --expires-in SECS]`
//!
//! A client per tenant holding an OAuth token that expires, memoized with
//! `#[ttl_cached(expire_after = ...)]`. See `examples/src/tenant_tokens.rs`.

use clap::Parser;
use examples::tenant_tokens::{Args, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    examples::exit_code("tenant_tokens", run(&args, &mut std::io::stdout()).await)
}
