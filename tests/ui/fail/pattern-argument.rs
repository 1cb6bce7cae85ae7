use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn client((a, b): (u8, u8)) -> u16 {
    u16::from(a) + u16::from(b)
}

fn main() {}
