//! `stringify!(tenant)` in `name` spells the word, it does not read the parameter. Valid code.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", name = concat!("plans_by_", stringify!(tenant)))]
fn plan(tenant: &str) -> String {
    tenant.to_uppercase()
}

fn main() {
    assert_eq!(plan("a"), "A");
    assert!(cache_core::caches().iter().any(|c| c.name() == "plans_by_tenant"));
}
