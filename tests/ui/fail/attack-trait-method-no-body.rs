use cache_core::ttl_cached;

pub trait Loader {
    #[ttl_cached(ttl = "1h")]
    fn load(key: u32) -> u32;
}

fn main() {}
