use cache_core::ttl_cached;

#[ttl_cached(ttl = "1M")]
fn monthly(key: u32) -> u32 {
    key
}

#[ttl_cached(ttl = "1 year")]
fn yearly(key: u32) -> u32 {
    key
}

fn main() {}
