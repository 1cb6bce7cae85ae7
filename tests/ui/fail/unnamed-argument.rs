use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client(_: &str) -> u32 {
    1
}

fn main() {}
