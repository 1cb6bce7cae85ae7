use cache_core::ttl_cached;

pub struct Service;

#[ttl_cached(ttl = "1h")]
impl Service {
    pub fn get(key: u32) -> u32 {
        key
    }
}

fn main() {}
