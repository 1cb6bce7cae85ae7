use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", max_size = 10)]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
