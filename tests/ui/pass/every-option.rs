use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

const TTL: Duration = Duration::from_secs(90);
const MAX: usize = 1_000;

#[ttl_cached(
    ttl = TTL,
    sweep = "1h 30m",
    expiry = "fixed",
    capacity = MAX * 2,
    key: String = format!("{host}:{port}"),
    cache = endpoints,
    clock = ManualClock::new(),
    crate = "::cache_core",
)]
pub fn endpoint(host: &str, port: u16) -> String {
    format!("https://{host}:{port}/")
}

#[ttl_cached(ttl = "250ms", sweep = "off", expiry = "sliding", capacity = 3)]
fn tiny(key: u8) -> u8 {
    key
}

/// A ttl read from configuration when the cache is first used.
fn configured_ttl() -> Duration {
    std::env::var("CLIENT_TTL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs)
}

#[ttl_cached(ttl = configured_ttl(), capacity = MAX + std::env::args().count())]
fn configured(key: &str) -> usize {
    key.len()
}

fn main() {
    assert_eq!(configured("abc"), 3);
    assert_eq!(endpoint("a", 1), "https://a:1/");
    assert_eq!(endpoints().len(), 1);
    assert_eq!(tiny(1), 1);
}
