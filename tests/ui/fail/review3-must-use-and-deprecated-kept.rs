//! `#[must_use]` and `#[deprecated]` stay on the function: each still warns its callers
//! (denied here, so each is one error at the call).
#![deny(unused_must_use, deprecated)]
use cache_core::ttl_cached;

#[must_use]
#[ttl_cached(ttl = "1h")]
fn token(tenant: &str) -> String {
    tenant.to_owned()
}

#[ttl_cached(ttl = "1h")]
#[deprecated(note = "use `token`")]
fn old_token(tenant: &str) -> String {
    tenant.to_owned()
}

fn main() {
    token("a");
    let _ = old_token("a");
}
