use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: &str = name)]
fn greet(name: &str) -> String {
    format!("hi {name}")
}

fn main() {}
