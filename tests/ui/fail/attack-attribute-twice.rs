//! Two `#[ttl_cached]` on one function would be two nested caches with different ttls: one
//! error, on the second attribute.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
#[ttl_cached(ttl = "5m")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {
    assert_eq!(client("a"), "a");
}
