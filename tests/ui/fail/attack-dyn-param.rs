use std::fmt::Display;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn show(value: &dyn Display) -> String {
    value.to_string()
}

fn main() {}
