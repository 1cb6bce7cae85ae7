use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", max_lifetime = 12, expire_after = |_: &String, v: &String| v.len())]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
