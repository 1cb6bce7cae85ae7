//! Parameters and functions named like the generated items do not clash.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", cache = memo)]
fn map(__ttl_cached_map: u32, __ttl_cached_key0: u32, __ttl_cached_key1: &str, key: u8) -> String {
    format!("{__ttl_cached_map}{__ttl_cached_key0}{__ttl_cached_key1}{key}")
}

#[ttl_cached(ttl = "1h", key: u32 = __ttl_cached_key + 1)]
fn custom(__ttl_cached_key: u32) -> u32 {
    __ttl_cached_key
}

fn main() {
    assert_eq!(map(1, 2, "x", 3), "12x3");
    assert_eq!(memo().len(), 1);
    assert_eq!(custom(4), 4);
}
