//! `ttl = TTL_SECS` where the constant is a number of seconds: how many errors, and where?
use cache_core::ttl_cached;

const TTL_SECS: u64 = 60;

#[ttl_cached(ttl = TTL_SECS)]
fn lookup(key: &str) -> String {
    key.to_owned()
}

fn main() {
    assert_eq!(lookup("a"), "a");
}
