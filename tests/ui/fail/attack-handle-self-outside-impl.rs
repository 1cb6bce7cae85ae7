use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", cache = Self::clients)]
pub fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
