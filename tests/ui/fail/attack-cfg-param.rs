//! A parameter under `#[cfg]` (valid Rust without the attribute): the key, built before the
//! `cfg` is applied, cannot follow it, so it is one error that says to give the key.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn pick(#[cfg(any())] gone: u32, kept: u32) -> u32 {
    kept
}

fn main() {
    assert_eq!(pick(3), 3);
}
