use cache_core::ttl_cached;

pub trait Lookup {
    fn find(key: u32) -> u32;
}

pub struct Db;

impl Lookup for Db {
    #[ttl_cached(ttl = "1h", cache = Self::found)]
    fn find(key: u32) -> u32 {
        key
    }
}

fn main() {}
