//! `id = *v` is a tracing field; the message "expiring {id}" still captures the variable
//! `id`, the parameter (tracing's fields are no format arguments). Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    tracing::debug!(id = *v, "expiring {id}");
    Some(Duration::from_secs(*v))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
