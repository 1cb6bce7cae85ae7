use cache_core::ttl_cached;

struct Pool;

impl Pool {
    #[ttl_cached(ttl = "1h")]
    fn into_client(self) -> String {
        String::new()
    }
}

fn main() {}
