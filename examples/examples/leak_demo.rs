//! `cargo run --example leak_demo [-- --days 30 --new-keys-per-day 20 --ttl 1h --plot FILE]`
//!
//! The seed's 30-day memory story, measured: a naive global client map against
//! `#[ttl_cached]`. See `examples/src/leak_demo.rs`.

use clap::Parser;
use examples::heap::CountingAllocator;
use examples::leak_demo::{Args, run};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    examples::exit_code("leak_demo", run(&args, &mut std::io::stdout()))
}
