//! A ttl expression that reads a parameter would be evaluated once, with the first caller's
//! argument, and hold for good: one error, on the parameter's name.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = Duration::from_secs(secs))]
pub fn client(key: &str, secs: u64) -> String {
    format!("{key}{secs}")
}

fn main() {
    assert_eq!(client("a", 1), "a1");
    assert_eq!(client("a", 2), "a2");
}
