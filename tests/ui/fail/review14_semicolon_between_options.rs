//! `ttl = "1h"; sweep = "5m"`: options separated by a semicolon. One error, at the `;`.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h"; sweep = "5m")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
