use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
const fn answer(key: u32) -> u32 {
    key
}

fn main() {}
