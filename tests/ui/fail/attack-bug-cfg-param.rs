//! A parameter removed by `#[cfg]` (valid Rust without the attribute): the key still names it.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn pick(#[cfg(any())] gone: u32, kept: u32) -> u32 {
    kept
}

fn main() {
    assert_eq!(pick(3), 3);
}
