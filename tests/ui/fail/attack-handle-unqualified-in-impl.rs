use cache_core::ttl_cached;

pub struct Pool;

impl Pool {
    #[ttl_cached(ttl = "1h", cache = clients)]
    pub fn client(key: &str) -> String {
        key.to_string()
    }
}

fn main() {}
