use cache_core::ttl_cached;

struct Pool;

impl Pool {
    #[ttl_cached(ttl = "1h")]
    fn client(&self, key: &str) -> String {
        key.to_string()
    }
}

fn main() {}
