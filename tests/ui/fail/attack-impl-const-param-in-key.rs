use cache_core::ttl_cached;

pub struct Buf<const N: usize>;

impl<const N: usize> Buf<N> {
    #[ttl_cached(ttl = "1h")]
    pub fn sum(bytes: [u8; N]) -> u32 {
        bytes.iter().map(|&b| u32::from(b)).sum()
    }
}

fn main() {}
