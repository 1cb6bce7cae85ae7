//! `cargo run --example fleet -- --workers 3 --keys 40 [--chaos] [--redis-url URL]`
//!
//! Worker processes share one memoized async fn (an OpenAI embedding per API key) through the
//! fleet tier on Redis: one upstream call per key for the whole fleet, invalidation that
//! reaches every process, and calls that keep working while Redis is killed and restarted
//! (`--chaos`). Starts its own `redis-server` (install it with
//! `apt-get install -y redis-server`) and a mock OpenAI server. See `examples/src/fleet.rs`.

fn main() -> std::process::ExitCode {
    examples::fleet::main()
}
