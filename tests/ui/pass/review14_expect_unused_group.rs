//! `#[expect(unused)]` (the lint group) on a function whose parameter only the body could
//! read: without the attribute `unused_variables` fulfils it; with it, under
//! `#![deny(warnings)]`, it must still compile.
#![deny(warnings)]
use cache_core::ttl_cached;

#[expect(unused)]
#[ttl_cached(ttl = "1h")]
fn lookup(key: u32, hint: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(lookup(1, 2), 1);
}
