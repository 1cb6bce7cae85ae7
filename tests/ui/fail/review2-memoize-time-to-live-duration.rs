// memoize's `TimeToLive: Duration::from_secs(2)`: `ttl` takes a `Duration` expression too, so
// the advice can keep the value (`ttl = Duration::from_secs(2)`) instead of `ttl = "..."`.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(TimeToLive: Duration::from_secs(2))]
fn square(n: u64) -> u64 {
    n * n
}

fn main() {}
