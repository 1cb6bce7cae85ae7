use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn forever(key: u32) -> ! {
    let _ = key;
    loop {}
}

fn main() {}
