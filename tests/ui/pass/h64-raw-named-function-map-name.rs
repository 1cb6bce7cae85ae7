//! A function with a raw name (`r#match`, `r#fn`) names its map as its path reads
//! (`module::match`, the way `type_name` and rustdoc show it), not `module::r#match`.
use cache_core::ttl_cached;

mod lookups {
    use super::ttl_cached;

    #[ttl_cached(ttl = "1h")]
    pub fn r#match(r#type: &str) -> usize {
        r#type.len()
    }

    #[ttl_cached(ttl = "1h", cache = fn_cache)]
    pub fn r#fn(key: u8) -> u8 {
        key
    }
}

fn main() {
    assert_eq!(lookups::r#match("ab"), 2);
    assert_eq!(lookups::r#fn(3), 3);
    assert_eq!(lookups::fn_cache().len(), 1);
    let names: Vec<&str> = cache_core::caches().iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for function in ["::lookups::match", "::lookups::fn"] {
        assert!(names.iter().any(|name| name.ends_with(function)), "{names:?}");
    }
}
