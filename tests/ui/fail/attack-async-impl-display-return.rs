use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
async fn show(n: u32) -> impl std::fmt::Display {
    n
}

fn main() {}
