use std::fmt::Display;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn show(n: u32) -> dyn Display {
    n
}

fn main() {}
