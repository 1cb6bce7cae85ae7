//! A helper `fn` inside the option's block has a parameter named `id`; after it, the block
//! reads the function's parameter `id`, which the first call fixes for good. Must be
//! rejected (the helper's parameter binds only in the helper).
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    fn double(id: u64) -> u64 {
        id * 2
    }
    Some(Duration::from_secs(double(id) + *v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
