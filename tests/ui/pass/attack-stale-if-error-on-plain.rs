//! `stale_if_error` on a return type that cannot fail is accepted (a no-op).
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", stale_if_error = "5m")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {
    assert_eq!(client("a"), "a");
}
