//! `name` read from a parameter through `format!`: the first call's tenant would name the map
//! for good. One error, at the parameter inside the format string.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", name = Box::leak(format!("tenant-{tenant}").into_boxed_str()))]
fn plan(tenant: &str) -> String {
    tenant.to_owned()
}

fn main() {
    let _ = plan("a");
}
