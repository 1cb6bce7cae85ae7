// Misuse in a method of an `#[async_trait]` impl, which `#[async_trait]` has rewritten by
// the time the attribute sees it: still one error each, on the user's tokens.
use async_trait::async_trait;
use cache_core::ttl_cached;

pub struct NotClone;

#[derive(Clone)]
pub struct NoHash;

#[async_trait]
pub trait Manager {
    async fn by_self(&self, k: u32) -> u32;
    async fn value(k: u32) -> NotClone;
    async fn key(k: NoHash) -> u32;
}

pub struct Onion;

#[async_trait]
impl Manager for Onion {
    #[ttl_cached(ttl = "1h")]
    async fn by_self(&self, k: u32) -> u32 {
        k
    }

    #[ttl_cached(ttl = "1h")]
    async fn value(k: u32) -> NotClone {
        let _ = k;
        NotClone
    }

    #[ttl_cached(ttl = "1h")]
    async fn key(k: NoHash) -> u32 {
        let _ = k;
        1
    }
}

fn main() {}
