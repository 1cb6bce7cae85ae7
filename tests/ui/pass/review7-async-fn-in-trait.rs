//! Native `async fn` in a trait (Rust 1.75+): the implementation's associated `async fn`
//! memoized, called through the trait and through a generic function.
use cache_core::ttl_cached;

pub trait Directory {
    fn lookup(id: u32) -> impl std::future::Future<Output = String> + Send;
    async fn plain(id: u32) -> u32;
}

pub struct Ldap;

impl Directory for Ldap {
    #[ttl_cached(ttl = "1h")]
    async fn lookup(id: u32) -> String {
        format!("user{id}")
    }

    #[ttl_cached(ttl = "1h")]
    async fn plain(id: u32) -> u32 {
        id + 1
    }
}

async fn via<D: Directory>(id: u32) -> String {
    D::lookup(id).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(via::<Ldap>(3)), "user3");
    assert_eq!(rt.block_on(Ldap::plain(3)), 4);
    fn is_send<T: Send>(_: &T) {}
    is_send(&Ldap::lookup(1));
}
