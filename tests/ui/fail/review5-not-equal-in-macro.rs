//! `id != 0` inside a macro reads the parameter `id` (no macro named `id`): rejected like
//! `id == 0`.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    debug_assert!(id != 0);
    Some(Duration::from_secs(*v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
