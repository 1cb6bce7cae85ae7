//! `"{{{id}}}"` is a literal `{`, then the argument `id`, then `}`: `expire_after` reads the
//! parameter `id` (the first caller's, for good). Must be rejected like `"{id}"`.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &u64, _: &u64| {
    Some(Duration::from_secs(format!("{{{id}}}").len() as u64))
})]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
