//! A `#[cfg_attr(..)]` on a key parameter that only adds a lint level (or any attribute other
//! than `cfg`) takes nothing away from the key. Rejected since 15b6e76 ("a parameter under
//! `#[cfg]` cannot be part of the key"), which matches `cfg_attr` as well as `cfg`.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1m")]
fn lookup(#[cfg_attr(not(debug_assertions), allow(unused_variables))] id: u8, n: u8) -> u8 {
    n
}

fn main() {
    assert_eq!(lookup(1, 2), 2);
}
