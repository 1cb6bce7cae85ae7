use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", crate = "::no_such_crate")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
