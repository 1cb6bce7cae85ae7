use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client(key: &str) -> &'static str {
    if key.is_empty() { "" } else { "x" }
}

fn main() {}
