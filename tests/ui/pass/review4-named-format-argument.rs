//! `{tenant}` bound by the format macro's own named argument (`tenant = c.owner`), in
//! `expire_after`: no parameter is read. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Conn {
    pub owner: String,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &String, c: &Conn| {
    let shown = format!("conn of {tenant}", tenant = c.owner);
    (!shown.is_empty()).then_some(Duration::from_secs(60))
})]
fn connect(tenant: &str) -> Conn {
    Conn { owner: tenant.to_owned() }
}

fn main() {
    assert_eq!(connect("a").owner, "a");
}
