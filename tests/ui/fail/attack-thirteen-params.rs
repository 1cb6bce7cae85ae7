//! Thirteen parameters: one more than a key tuple takes (std's `Hash` for tuples, and
//! `cached`'s, go to 12).
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn wide(
    a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8, m: u8,
) -> u32 {
    u32::from(a + b + c + d + e + f + g + h + i + j + k + l + m)
}

fn main() {}
