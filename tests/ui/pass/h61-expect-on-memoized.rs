//! `#[expect(..)]` on a memoized function holds as on the function without the attribute,
//! under `#![deny(warnings)]`: `dead_code` is still judged on the user's function, and
//! `unused_variables` (a parameter only the key reads) becomes an `allow`, since the key
//! reads every parameter. Clippy's lints of that kind: `tests/lints/`.
#![deny(warnings)]
use cache_core::ttl_cached;

#[expect(dead_code, reason = "nothing calls it")]
#[ttl_cached(ttl = "1h")]
fn never_called(key: u32) -> u32 {
    key
}

#[expect(unused_variables)]
#[ttl_cached(ttl = "1h")]
fn unread(key: u32, unread: u32) -> u32 {
    key
}

#[ttl_cached(ttl = "1h", cache = unread_inner_cache)]
fn unread_inner(key: u32, unread: u32) -> u32 {
    #![expect(unused_variables)]
    key
}

#[expect(unused_variables, unused_mut)]
#[ttl_cached(ttl = "1h")]
async fn unread_async(mut key: u32, unread: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(unread(1, 2), 1);
    assert_eq!(unread(1, 3), 1);
    assert_eq!(unread_inner(1, 2), 1);
    let _ = unread_async(1, 2);
}
