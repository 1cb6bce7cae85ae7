//! The locking protocol of memoization (commits cd9fdea, c68fa42): a miss joins or registers
//! its flight under the read lock of its lookup, and a landing, an insert, a remove, a clear, a
//! retain and a sweep take the shard's write lock alone. Attacks on it from an adversarial
//! review: user code that runs while a lock is held, listeners and constructors that use the
//! map in the same shard, async leaders on the caller's thread, counts and invalidation.
//!
//! Most maps here use [`OneShard`], a hasher that puts every key in the same shard, so that
//! each call contends for the one lock. Every scenario that could hang runs under [`within`],
//! which fails the test after a deadline instead.
use std::cell::RefCell;
use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap};
use tests::wait_until;

/// How long a scenario may take before it counts as hung: far longer than any needs.
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `scenario` on a thread of its own; fails if it does not finish by [`DEADLINE`] (a
/// deadlock: the thread is left behind), and passes its panic on if it panics.
fn within<T: Send + 'static>(what: &str, scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(scenario));
        let _ = tx.send(());
        result
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(()) => match handle.join().expect("caught") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(_) => panic!("deadlock: {what} did not finish within {DEADLINE:?}"),
    }
}

/// A hasher that keeps the top 32 bits of every hash 0, which is what picks a shard: every key
/// lands in shard 0.
#[derive(Clone, Default)]
struct OneShard;

struct LowBits(u64);

impl Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0 & 0xFFFF_FFFF
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl BuildHasher for OneShard {
    type Hasher = LowBits;
    fn build_hasher(&self) -> LowBits {
        LowBits(0xcbf2_9ce4_8422_2325)
    }
}

thread_local! {
    /// Run once by the next `Key` dropped on this thread, if set.
    static ON_KEY_DROP: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    /// Run once by the next `Key` cloned on this thread, if set.
    static ON_KEY_CLONE: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    /// Panic in the next `Key::eq` on this thread.
    static PANIC_KEY_EQ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Panic in the next `Key::clone` on this thread.
    static PANIC_KEY_CLONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A key whose `Drop`, `Clone` and `Eq` run hooks armed on the current thread.
#[derive(Debug)]
struct Key(u32);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        if PANIC_KEY_EQ.with(|p| p.replace(false)) {
            panic!("Key::eq");
        }
        self.0 == other.0
    }
}
impl Eq for Key {}

impl Clone for Key {
    fn clone(&self) -> Key {
        if PANIC_KEY_CLONE.with(|p| p.replace(false)) {
            panic!("Key::clone");
        }
        if let Some(hook) = ON_KEY_CLONE.with(|h| h.borrow_mut().take()) {
            hook();
        }
        Key(self.0)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if let Some(hook) = ON_KEY_DROP
            .try_with(|h| h.borrow_mut().take())
            .ok()
            .flatten()
        {
            hook();
        }
    }
}

fn one_shard_map() -> TtlMap<Key, u32, OneShard> {
    TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .hasher(OneShard)
        .build()
}

/// A key's `Drop` runs with no lock held (the crate docs): a flight whose key was invalidated
/// drops its owned key after it lands, so reading the map from that `Drop` does not wait for
/// the landing itself (it did, on the shard's write lock, in cd9fdea).
#[test]
fn a_key_dropped_by_the_landing_of_an_invalidated_flight_may_read_the_map() {
    let got = within("the landing of an invalidated flight", || {
        let map = one_shard_map();
        map.insert(Key(2), 20);
        let read = Arc::new(AtomicU64::new(0));
        let v = map.get_or_insert_with(&Key(1), || {
            map.remove(&Key(1)); // invalidates this very flight
            let (map, read) = (map.clone(), Arc::clone(&read));
            // Next key dropped on this thread: the flight's own, when it lands.
            ON_KEY_DROP.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    let seen = map.get(&Key(2)).unwrap_or(0) + map.len() as u32;
                    read.store(u64::from(seen), SeqCst);
                }))
            });
            1
        });
        assert_eq!(
            map.get(&Key(1)),
            None,
            "an invalidated flight stores nothing"
        );
        (v, read.load(SeqCst))
    });
    assert_eq!(got, (1, 21), "the Drop read the other key and the length");
}

/// A key's `Eq` that panics while a miss holds the read lock and the flights' mutex (comparing
/// it with a flight's key), and a key's `Clone` that panics making the flight's owned key: both
/// locks are let go, no flight is left registered without a leader, and the key's flight in
/// progress still lands for everyone.
#[test]
fn a_key_panicking_under_the_read_lock_and_the_flights_mutex_wedges_nothing() {
    within("calls after panics under the read lock", || {
        let map = one_shard_map();
        let (started, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let leader = {
            let (map, started, release) = (map.clone(), Arc::clone(&started), Arc::clone(&release));
            std::thread::spawn(move || {
                map.get_or_insert_with(&Key(1), || {
                    started.store(true, SeqCst);
                    wait_until("released", || release.load(SeqCst));
                    1
                })
            })
        };
        wait_until("the leader runs", || started.load(SeqCst));
        // The table is empty: the first `eq` is against the flight's key, under both locks.
        PANIC_KEY_EQ.with(|p| p.set(true));
        let eq = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&Key(1), || 9)));
        assert_eq!(tests::panic_message(&*eq.unwrap_err()), "Key::eq");
        // Key 2 has no flight: its clone for a new flight panics, under both locks.
        PANIC_KEY_CLONE.with(|p| p.set(true));
        let clone = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&Key(2), || 9)));
        assert_eq!(tests::panic_message(&*clone.unwrap_err()), "Key::clone");
        // Writers and readers of the shard go on.
        map.insert(Key(3), 3);
        assert_eq!(map.remove(&Key(3)), Some(3));
        // Key 2 was not left with a flight nobody leads: this call leads at once.
        assert_eq!(map.get_or_insert_with(&Key(2), || 2), 2);
        release.store(true, SeqCst);
        assert_eq!(leader.join().unwrap(), 1);
        assert_eq!(
            map.get(&Key(1)),
            Some(1),
            "the flight in progress landed and stored"
        );
        assert_eq!(map.get_or_insert_with(&Key(1), || 9), 1);
    });
}

/// As above for the refresh path: a value due for `refresh_after` registers its rebuild under
/// the read lock, cloning the key; a panic there leaves no rebuild registered.
#[test]
fn a_key_panicking_while_a_refresh_registers_leaves_no_refresh_behind() {
    within("a refresh after a panicking clone", || {
        let clock = ManualClock::new();
        let map: TtlMap<Key, u32, OneShard> = TtlMap::builder()
            .ttl(Duration::from_secs(600))
            .refresh_after(Duration::from_secs(60))
            .clock(clock.clone())
            .hasher(OneShard)
            .build();
        map.insert(Key(1), 1);
        clock.advance(Duration::from_secs(61));
        PANIC_KEY_CLONE.with(|p| p.set(true));
        let panicked = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&Key(1), || 9)));
        assert_eq!(tests::panic_message(&*panicked.unwrap_err()), "Key::clone");
        // The next caller finds the value still due and rebuilds it itself.
        assert_eq!(map.get_or_insert_with(&Key(1), || 2), 2);
        assert_eq!(map.get(&Key(1)), Some(2));
        assert_eq!(map.stats().refreshes, 1);
    });
}

/// A listener runs with no lock held and may use the map freely: here it hears the eviction
/// that a flight's landing causes (capacity 1, one shard) and memoizes, reads and writes keys
/// of the same shard from inside it, while other callers wait for the flight.
#[test]
fn a_listener_hearing_a_landing_evict_may_memoize_in_the_same_shard() {
    within("a listener re-entering on a landing's eviction", || {
        let heard = Arc::new(AtomicUsize::new(0));
        let map: TtlMap<u32, u32, OneShard> = {
            let heard = Arc::clone(&heard);
            let this: Arc<std::sync::OnceLock<TtlMap<u32, u32, OneShard>>> = Arc::default();
            let listener_map = Arc::clone(&this);
            let map = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(1)
                .hasher(OneShard)
                .on_evict(move |k: &u32, _: &u32, reason| {
                    if reason != Reason::Capacity || *k != 100 {
                        return;
                    }
                    heard.fetch_add(1, SeqCst);
                    let map = listener_map.get().expect("set");
                    // Memoizes another key (evicting the landed one: heard, but not key 100),
                    // reads and removes.
                    let _ = map.get_or_insert_with(&200, || 200);
                    let _ = map.get(&1);
                    let _ = map.remove(&200);
                    let _ = map.len();
                })
                .build();
            let _ = this.set(map.clone());
            map
        };
        map.insert(100, 100);
        let (started, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let (map, started, release) =
                    (map.clone(), Arc::clone(&started), Arc::clone(&release));
                std::thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        started.store(true, SeqCst);
                        wait_until("released", || release.load(SeqCst));
                        1
                    })
                })
            })
            .collect();
        wait_until("the leader runs", || started.load(SeqCst));
        wait_until("the others wait", || map.stats().coalesced == 3);
        release.store(true, SeqCst);
        for caller in callers {
            assert_eq!(caller.join().unwrap(), 1);
        }
        assert_eq!(heard.load(SeqCst), 1, "the landing evicted key 100 once");
        // The map is a map still: it was not left locked.
        assert_eq!(map.get_or_insert_with(&5, || 5), 5);
        // (The map holds a handle to itself through its listener: it is leaked, on purpose.)
    });
}

/// A leader's constructor, parked until released: `started` is set when it runs.
struct Gate {
    started: AtomicBool,
    release: AtomicBool,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            started: AtomicBool::new(false),
            release: AtomicBool::new(false),
        })
    }
    fn enter(&self) {
        self.started.store(true, SeqCst);
        wait_until("the gate opens", || self.release.load(SeqCst));
    }
    fn wait_started(&self) {
        wait_until("the constructor runs", || self.started.load(SeqCst));
    }
    fn open(&self) {
        self.release.store(true, SeqCst);
    }
}

/// The counts now taken in `find_or_join` (the lookup and the join in one read lock), step by
/// step: a flight with waiters, a refresh with callers served meanwhile, a failed flight whose
/// waiters try on their own, and a leader that gives up (its waiter looks again, uncounted).
#[test]
fn the_counts_follow_each_call_through_flights_refreshes_and_failures() {
    within("the counted scenario", || {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32, OneShard> = TtlMap::builder()
            .ttl(Duration::from_secs(600))
            .refresh_after(Duration::from_secs(60))
            .clock(clock.clone())
            .hasher(OneShard)
            .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let call = |map: &TtlMap<u32, u32, OneShard>, gate: Option<Arc<Gate>>, v: u32| {
            let (map, runs) = (map.clone(), Arc::clone(&runs));
            std::thread::spawn(move || {
                map.get_or_insert_with(&1, || {
                    runs.fetch_add(1, SeqCst);
                    if let Some(gate) = gate {
                        gate.enter();
                    }
                    v
                })
            })
        };

        // 1. One leader and three waiters: four misses, three coalesced, one run, one insert.
        let gate = Gate::new();
        let leader = call(&map, Some(Arc::clone(&gate)), 10);
        gate.wait_started();
        let waiters: Vec<_> = (0..3).map(|_| call(&map, None, 99)).collect();
        wait_until("three waiters", || map.stats().coalesced == 3);
        gate.open();
        assert_eq!(leader.join().unwrap(), 10);
        for w in waiters {
            assert_eq!(w.join().unwrap(), 10);
        }
        let s = map.stats();
        assert_eq!((s.hits, s.misses, s.coalesced, s.inserts), (0, 4, 3, 1));
        assert_eq!(runs.swap(0, SeqCst), 1);

        // 2. Due for a refresh: the first caller rebuilds, three callers meanwhile get the old
        // value at once. Four hits, no waiting, one refresh, one insert.
        clock.advance(Duration::from_secs(61));
        let gate = Gate::new();
        let refresher = call(&map, Some(Arc::clone(&gate)), 11);
        gate.wait_started();
        for _ in 0..3 {
            assert_eq!(call(&map, None, 99).join().unwrap(), 10);
        }
        gate.open();
        assert_eq!(refresher.join().unwrap(), 11);
        let s = map.stats();
        assert_eq!((s.hits, s.misses, s.coalesced, s.inserts), (4, 4, 3, 2));
        assert_eq!((s.refreshes, s.refresh_failures), (1, 0));
        assert_eq!(runs.swap(0, SeqCst), 1);
        assert_eq!(map.get(&1), Some(11));

        // 3. A failed flight (an unshared error): its two waiters each try on their own; the
        // first attempt to store wins, the second finds it there. One insert.
        map.remove(&1);
        let gate = Gate::new();
        let failing = {
            let (map, gate) = (map.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                map.try_get_or_insert_with(&1, || {
                    gate.enter();
                    Err::<u32, _>("down")
                })
            })
        };
        gate.wait_started();
        let attempts = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let (map, attempts) = (map.clone(), Arc::clone(&attempts));
                std::thread::spawn(move || {
                    map.try_get_or_insert_with(&1, || {
                        attempts.fetch_add(1, SeqCst);
                        Ok::<u32, &str>(20 + i)
                    })
                })
            })
            .collect();
        wait_until("two waiters", || map.stats().coalesced == 5);
        gate.open();
        assert_eq!(failing.join().unwrap(), Err("down"));
        let got: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(attempts.load(SeqCst), 2, "each waiter tried once");
        let stored = map.get(&1).expect("one attempt stored");
        assert!(got.contains(&Ok(stored)), "{got:?} {stored}");
        let s = map.stats();
        // 3 more misses (leader and waiters), and the two `get`s since step 2: hits.
        assert_eq!((s.hits, s.misses, s.coalesced, s.inserts), (6, 7, 5, 3));

        // 4. An async leader whose future is dropped: its waiter looks again (not counted
        // again) and leads. Two misses, one more coalesced, one insert.
        map.remove(&1);
        let mut leader = Box::pin(map.get_or_insert_with_async(&1, std::future::pending()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            leader.as_mut().poll(&mut cx).is_pending(),
            "it leads, pending"
        );
        let waiter = call(&map, None, 30);
        wait_until("the waiter waits", || map.stats().coalesced == 6);
        drop(leader);
        assert_eq!(waiter.join().unwrap(), 30);
        let s = map.stats();
        assert_eq!((s.hits, s.misses, s.coalesced, s.inserts), (6, 9, 6, 4));
    });
}

/// An async leader whose future is pending on this thread holds no lock between polls: the
/// same thread reads, memoizes, inserts into and clears the same shard, a sync caller of the
/// same key on another thread waits for it, and it lands (after the clear, unstored) when
/// polled again, on another thread, the leader having moved (its `polled_on` takes the read
/// lock and the flights' mutex).
#[test]
fn an_async_leader_pending_on_this_thread_blocks_nothing_of_its_shard() {
    within("calls beside a pending async leader", || {
        let map: TtlMap<u32, u32, OneShard> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .hasher(OneShard)
            .build();
        let (tx, rx) = futures_channel();
        let leader = {
            let map = map.clone();
            async move {
                map.get_or_insert_with_async(&1, async move { rx.await_value().await })
                    .await
            }
        };
        let mut leader = Box::pin(leader);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(leader.as_mut().poll(&mut cx).is_pending());
        // This thread, between polls of the leader: the whole shard is usable.
        assert_eq!(map.get_or_insert_with(&2, || 2), 2);
        map.insert(3, 3);
        assert_eq!(map.get(&3), Some(3));
        let waiter = {
            let map = map.clone();
            std::thread::spawn(move || map.get_or_insert_with(&1, || 99))
        };
        wait_until("a waiter joins", || map.stats().coalesced == 1);
        map.clear(); // invalidates the flight: its value reaches its callers, unstored
        tx.send(7);
        let value = std::thread::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(v) = leader.as_mut().poll(&mut cx) {
                    return v;
                }
                std::thread::yield_now();
            }
        })
        .join()
        .unwrap();
        assert_eq!(value, 7);
        assert_eq!(
            waiter.join().unwrap(),
            7,
            "the waiter takes the flight's value"
        );
        assert_eq!(map.get(&1), None, "cleared during the flight: not stored");
    });
}

/// A one-value channel for the test above: its receiver is a future that polls a flag.
fn futures_channel() -> (Sender, Receiver) {
    let slot = Arc::new(AtomicU64::new(u64::MAX));
    (Sender(Arc::clone(&slot)), Receiver(slot))
}

struct Sender(Arc<AtomicU64>);
struct Receiver(Arc<AtomicU64>);

impl Sender {
    fn send(self, v: u32) {
        self.0.store(u64::from(v), SeqCst);
    }
}

impl Receiver {
    async fn await_value(self) -> u32 {
        std::future::poll_fn(|_| match self.0.load(SeqCst) {
            u64::MAX => Poll::Pending,
            v => Poll::Ready(v as u32),
        })
        .await
    }
}

/// A remove during a rebuild that fails: `stale_if_error` serves a value only if it is still
/// there; the removed one is gone for good, and so is one removed during a refresh.
#[test]
fn a_value_removed_while_it_is_rebuilt_is_not_brought_back() {
    within("rebuilds racing removes", || {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32, OneShard> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(30))
            .stale_if_error(Duration::from_secs(600))
            .clock(clock.clone())
            .hasher(OneShard)
            .build();
        // Expired, within the stale window: its rebuild fails while it is removed.
        map.insert(1, 1);
        // Due for a refresh: its rebuild succeeds while it is removed.
        clock.advance(Duration::from_secs(61));
        map.insert(2, 2);
        clock.advance(Duration::from_secs(31));
        let (expired, due) = (Gate::new(), Gate::new());
        let rebuild = {
            let (map, gate) = (map.clone(), Arc::clone(&expired));
            std::thread::spawn(move || {
                map.try_get_or_insert_with(&1, || {
                    gate.enter();
                    Err::<u32, _>("down")
                })
            })
        };
        let refresh = {
            let (map, gate) = (map.clone(), Arc::clone(&due));
            std::thread::spawn(move || {
                map.get_or_insert_with(&2, || {
                    gate.enter();
                    20
                })
            })
        };
        expired.wait_started();
        due.wait_started();
        assert_eq!(map.remove(&1), None, "expired: not live, but removed");
        assert_eq!(map.remove(&2), Some(2));
        expired.open();
        due.open();
        assert_eq!(
            rebuild.join().unwrap(),
            Err("down"),
            "no stale value once removed"
        );
        assert_eq!(
            refresh.join().unwrap(),
            20,
            "its caller gets the rebuilt value"
        );
        assert_eq!(map.get(&2), None, "the refresh lost to the remove");
        assert_eq!(map.len(), 0);
        assert_eq!(map.stats().stale_served, 0);
    });
}

/// The ledger of the stress test below: which constructors of each key run now, each with the
/// count of invalidating writes finished before its call began.
struct Ledger {
    /// Writes that can invalidate a flight (insert, remove, clear, retain), counted as each
    /// returns.
    invalidations: AtomicU64,
    /// The same writes, counted as each begins: one that has begun may have taken effect.
    begun: AtomicU64,
    running: Vec<std::sync::Mutex<Vec<(u64, u64)>>>,
    next_run: AtomicU64,
    /// Calls of `get` and of the memoizing methods: each a hit or a miss.
    lookups: AtomicU64,
    violations: std::sync::Mutex<Vec<String>>,
}

const KEYS: u32 = 16;
/// Operations per thread of the stress test.
const OPS: usize = 1_500;

impl Ledger {
    /// A write that may invalidate flights.
    fn invalidating<T>(&self, write: impl FnOnce() -> T) -> T {
        self.begun.fetch_add(1, SeqCst);
        let out = write();
        self.invalidations.fetch_add(1, SeqCst);
        out
    }

    /// A memoizing call of `key` whose constructor runs `body` (when it runs): checks that no
    /// two constructors of `key` run at once unless an invalidation began after the earlier
    /// of their calls began, which is what lets a second flight of the key start. (Counted
    /// as it finishes, an invalidation that had taken effect was missed; checked by whichever
    /// of two runs came first, a run checked a later call against its own stale count: both
    /// failed the test by chance, about one run in five.)
    fn memoize(&self, map: &TtlMap<u32, u32, OneShard>, key: u32, body: impl FnOnce()) -> u32 {
        let before = self.invalidations.load(SeqCst);
        self.lookups.fetch_add(1, SeqCst);
        map.get_or_insert_with(&key, || {
            let run = self.next_run.fetch_add(1, SeqCst);
            {
                // Read under the lock, so that of two runs the one that pushes later checks:
                // the two may overlap only if a write that may invalidate began after the
                // earlier of their calls began.
                let mut running = self.running[key as usize].lock().unwrap();
                let begun = self.begun.load(SeqCst);
                for &(other, other_before) in running.iter() {
                    if begun <= other_before.min(before) {
                        self.violations.lock().unwrap().push(format!(
                            "key {key}: run {run} started while run {other} ran, with no \
                             invalidation begun since the earlier call"
                        ));
                    }
                }
                running.push((run, before));
            }
            body();
            self.running[key as usize]
                .lock()
                .unwrap()
                .retain(|&(r, _)| r != run);
            key * 10
        })
    }
}

/// Many more threads than cores on one shard: memoizing calls whose constructors read, write
/// and memoize other keys of the shard (keys above their own, so no cycles), against inserts,
/// removes, clears, retains, sweeps, a capacity that evicts, `refresh_after`, `expire_after`
/// and a clock that moves. Nothing hangs, no key's constructor runs twice for one flight, and
/// every lookup is counted once as a hit or a miss.
#[test]
fn a_crowded_shard_of_nested_constructors_and_writers_keeps_single_flight() {
    let (ledger, map) = within("the crowded shard", || {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32, OneShard> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(20))
            .stale_if_error(Duration::from_secs(60))
            .expire_after(|k: &u32, _: &u32| k.is_multiple_of(3).then_some(Duration::from_secs(5)))
            .capacity(6)
            .clock(clock.clone())
            .hasher(OneShard)
            .build();
        let ledger = Arc::new(Ledger {
            invalidations: AtomicU64::new(0),
            begun: AtomicU64::new(0),
            running: (0..KEYS).map(|_| std::sync::Mutex::default()).collect(),
            next_run: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            violations: std::sync::Mutex::default(),
        });
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (map, ledger, clock) = (map.clone(), Arc::clone(&ledger), clock.clone());
                std::thread::spawn(move || {
                    let mut x = 0x9e37_79b9u32.wrapping_mul(t + 1);
                    let mut next = move || {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x
                    };
                    for _ in 0..OPS {
                        let key = next() % KEYS;
                        match next() % 16 {
                            0 => {
                                ledger.invalidating(|| map.insert(key, key * 10));
                            }
                            1 => {
                                ledger.invalidating(|| map.remove(&key));
                            }
                            2 if t == 0 => ledger.invalidating(|| map.clear()),
                            3 if t == 1 => ledger.invalidating(|| map.retain(|k, _| k % 2 == 0)),
                            4 => {
                                map.sweep();
                            }
                            5 => clock.advance(Duration::from_secs(3)),
                            6 | 7 => {
                                ledger.lookups.fetch_add(1, SeqCst);
                                let _ = map.get(&key);
                            }
                            _ => {
                                let inner = next();
                                let v = ledger.memoize(&map, key, || {
                                    // Other keys of the shard, from inside the constructor.
                                    let above = key + 1 + inner % 4;
                                    if above < KEYS {
                                        ledger.lookups.fetch_add(1, SeqCst);
                                        let _ = map.get(&above);
                                        ledger.memoize(&map, above, std::thread::yield_now);
                                        if inner % 5 == 0 {
                                            ledger.invalidating(|| map.insert(above, above * 10));
                                        }
                                    }
                                    for _ in 0..4 {
                                        std::thread::yield_now();
                                    }
                                });
                                assert_eq!(v, key * 10);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        (ledger, map)
    });
    let violations = ledger.violations.lock().unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    let s = map.stats();
    assert_eq!(s.hits + s.misses, ledger.lookups.load(SeqCst), "{s:?}");
    eprintln!("{s:?}, {} constructor runs", ledger.next_run.load(SeqCst));
    assert!(s.coalesced > 0, "callers met in flights: {s:?}");
}
