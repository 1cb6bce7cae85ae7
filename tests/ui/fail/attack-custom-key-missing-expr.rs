use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: String)]
fn client(name: &str) -> String {
    name.to_string()
}

fn main() {}
