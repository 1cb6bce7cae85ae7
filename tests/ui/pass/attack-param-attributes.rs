//! Attributes on parameters that keep them and the key as it is: `#[allow]`. (A `#[cfg]` on a
//! parameter is an error, even one that holds: see `fail/attack-cfg-param.rs`.)
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn pick(#[allow(unused_variables)] kept: u32) -> u32 {
    kept
}

fn main() {
    assert_eq!(pick(3), 3);
}
