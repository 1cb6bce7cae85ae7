use cache_core::ttl_cached;

#[ttl_cached(TTL = "1h")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
