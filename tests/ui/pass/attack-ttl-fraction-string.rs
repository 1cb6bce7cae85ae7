//! humantime 2.4 accepts fractions: "1.5h" is 90 minutes.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1.5h")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {
    assert_eq!(client("a"), "a");
}
