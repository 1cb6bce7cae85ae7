use cache_core::redis::RedisTier;
use cache_core::ttl_cached;

fn tier() -> RedisTier {
    RedisTier::new("redis://127.0.0.1:6379/").unwrap()
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Region {
    name: String,
}

#[ttl_cached(ttl = "1h", shared = tier())]
async fn price(item: &str, region: Region) -> u64 {
    (item.len() + region.name.len()) as u64
}

fn main() {}
