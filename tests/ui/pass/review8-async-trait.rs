//! Methods of `#[async_trait]` traits and impls: `#[async_trait]` expands first and boxes
//! each `async fn`'s future; the attribute memoizes that future. (The shape of the code
//! index's onion messenger: `async fn get_or_create(onion_addr: &str) -> Result<..>` in an
//! `#[async_trait] impl ClientManager`.)
#![deny(warnings)]
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use cache_core::ttl_cached;

static BUILDS: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Debug, PartialEq)]
pub struct MessagingClient(String);

#[async_trait]
pub trait ClientManager {
    async fn get_or_create(onion_addr: &str, port: u16) -> anyhow::Result<MessagingClient>;

    /// A default method is memoized too.
    #[ttl_cached(ttl = "1h")]
    async fn default_client(id: u32) -> String {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        format!("client{id}")
    }
}

pub struct Onion;

#[async_trait]
impl ClientManager for Onion {
    #[ttl_cached(ttl = "1h", capacity = 100)]
    async fn get_or_create(onion_addr: &str, port: u16) -> anyhow::Result<MessagingClient> {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        anyhow::ensure!(port != 0, "no port");
        Ok(MessagingClient(format!("{onion_addr}:{port}")))
    }
}

#[async_trait(?Send)]
pub trait Local {
    async fn warm(id: u32);
}

#[async_trait(?Send)]
impl Local for Onion {
    #[ttl_cached(ttl = "1h", key: u32 = id / 10)]
    async fn warm(id: u32) {
        let _ = id;
        BUILDS.fetch_add(1, Ordering::SeqCst);
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn assert_send<T: Send>(_: &T) {}

fn builds() -> u32 {
    BUILDS.load(Ordering::SeqCst)
}

fn main() {
    let first = Onion::get_or_create("abc.onion", 80);
    assert_send(&first);
    assert_eq!(block_on(first).unwrap(), MessagingClient("abc.onion:80".into()));
    assert_eq!(block_on(Onion::get_or_create("abc.onion", 80)).unwrap().0, "abc.onion:80");
    assert_eq!(builds(), 1);
    // An `Err` is not cached.
    assert!(block_on(Onion::get_or_create("abc.onion", 0)).is_err());
    assert!(block_on(Onion::get_or_create("abc.onion", 0)).is_err());
    assert_eq!(builds(), 3);
    assert_eq!(block_on(Onion::default_client(7)), "client7");
    assert_eq!(block_on(Onion::default_client(7)), "client7");
    assert_eq!(builds(), 4);
    block_on(Onion::warm(11));
    block_on(Onion::warm(12));
    assert_eq!(builds(), 5);
}
