use cache_core::redis::RedisTier;
use cache_core::ttl_cached;

fn tier() -> RedisTier {
    RedisTier::new("redis://127.0.0.1:6379/").unwrap()
}

struct Client;

#[ttl_cached(ttl = "1h", shared = tier())]
async fn client(api_key: &str) -> Client {
    let _ = api_key;
    Client
}

fn main() {}
