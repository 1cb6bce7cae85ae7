use cache_core::ttl_cached;

#[ttl_cached(ttl = "99999999999999999999999h")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
