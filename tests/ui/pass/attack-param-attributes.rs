//! Attributes on parameters that keep them: `#[allow]`, a `#[cfg]` that holds.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn pick(#[allow(unused_variables)] kept: u32) -> u32 {
    kept
}

#[ttl_cached(ttl = "1h")]
fn both(#[cfg(all())] a: u32, b: &str) -> String {
    format!("{a}{b}")
}

fn main() {
    assert_eq!(pick(3), 3);
    assert_eq!(both(1, "x"), "1x");
}
