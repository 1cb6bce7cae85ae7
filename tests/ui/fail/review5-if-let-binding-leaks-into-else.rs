//! `if let Some(id)` binds `id` in its then-branch only: the `else` reads the parameter.
//! Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    let secs = if let Some(id) = v.checked_sub(1) { id } else { id };
    Some(Duration::from_secs(secs))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
