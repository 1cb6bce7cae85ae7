//! `$ttl:expr` reaches the attribute as an invisible group around the literal.
use cache_core::ttl_cached;

macro_rules! cached_len {
    ($name:ident, $ttl:expr) => {
        #[ttl_cached(ttl = $ttl)]
        fn $name(key: &str) -> usize {
            key.len()
        }
    };
}

cached_len!(len_a, "1h");

fn main() {
    assert_eq!(len_a("ab"), 2);
}
