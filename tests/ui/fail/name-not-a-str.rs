//! `name` takes a `&'static str`: an empty one, or one of another type, is an error on it.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", name = "")]
fn empty(key: &str) -> String {
    key.to_string()
}

#[ttl_cached(ttl = "1h", name = 42)]
fn number(key: &str) -> String {
    key.to_string()
}

fn main() {}
