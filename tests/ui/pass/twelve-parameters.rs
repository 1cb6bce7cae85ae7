//! Nine and twelve plain parameters, keyed by their tuple: `cached` and `memoize` go to 12, as
//! std's `Hash` for tuples does, and so does the attribute.
use cache_core::ttl_cached;

#[allow(clippy::too_many_arguments)]
#[ttl_cached(ttl = "1h")]
fn render(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8) -> u32 {
    [a, b, c, d, e, f, g, h, i]
        .iter()
        .map(|x| u32::from(*x))
        .sum()
}

#[allow(clippy::too_many_arguments)]
#[ttl_cached(ttl = "1h")]
fn widest(
    a: u8, b: &str, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: &[u8],
) -> usize {
    [a, c, d, e, f, g, h, i, j, k].len() + b.len() + l.len()
}

fn main() {
    assert_eq!(widest(0, "ab", 0, 0, 0, 0, 0, 0, 0, 0, 0, &[1]), 13);
    assert_eq!(render(1, 1, 1, 1, 1, 1, 1, 1, 1), 9);
}
