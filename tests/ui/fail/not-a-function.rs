use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
struct Client {
    key: String,
}

fn main() {}
