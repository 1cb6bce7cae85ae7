use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", name = "a", name = "b")]
fn f(x: u32) -> u32 {
    x
}

fn main() {
    f(1);
}
