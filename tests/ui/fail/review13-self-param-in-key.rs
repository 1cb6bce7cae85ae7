//! A `Self` parameter that is part of the key: the static cannot name `Self`; the message
//! says how to leave the parameter out.
use cache_core::ttl_cached;

#[derive(Clone, Hash, PartialEq, Eq)]
pub struct Tenant {
    pub id: u32,
}

impl Tenant {
    #[ttl_cached(ttl = "1h")]
    pub fn label(tenant: &Self) -> String {
        tenant.id.to_string()
    }
}

fn main() {}
