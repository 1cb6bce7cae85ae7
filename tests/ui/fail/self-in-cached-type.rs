use cache_core::ttl_cached;

struct Client;

impl Client {
    #[ttl_cached(ttl = "1h")]
    fn new(key: &str) -> Self {
        let _ = key;
        Client
    }
}

fn main() {}
