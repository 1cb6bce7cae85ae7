use cache_core::ttl_cached;

#[ttl_cached(ttl = 1.5)]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
