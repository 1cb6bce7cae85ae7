use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client<const N: usize>(key: [u8; N]) -> usize {
    key.len()
}

fn main() {}
