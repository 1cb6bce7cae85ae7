//! `#[async_trait]` methods, adversarially (helper-52): a hit allocates only the box the
//! signature returns; a handle of a `where Self: Sized` default method keeps the trait
//! dyn-compatible; `_` and destructured parameters with a custom key that does not read them;
//! a function written by hand in `#[async_trait]`'s shape (an early `return`, branches of two
//! future types) runs its body on a miss only; `#[instrument]` above and below.
#![deny(warnings)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use async_trait::async_trait;
use cache_core::ttl_cached;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

static BUILDS: AtomicU32 = AtomicU32::new(0);
static CALLS: AtomicU32 = AtomicU32::new(0);

#[async_trait]
pub trait Manager: Send + Sync {
    async fn client(&self, addr: &str) -> String;

    /// Kept off trait objects, and so is its handle: `dyn Manager` still works.
    #[ttl_cached(ttl = "1h", cache = Self::make_cache)]
    async fn make(addr: &str) -> String
    where
        Self: Sized,
    {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        addr.to_uppercase()
    }
}

pub struct Onion;

#[async_trait]
impl Manager for Onion {
    async fn client(&self, addr: &str) -> String {
        Self::make(addr).await
    }
}

#[async_trait]
pub trait Shapes {
    async fn ignored(_: u32, id: u32) -> u32;
    async fn pair((a, b): (u32, u32), id: u32) -> u32;
    async fn above(k: &str) -> String;
    async fn below(k: &str) -> String;
}

#[async_trait]
impl Shapes for Onion {
    #[ttl_cached(ttl = "1h", key: u32 = id)]
    async fn ignored(_: u32, id: u32) -> u32 {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[ttl_cached(ttl = "1h", key: u32 = id)]
    async fn pair((a, b): (u32, u32), id: u32) -> u32 {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        a + b + id
    }

    #[ttl_cached(ttl = "1h")]
    #[tracing::instrument]
    async fn above(k: &str) -> String {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        k.to_uppercase()
    }

    #[tracing::instrument]
    #[ttl_cached(ttl = "1h")]
    async fn below(k: &str) -> String {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        k.to_lowercase()
    }
}

/// Written by hand in `#[async_trait]`'s shape: the whole body is the constructor.
#[ttl_cached(ttl = "1h")]
pub fn by_hand<'async_trait>(
    k: &'async_trait str,
) -> Pin<Box<dyn Future<Output = usize> + Send + 'async_trait>> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Box::pin(async move { k.len() })
}

/// By hand, with an early `return` and branches of two future types: each coerces to the
/// declared type, as in the function it was.
#[ttl_cached(ttl = "1h")]
pub fn by_hand_early<'async_trait>(
    k: &'async_trait str,
) -> Pin<Box<dyn Future<Output = usize> + Send + 'async_trait>> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    if k.is_empty() {
        return Box::pin(async { 0 });
    }
    if k.len() > 3 {
        Box::pin(async move { k.len() })
    } else {
        Box::pin(async { 3 })
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn builds() -> u32 {
    BUILDS.load(Ordering::SeqCst)
}

fn main() {
    let manager: Arc<dyn Manager> = Arc::new(Onion);
    assert_eq!(block_on(manager.client("abc")), "ABC");
    assert_eq!(block_on(manager.client("abc")), "ABC");
    assert_eq!(builds(), 1);
    assert_eq!(Onion::make_cache().len(), 1);

    assert_eq!(block_on(Onion::ignored(1, 7)), 7);
    assert_eq!(block_on(Onion::ignored(2, 7)), 7);
    // A hit allocates the one box the signature returns, and nothing more: the body's own
    // `Box::pin` (`#[async_trait]`'s) is not made before the lookup.
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(block_on(Onion::ignored(3, 7)), 7);
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 100);
    assert_eq!(block_on(Onion::pair((1, 2), 7)), 10);
    assert_eq!(block_on(Onion::pair((5, 5), 7)), 10);
    assert_eq!(builds(), 3);
    for _ in 0..2 {
        assert_eq!(block_on(Onion::above("aB")), "AB");
        assert_eq!(block_on(Onion::below("aB")), "ab");
    }
    assert_eq!(builds(), 5);

    assert_eq!(block_on(by_hand("abcd")), 4);
    assert_eq!(block_on(by_hand("abcd")), 4);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    for _ in 0..2 {
        assert_eq!(block_on(by_hand_early("")), 0);
        assert_eq!(block_on(by_hand_early("ab")), 3);
        assert_eq!(block_on(by_hand_early("abcde")), 5);
    }
    assert_eq!(CALLS.load(Ordering::SeqCst), 4);
}
