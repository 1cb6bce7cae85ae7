//! Patterns and `_` are fine once the key is given explicitly (README: "destructuring patterns
//! (unless a custom `key` is given)").
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: (u8, u8) = (a, b))]
fn add((a, b): (u8, u8), _: &str) -> u16 {
    u16::from(a) + u16::from(b)
}

pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[ttl_cached(ttl = "1h", key: (i32, i32) = (x, y))]
fn norm(Point { x, y }: Point) -> i64 {
    i64::from(x.abs()) + i64::from(y.abs())
}

fn main() {
    assert_eq!(add((1, 2), "ignored"), 3);
    assert_eq!(norm(Point { x: -1, y: 2 }), 3);
}
