use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client(key: impl AsRef<str>) -> String {
    key.as_ref().to_string()
}

fn main() {}
