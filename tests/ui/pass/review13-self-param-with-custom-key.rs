//! A `Self` parameter left out of the key by `key: Type = expr`, in an `impl` and in a trait's
//! default method: the static never names it.
use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Tenant {
    pub id: u32,
}

impl Tenant {
    #[ttl_cached(ttl = "1h", key: u32 = tenant.id)]
    pub fn label(tenant: &Self) -> String {
        tenant.id.to_string()
    }
}

pub trait Labelled: Sized {
    fn id(&self) -> u32;

    #[ttl_cached(ttl = "1h", key: u32 = item.id())]
    fn label_of(item: &Self) -> String {
        item.id().to_string()
    }
}

impl Labelled for Tenant {
    fn id(&self) -> u32 {
        self.id
    }
}

fn main() {
    assert_eq!(Tenant::label(&Tenant { id: 3 }), "3");
    assert_eq!(<Tenant as Labelled>::label_of(&Tenant { id: 4 }), "4");
}
