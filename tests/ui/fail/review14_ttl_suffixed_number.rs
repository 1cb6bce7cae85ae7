//! `ttl = 1h`: the unit written as a literal suffix, not in a string. The message must not
//! suggest a different duration than the one written (it said `"1s"`).
use cache_core::ttl_cached;

#[ttl_cached(ttl = 1h)]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
