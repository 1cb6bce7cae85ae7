//! A sigil field (`?v`) makes tracing's arguments tokens; a string-valued field before the
//! message is then taken for the format string, and "expiring {id}" captures the parameter
//! `id` unseen. Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    tracing::debug!(kind = "plan", ?v, "expiring {id}");
    Some(Duration::from_secs(*v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
