//! `for id in ..` binds `id` in the loop's body only: the read after the loop is the
//! parameter. Must be rejected.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, v: &u64| {
    let mut secs = *v;
    for id in 0..2u64 {
        secs += id;
    }
    Some(Duration::from_secs(secs + id))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
