//! Duration literals humantime accepts, and expressions.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1 hour", max_lifetime = "2 weeks", refresh_after = "5min", stale_if_error = "100us")]
fn a(key: u8) -> Result<u8, String> {
    Ok(key)
}

#[ttl_cached(ttl = "1d 2h 3m 4s 5ms 6us 7ns", sweep = "1w")]
fn b(key: u8) -> u8 {
    key
}

#[ttl_cached(ttl = std::time::Duration::MAX)]
fn c(key: u8) -> u8 {
    key
}

#[ttl_cached(ttl = "1ns")]
fn d(key: u8) -> u8 {
    key
}

fn main() {
    assert_eq!(a(1), Ok(1));
    assert_eq!(b(1), 1);
    assert_eq!(c(1), 1);
    assert_eq!(d(1), 1);
}
