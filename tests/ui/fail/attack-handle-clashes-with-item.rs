use cache_core::ttl_cached;

pub fn clients() -> usize {
    0
}

#[ttl_cached(ttl = "1h", cache = clients)]
pub fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
