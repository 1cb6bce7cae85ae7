//! `#[cfg_attr(all(), expect(unused_variables))]`: an expectation given through `cfg_attr`
//! (as `#[cfg_attr(test, expect(..))]` is) holds as one written directly.
#![deny(warnings)]
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
#[cfg_attr(all(), expect(unused_variables))]
fn after(key: u32, hint: u32) -> u32 {
    key
}

#[cfg_attr(all(), expect(unused_variables))]
#[ttl_cached(ttl = "1h")]
fn before(key: u32, hint: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(after(1, 2), 1);
    assert_eq!(before(1, 2), 1);
}
