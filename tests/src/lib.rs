//! Helpers shared by the integration tests.

/// Real `redis-server` processes (standalone and cluster) that a test starts and stops itself.
pub mod redis_server;

/// What the fleet tier's tests share: the worker processes' settings, polling, taps on Redis.
pub mod fleet;

/// An eviction listener that records what it hears.
pub mod heard;

/// A global allocator that counts each thread's bytes, for tests of what the heap keeps.
pub mod counting;

/// Caffeine's test population (keys 1..=10, values -k), for the ports of its suites.
pub mod caffeine;

/// A hasher that places `u64` keys in chosen shards.
pub mod shards;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Every counter of `map.stats()`, in the order `[hits, misses, inserts, expirations,
/// evictions, coalesced, refreshes, refresh_failures, stale_served]`, for exact comparison.
pub fn counts<K, V, S>(map: &cache_core::TtlMap<K, V, S>) -> [u64; 9] {
    let s = map.stats();
    [
        s.hits,
        s.misses,
        s.inserts,
        s.expirations,
        s.evictions,
        s.coalesced,
        s.refreshes,
        s.refresh_failures,
        s.stale_served,
    ]
}

/// Runs `future` to its end on this thread, polling with a waker that does nothing: for
/// futures that never wait on another thread (a map's async forms with no other caller).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// How long a test waits for other threads to reach a point before it fails: far longer than
/// they need, so it only ends a test that would otherwise hang.
const PATIENCE: Duration = Duration::from_secs(20);

/// Spins (yielding) until `done` holds; panics naming `what` if it never does.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
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

/// Silences the default panic hook, for the rest of the test binary, for the panics its tests
/// provoke on purpose: a message starting "boom", or a payload that `also` recognises (the
/// first call's `also` holds). Other panics print as usual.
pub fn quiet_panics(also: fn(&(dyn std::any::Any + Send)) -> bool) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            if !(panic_message(payload).starts_with("boom") || also(payload)) {
                default(info);
            }
        }));
    });
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

/// Runs `scenario` on its own thread; fails if it does not finish within `patience` (a
/// deadlock), and passes its panic on.
pub fn within<T: Send + 'static>(
    patience: Duration,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(patience) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("deadlock: the scenario did not finish within {patience:?}"),
    }
}

/// Runs `name` (the calling test itself, by its exact name) in a child process where
/// `scenario` runs: the test fails if the scenario fails there or the child dies (an abort).
/// For scenarios that may kill a process-wide thread (the sweeper) or abort the process.
pub fn in_own_process(name: &str, scenario: impl FnOnce()) {
    const CHILD: &str = "TESTS_OWN_PROCESS";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        scenario();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the scenario failed in its process ({:?}):\n{}",
        out.status,
        &err[err.len().saturating_sub(2000)..]
    );
}

/// Runs `scenario` in a child process (the calling test binary, filtered to the test `name`):
/// the process must not abort. The child prints `survived` once the scenario is over,
/// whether it panicked or not.
pub fn in_child(name: &str, scenario: impl FnOnce()) {
    const CHILD: &str = "TESTS_IN_CHILD";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario));
        println!("survived");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("survived"),
        "the process aborted: {:?}\n{stderr}",
        output.status
    );
}

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountingWaker(std::sync::atomic::AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A hand-driven future: polled one step at a time with its own waker, as a task of its own.
pub struct Driven<F: Future> {
    future: Pin<Box<F>>,
    waker: Arc<CountingWaker>,
}

impl<F: Future> Driven<F> {
    /// `future`, not polled yet.
    pub fn new(future: F) -> Self {
        Driven {
            future: Box::pin(future),
            waker: Arc::default(),
        }
    }

    /// Polls it once.
    pub fn poll(&mut self) -> Poll<F::Output> {
        let waker = Waker::from(Arc::clone(&self.waker));
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }

    /// Its waker, weakly: whether anything but this holds it still.
    pub fn weak_waker(&self) -> std::sync::Weak<CountingWaker> {
        Arc::downgrade(&self.waker)
    }

    /// How many times its waker was woken.
    pub fn wakes(&self) -> usize {
        self.waker.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Polls, expecting it to be pending.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected pending");
    }

    /// Polls, expecting its output.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("expected ready"),
        }
    }
}

/// The map of the memoized function named `name` (its `name` option or its path), as
/// `cache_core::caches()` lists it once the function has been called.
pub fn cache_named(name: &str) -> cache_core::Cache {
    let found = cache_core::caches().into_iter().find(|c| c.name() == name);
    found.expect("the function's map is listed by its name")
}

/// The clock in `cell`, made by the first caller: a test and the memoized functions it
/// defines (whose `clock = ...` option is evaluated once) share it.
pub fn shared_clock(
    cell: &std::sync::Mutex<Option<cache_core::ManualClock>>,
) -> cache_core::ManualClock {
    let mut clock = cell
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    clock
        .get_or_insert_with(cache_core::ManualClock::new)
        .clone()
}
