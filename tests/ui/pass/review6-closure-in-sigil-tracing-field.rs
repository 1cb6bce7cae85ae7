//! A tracing field with a sigil (`?`), whose value maps with a closure whose parameter is
//! named like the function's: the closure's own binding, no read of the parameter. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = |_: &String, v: &Vec<String>| {
    tracing::debug!(lens = ?v.iter().map(|tenant| tenant.len()).collect::<Vec<_>>(), "expiry");
    Some(Duration::from_secs(v.len() as u64))
})]
fn tenants(tenant: &str) -> Vec<String> {
    vec![tenant.to_owned()]
}

fn main() {
    assert_eq!(tenants("a").len(), 1);
}
