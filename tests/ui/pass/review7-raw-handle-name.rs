//! A raw identifier as the handle's name (`cache = r#ref`, for a function `r#type`) is a
//! snake_case identifier like any other.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", cache = r#ref)]
pub fn r#type(key: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(r#type(1), 1);
    assert_eq!(r#ref().len(), 1);
}
