//! `#[ttl_cached]` in a crate of edition 2018 or 2021 (this file is each one's `lib.rs` module).
//! The attribute's own tokens are of its crate's edition (2024), the user's keep theirs: what
//! an edition decides about the user's code (here, when a body's tail temporaries drop) must
//! not change under the attribute.
#![cfg(test)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{ttl_cached, ManualClock};

static RUNS: AtomicUsize = AtomicUsize::new(0);

fn ran() -> usize {
    RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = Box::pin(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Drops in order of their names into `DROPS`.
struct Noisy(&'static str);

static DROPS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

impl Drop for Noisy {
    fn drop(&mut self) {
        DROPS.lock().unwrap().push(self.0);
    }
}

impl Noisy {
    fn len(&self) -> usize {
        self.0.len()
    }
}

fn drops() -> Vec<&'static str> {
    std::mem::take(&mut *DROPS.lock().unwrap())
}

async fn plain_async(n: u32) -> usize {
    let _local = Noisy("local");
    Noisy("temporary").len() + n as usize
}

#[ttl_cached(ttl = "1h")]
async fn cached_async(n: u32) -> usize {
    let _local = Noisy("local");
    Noisy("temporary").len() + n as usize
}

fn plain_sync(n: u32) -> usize {
    let _local = Noisy("local");
    Noisy("temporary").len() + n as usize
}

#[ttl_cached(ttl = "1h")]
fn cached_sync(n: u32) -> usize {
    let _local = Noisy("local");
    Noisy("temporary").len() + n as usize
}

/// Before 2024 a tail temporary drops after the locals; under the attribute an async body's
/// dropped before them (2024's order, its braces were the attribute's).
#[test]
fn a_body_drops_its_tail_temporaries_as_its_edition_says() {
    drops();
    assert_eq!(plain_sync(1), 10);
    let plain = drops();
    assert_eq!(plain, ["local", "temporary"]);
    assert_eq!(cached_sync(1), 10);
    assert_eq!(drops(), plain, "sync");
    assert_eq!(block_on(plain_async(1)), 10);
    assert_eq!(drops(), plain);
    assert_eq!(block_on(cached_async(1)), 10);
    assert_eq!(drops(), plain, "async");
}

static COUNT: Mutex<u32> = Mutex::new(0);

/// Takes `COUNT` when dropped.
struct Bump;

impl Drop for Bump {
    fn drop(&mut self) {
        *COUNT.lock().unwrap() += 1;
    }
}

impl Bump {
    fn get(&self, n: u32) -> u32 {
        n
    }
}

/// Sound before 2024: `Bump` drops after the guard. In 2024's order it drops under the guard
/// and waits for itself.
#[ttl_cached(ttl = "1h")]
async fn under_a_guard(n: u32) -> u32 {
    let count = COUNT.lock().unwrap();
    *count + Bump.get(n)
}

#[test]
fn a_tail_temporary_does_not_drop_under_a_local_guard() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(block_on(under_a_guard(1))));
    let out = finished.recv_timeout(Duration::from_secs(20));
    assert_eq!(out, Ok(1), "the body deadlocked on its own guard");
    assert_eq!(*COUNT.lock().unwrap(), 1);
}

#[derive(Clone, Debug, PartialEq)]
struct MyErr(String);
type Res<T> = Result<T, MyErr>;

#[ttl_cached(ttl = "1h")]
fn keys(a: &str, b: &[u8], c: &Path, d: Option<&str>, e: u32) -> String {
    ran();
    format!("{}{:?}{}{:?}{}", a, b, c.display(), d, e)
}

#[ttl_cached(ttl = "1h", key: String = format!("{}:{}", host, port))]
fn custom_key(host: &str, port: u16, _attempt: u32) -> String {
    ran();
    format!("{}:{}", host, port)
}

#[ttl_cached(ttl = "1h")]
fn fallible(n: u32) -> Res<u32> {
    ran();
    if n == 0 {
        return Err(MyErr("zero".into()));
    }
    Ok(n)
}

#[ttl_cached(ttl = "1h")]
async fn fallible_async(n: u32) -> Result<Arc<dyn std::fmt::Debug + Send + Sync>, MyErr> {
    ran();
    let parsed: u32 = "2".parse().map_err(|_| MyErr("parse".into()))?;
    if n == 0 {
        return Err(MyErr("zero".into()));
    }
    Ok(Arc::new(n + parsed))
}

#[ttl_cached(ttl = "1h")]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

fn clock() -> ManualClock {
    static CLOCK: std::sync::OnceLock<ManualClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(ManualClock::new).clone()
}

#[ttl_cached(ttl = "10s", clock = clock(), capacity = 8, refresh_after = "5s", stale_if_error = "1m", cache = clocked_cache)]
fn clocked(gen: u32) -> Option<usize> {
    let _ = gen;
    Some(ran())
}

struct Service;

impl Service {
    #[ttl_cached(ttl = "1h", cache = Self::clients)]
    fn client(tenant: &str) -> PathBuf {
        ran();
        Path::new(tenant).join("client")
    }
}

trait Named {
    const NAME: &'static str;

    #[ttl_cached(ttl = "1h")]
    fn label(id: u32) -> String {
        format!("{}#{}", Self::NAME, id)
    }
}

struct A;

impl Named for A {
    const NAME: &'static str = "a";
}

#[test]
fn shapes_memoize() {
    let runs = || RUNS.load(Ordering::SeqCst);
    let before = runs();
    for _ in 0..2 {
        assert_eq!(keys("a", b"b", Path::new("c"), Some("d"), 1), "a[98]cSome(\"d\")1");
        assert_eq!(custom_key("h", 1, 0), "h:1");
        assert_eq!(fallible(0), Err(MyErr("zero".into())));
        assert_eq!(fallible(1), Ok(1));
        assert!(block_on(fallible_async(0)).is_err());
        assert_eq!(format!("{:?}", block_on(fallible_async(1)).unwrap()), "3");
        assert_eq!(Service::client("t"), Path::new("t/client"));
        assert_eq!(A::label(1), "a#1");
    }
    assert_eq!(custom_key("h", 1, 1), "h:1");
    // Once each, and every call of the failing ones.
    assert_eq!(runs() - before, 9);
    assert_eq!(Service::clients().len(), 1);
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    let first = clocked(1);
    assert_eq!(clocked(1), first);
    clock().advance(Duration::from_secs(11));
    assert_ne!(clocked(1), first);
    assert_eq!(clocked_cache().stats().misses, 2);
}
