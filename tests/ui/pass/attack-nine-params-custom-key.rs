//! Beyond 8 parameters a custom key is the way out, as the error says.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: [u8; 9] = [a, b, c, d, e, f, g, h, i])]
fn wide(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8) -> u32 {
    u32::from(a + b + c + d + e + f + g + h + i)
}

fn main() {
    assert_eq!(wide(1, 1, 1, 1, 1, 1, 1, 1, 1), 9);
}
