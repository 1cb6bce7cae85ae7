//! A module-level const named `N` (a real const, not a parameter) as an array length.
use cache_core::ttl_cached;

const N: usize = 4;

#[ttl_cached(ttl = "1h")]
fn fill(x: u8) -> [u8; N] {
    [x; N]
}

#[ttl_cached(ttl = "1h")]
fn sum(bytes: [u8; N]) -> u32 {
    bytes.iter().map(|&b| u32::from(b)).sum()
}

fn main() {
    assert_eq!(fill(1), [1; 4]);
    assert_eq!(sum([1; 4]), 4);
}
