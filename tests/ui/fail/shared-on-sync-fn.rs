use cache_core::redis::RedisTier;
use cache_core::ttl_cached;

fn tier() -> RedisTier {
    RedisTier::new("redis://127.0.0.1:6379/").unwrap()
}

#[ttl_cached(ttl = "1h", shared = tier())]
fn embedding(text: &str) -> Vec<f32> {
    vec![text.len() as f32]
}

fn main() {}
