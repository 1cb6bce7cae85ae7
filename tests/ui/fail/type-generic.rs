use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client<T: ToString>(key: T) -> String {
    key.to_string()
}

fn main() {}
