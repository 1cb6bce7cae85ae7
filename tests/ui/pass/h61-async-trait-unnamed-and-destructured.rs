//! `_` and destructuring parameters of an `#[async_trait]` method: `#[async_trait]` (expanded
//! first) names them `__arg0`, ... and destructures in the body, so the attribute sees named
//! parameters and keys by the whole arguments, as `_name: u32` and `pair: (u32, u32)` would
//! (in a plain `async fn` both are errors that ask for those names).
use async_trait::async_trait;
use cache_core::ttl_cached;
use std::sync::atomic::{AtomicU32, Ordering};

static RUNS: AtomicU32 = AtomicU32::new(0);

#[async_trait]
pub trait Lookup {
    async fn unnamed(_: u32, key: u32) -> u32;
    async fn pair((a, b): (u32, u32)) -> u32;
}

pub struct Db;

#[async_trait]
impl Lookup for Db {
    #[ttl_cached(ttl = "1h")]
    async fn unnamed(_: u32, key: u32) -> u32 {
        RUNS.fetch_add(1, Ordering::Relaxed);
        key
    }

    #[ttl_cached(ttl = "1h")]
    async fn pair((a, b): (u32, u32)) -> u32 {
        RUNS.fetch_add(1, Ordering::Relaxed);
        a * 10 + b
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

fn main() {
    assert_eq!(block_on(Db::unnamed(1, 5)), 5);
    assert_eq!(block_on(Db::unnamed(1, 5)), 5);
    assert_eq!(RUNS.load(Ordering::Relaxed), 1);
    // The unnamed argument is part of the key.
    assert_eq!(block_on(Db::unnamed(2, 5)), 5);
    assert_eq!(RUNS.load(Ordering::Relaxed), 2);
    assert_eq!(block_on(Db::pair((1, 2))), 12);
    assert_eq!(block_on(Db::pair((1, 2))), 12);
    assert_eq!(block_on(Db::pair((2, 1))), 21);
    assert_eq!(RUNS.load(Ordering::Relaxed), 4);
}
