// A facade that re-exports cache-core under another path: `crate = "..."` points the
// generated code at it (what the README and the attribute's docs tell facade authors).
mod facade {
    pub use cache_core as runtime;
    pub use cache_core::ttl_cached;
}

#[facade::ttl_cached(ttl = "1h", cache = lookups, crate = "crate::facade::runtime")]
fn lookup(key: &str) -> String {
    key.to_uppercase()
}

fn main() {
    assert_eq!(lookup("a"), "A");
    assert_eq!(lookup("a"), "A");
    assert_eq!(lookups().stats().misses, 1);
}
