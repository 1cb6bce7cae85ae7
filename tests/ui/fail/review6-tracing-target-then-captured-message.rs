//! `target: "cache"` makes the arguments no expressions (read as tokens); the first string
//! literal is then the target, and the message "expiring {id}" captures the parameter `id`
//! unseen. Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    tracing::debug!(target: "cache", "expiring {id}");
    Some(Duration::from_secs(*v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
