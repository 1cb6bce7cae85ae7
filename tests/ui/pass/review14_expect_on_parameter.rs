//! `#[expect(unused_variables)]` on the one parameter the body does not read (the narrowest
//! place to put it): without the attribute it is fulfilled; with it, under
//! `#![deny(warnings)]`, it must still compile.
#![deny(warnings)]
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn lookup(key: u32, #[expect(unused_variables)] hint: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(lookup(1, 2), 1);
}
