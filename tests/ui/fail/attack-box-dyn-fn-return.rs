use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn adder(n: u32) -> Box<dyn Fn(u32) -> u32 + Send + Sync> {
    Box::new(move |x| x + n)
}

fn main() {}
