//! A field named like a parameter, read inside a macro in `expire_after`: `c.tenant` is the
//! value's field, not the parameter `tenant`. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Conn {
    pub tenant: String,
    pub ttl: Duration,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &String, c: &Conn| {
    debug_assert!(!c.tenant.is_empty());
    Some(c.ttl)
})]
fn connect(tenant: &str) -> Conn {
    Conn { tenant: tenant.to_owned(), ttl: Duration::from_secs(60) }
}

fn main() {
    assert_eq!(connect("a").tenant, "a");
}
