use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client(key: &mut String) -> String {
    key.clone()
}

fn main() {}
