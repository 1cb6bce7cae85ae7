//! Nine plain parameters. `cached` and `memoize` key by the tuple (std's `Hash` goes to 12);
//! the README says "several parameters key by their tuple" with no limit.
use cache_core::ttl_cached;

#[allow(clippy::too_many_arguments)]
#[ttl_cached(ttl = "1h")]
fn render(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8) -> u32 {
    [a, b, c, d, e, f, g, h, i]
        .iter()
        .map(|x| u32::from(*x))
        .sum()
}

fn main() {
    assert_eq!(render(1, 1, 1, 1, 1, 1, 1, 1, 1), 9);
}
