//! `assert_ne!`'s second operand is a string literal; the format string is the third
//! argument, and its "{id}" captures the parameter `id`. Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    assert_ne!(v.to_string(), "0", "plan {id} has no value");
    Some(Duration::from_secs(*v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
