use cache_core::ttl_cached;

fn redis_url() -> String {
    "redis://127.0.0.1:6379/".to_string()
}

#[ttl_cached(ttl = "1h", shared = redis_url())]
async fn embedding(text: &str) -> Vec<f32> {
    vec![text.len() as f32]
}

#[ttl_cached(ttl = "1h", shared = "redis://127.0.0.1:6379/")]
async fn tokens(text: &str) -> usize {
    text.len()
}

fn main() {}
