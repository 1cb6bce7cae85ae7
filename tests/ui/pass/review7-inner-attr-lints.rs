//! Inner attributes and lints in a body under deny(warnings).
#![deny(warnings)]
use cache_core::ttl_cached;

/// Docs.
#[ttl_cached(ttl = "1h", cache = handle)]
pub fn lenient(key: u32) -> u32 {
    #![allow(unused_variables)]
    #![allow(clippy::needless_return)]
    let unused = 5;
    return key + 1;
}

fn main() {
    assert_eq!(lenient(1), 2);
    assert_eq!(handle().len(), 1);
}
