use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn label(n: u32) -> Option<impl Clone + Send + Sync> {
    Some(n)
}

fn main() {}
