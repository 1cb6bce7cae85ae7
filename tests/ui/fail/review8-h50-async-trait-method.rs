// The code index's onion messenger: `#[async_trait] impl ClientManager for MessagingClient {
// async fn get_or_create(onion_addr: &str) -> Result<MessagingClient> }`, memoized in place.
// `#[async_trait]` rewrites the method first; one error at its name says what to do instead
// (ui/pass/review8-h50-user-shapes.rs, `async_trait_calls_inherent_cached_fn`, does it).
use async_trait::async_trait;
use cache_core::ttl_cached;

#[derive(Clone)]
pub struct MessagingClient;

#[async_trait]
pub trait ClientManager {
    async fn get_or_create(onion_addr: &str) -> anyhow::Result<MessagingClient>;

    #[ttl_cached(ttl = "1h")]
    async fn default_client(id: u32) -> String {
        format!("client{id}")
    }
}

#[async_trait]
impl ClientManager for MessagingClient {
    #[ttl_cached(ttl = "1h")]
    async fn get_or_create(onion_addr: &str) -> anyhow::Result<MessagingClient> {
        let _ = onion_addr;
        Ok(MessagingClient)
    }
}

fn main() {}
