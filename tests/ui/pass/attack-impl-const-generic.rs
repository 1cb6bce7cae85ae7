//! A function cached inside an `impl<const N: usize>` gets one cache per `N`.
use cache_core::ttl_cached;

pub struct Buf<const N: usize>;

impl<const N: usize> Buf<N> {
    #[ttl_cached(ttl = "1h", cache = Self::sizes)]
    pub fn size(key: u32) -> usize {
        N + key as usize
    }
}

fn main() {
    assert_eq!(Buf::<1>::size(0), 1);
    assert_eq!(Buf::<2>::size(0), 2);
    assert_eq!(Buf::<1>::size(0), 1);
    assert_eq!(Buf::<1>::sizes().len(), 1);
    assert_eq!(Buf::<3>::sizes().len(), 0);
}
