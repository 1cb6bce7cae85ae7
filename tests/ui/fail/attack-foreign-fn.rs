use cache_core::ttl_cached;

unsafe extern "C" {
    #[ttl_cached(ttl = "1h")]
    safe fn abs(x: i32) -> i32;
}

fn main() {}
