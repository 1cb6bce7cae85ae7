//! Fails to compile, on purpose: the attribute's messages, in an edition 2015 crate.
extern crate cache_core;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", max_size = 3)]
pub fn upper(s: &str) -> String {
    s.to_uppercase()
}

#[ttl_cached(ttl = "1h")]
pub fn fine(s: &str) -> String {
    s.to_uppercase()
}
