use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", crate = "cache_core", cache = lookups)]
fn lookup(key: &str) -> String {
    key.to_uppercase()
}

fn main() {
    assert_eq!(lookup("a"), "A");
    assert_eq!(lookups().len(), 1);
}
