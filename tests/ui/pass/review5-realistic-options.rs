//! Realistic options that read no parameter: a closure over the value's field, a name made
//! by `concat!`, struct literals, `matches!`, `vec!`, nested closures, tracing fields, a
//! format string with a named argument. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Token {
    pub tenant: String,
    pub expires_in: Duration,
    pub kind: Kind,
}

#[derive(Clone, PartialEq)]
pub enum Kind {
    Tenant { tenant: u32 },
    Service,
}

struct Limits {
    tenant: usize,
}

#[ttl_cached(
    ttl = "1h",
    name = concat!(module_path!(), "::token"),
    capacity = Limits { tenant: 64 }.tenant,
    expire_after = |tenant: &String, v: &Token| {
        tracing::debug!(tenant = %tenant, kind = ?matches!(v.kind, Kind::Service), "expiry");
        let tenants = vec![v.tenant.clone()];
        let short = tenants.iter().map(|tenant| tenant.len()).any(|n| n == 0);
        let _ = format!("{tenant}:{n}", n = tenants.len());
        if short || matches!(v.kind, Kind::Tenant { tenant: 0 }) {
            None
        } else {
            Some(v.expires_in)
        }
    },
)]
fn token(tenant: &str) -> Token {
    Token {
        tenant: tenant.to_owned(),
        expires_in: Duration::from_secs(60),
        kind: Kind::Tenant { tenant: 1 },
    }
}

fn main() {
    assert_eq!(token("a").tenant, "a");
}
