//! `assert_eq!` against a string literal holding braces (a URL template): that literal is an
//! operand, not the format string, and reads nothing. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

const TEMPLATE: &str = "/tenants/{tenant}";

#[ttl_cached(ttl = "1h", expire_after = |_: &String, v: &String| {
    debug_assert_eq!(TEMPLATE, "/tenants/{tenant}");
    Some(Duration::from_secs(v.len() as u64))
})]
fn path(tenant: &str) -> String {
    TEMPLATE.replace("{tenant}", tenant)
}

fn main() {
    assert_eq!(path("a"), "/tenants/a");
}
