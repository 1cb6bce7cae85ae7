//! The attribute inside `macro_rules!`, with identifiers and literals passed through.
use cache_core::ttl_cached;

macro_rules! cached_len {
    ($name:ident, $ttl:literal) => {
        #[ttl_cached(ttl = $ttl)]
        fn $name(key: &str) -> usize {
            key.len()
        }
    };
}

cached_len!(len_a, "1h");
cached_len!(len_b, "5m");

fn main() {
    assert_eq!(len_a("ab"), 2);
    assert_eq!(len_b("abc"), 3);
}
