//! A key that is a fn pointer over a user type named with one letter (a real type).
use cache_core::ttl_cached;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct X(u32);

fn double(x: X) -> u32 {
    x.0 * 2
}

#[ttl_cached(ttl = "1h")]
fn apply(f: fn(X) -> u32, x: u32) -> u32 {
    f(X(x))
}

fn main() {
    assert_eq!(apply(double, 2), 4);
}
