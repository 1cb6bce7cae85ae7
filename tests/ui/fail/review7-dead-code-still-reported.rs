//! An annotated function that nothing calls is still reported by `dead_code`: the expansion
//! keeps the function's own braces, so lints judge it as the user's code (clippy's too:
//! `must_use_candidate`, `needless_return` in the body).
#![deny(dead_code)]

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn never_called(key: u32) -> u32 {
    key
}

fn main() {}
