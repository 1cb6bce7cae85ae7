use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
pub unsafe extern "C" fn sum(n: u32, mut args: ...) -> u32 {
    n
}

fn main() {}
