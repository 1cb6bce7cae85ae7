//! An inner closure's parameter `id` is bound in its own body only; the `format!` after it
//! reads the function's parameter `id`. Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    let double = |id: u64| id * 2;
    Some(Duration::from_secs(double(*v) + format!("{id}").len() as u64))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
