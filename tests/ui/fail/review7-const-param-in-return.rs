//! A return type that depends on the `impl`'s const parameter: like a type parameter, it
//! cannot be the type of one static. One clear error expected.
use cache_core::ttl_cached;

pub struct Buf<const N: usize>;

impl<const N: usize> Buf<N> {
    #[ttl_cached(ttl = "1h")]
    pub fn zeros(fill: u8) -> [u8; N] {
        [fill; N]
    }
}

fn main() {
    assert_eq!(Buf::<2>::zeros(1), [1, 1]);
}
