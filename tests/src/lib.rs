//! Helpers shared by the integration tests.

/// Real `redis-server` processes (standalone and cluster) that a test starts and stops itself.
pub mod redis_server;

/// What the fleet tier's tests share: the worker processes' settings, polling, taps on Redis.
pub mod fleet;

/// An eviction listener that records what it hears.
pub mod heard;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// How long a test waits for other threads to reach a point before it fails: far longer than
/// they need, so it only ends a test that would otherwise hang.
const PATIENCE: Duration = Duration::from_secs(20);

/// Spins (yielding) until `done` holds; panics naming `what` if it never does.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting until {what}");
        std::thread::yield_now();
    }
}

/// The async form of [`wait_until`]: yields to the executor between checks.
pub async fn wait_until_async(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting until {what}");
        tokio::task::yield_now().await;
    }
}

/// A multi-threaded Tokio runtime with 2 workers, like the machine's 2 cores: few enough that
/// a waiter blocking its thread would starve the others.
pub fn two_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    let text = panic.downcast_ref::<String>().map(String::as_str);
    text.or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default()
}

/// Asserts that `result` is the panic of a re-entrant call (a constructor asking for its own
/// key), not a value and not another panic.
pub fn assert_reentry<T>(result: std::thread::Result<T>) {
    let panic = result.err().expect("a re-entrant call panics");
    let message = panic_message(&*panic);
    assert!(
        message.contains("re-entrant call for the same key"),
        "{message}"
    );
}

/// Polls `future` on this thread, with no executor around it (no Tokio context, no drivers:
/// a hand-rolled `block_on`), for about `how_long`: its output if it finished by then.
pub fn poll_for<F: Future + ?Sized>(
    mut future: Pin<&mut F>,
    how_long: Duration,
) -> Option<F::Output> {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let start = Instant::now();
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        let left = how_long.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left.min(Duration::from_millis(10)));
    }
}
