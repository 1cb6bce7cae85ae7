use cache_core::ttl_cached;

struct Pool;

impl Pool {
    #[ttl_cached(ttl = "forever", expiry = "lru", capacity = 0)]
    fn client(&self, key: &mut String) -> &'static str {
        key.clear();
        "cleared"
    }
}

fn main() {}
