//! A closure inside a macro binds `tenant` for itself: no read of the parameter. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Conn {
    pub tenants: Vec<String>,
    pub ttl: Duration,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &String, c: &Conn| {
    debug_assert!(c.tenants.iter().all(|tenant| !tenant.is_empty()));
    Some(c.ttl)
})]
fn connect(tenant: &str) -> Conn {
    Conn { tenants: vec![tenant.to_owned()], ttl: Duration::from_secs(60) }
}

fn main() {
    assert_eq!(connect("a").tenants, ["a"]);
}
