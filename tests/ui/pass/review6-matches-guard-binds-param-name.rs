//! `matches!` with a guard: its pattern binds `tenant` (shorthand field) and the guard reads
//! that binding, not the parameter. Valid code (the closure is `move` of nothing).
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub enum Kind {
    Tenant { tenant: u32 },
    Service,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &u32, v: &Kind| {
    if matches!(v, Kind::Tenant { tenant } if *tenant > 10) {
        Some(Duration::from_secs(1))
    } else {
        None
    }
})]
fn kind(tenant: u32) -> Kind {
    if tenant == 0 { Kind::Service } else { Kind::Tenant { tenant } }
}

fn main() {
    assert!(matches!(kind(1), Kind::Tenant { tenant: 1 }));
}
