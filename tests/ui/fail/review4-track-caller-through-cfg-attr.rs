//! `#[track_caller]` through `cfg_attr`: as misleading as the bare attribute. Must be rejected.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
#[cfg_attr(all(), track_caller)]
fn plan(tenant: &str) -> String {
    tenant.to_uppercase()
}

fn main() {
    assert_eq!(plan("a"), "A");
}
