//! Review 4: adversarial tests of de95ea8 (landings under panicking user code, async waiters'
//! wakers, burying expired entries) and d04e72a (map names). Time comes from `ManualClock` or a
//! clock with a hook; deadlocks show as failures through deadlines, aborts through a child
//! process.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use cache_core::{Clock, ManualClock, Reason, TtlMap, ttl_cached};
use tests::{in_child, panic_message, wait_until, within};

const SECOND: Duration = Duration::from_secs(1);

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let start = Instant::now();
    loop {
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "future never finished"
        );
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------------------------
// A value whose `Clone` panics on the n-th clone once armed, and whose `Drop` may panic.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Touchy {
    n: u32,
    /// Clones left before one panics (0: never).
    countdown: Arc<AtomicUsize>,
    /// Every copy's `Drop` panics while set.
    explodes: Arc<AtomicBool>,
}

impl Touchy {
    fn new(n: u32, countdown: &Arc<AtomicUsize>, explodes: &Arc<AtomicBool>) -> Self {
        Touchy {
            n,
            countdown: Arc::clone(countdown),
            explodes: Arc::clone(explodes),
        }
    }
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        let left = self.countdown.load(SeqCst);
        if left > 0 && self.countdown.fetch_sub(1, SeqCst) == 1 {
            panic!("Touchy::clone");
        }
        Touchy {
            n: self.n,
            countdown: Arc::clone(&self.countdown),
            explodes: Arc::clone(&self.explodes),
        }
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        if self.explodes.load(SeqCst) {
            panic!("Touchy::drop {}", self.n);
        }
    }
}

/// The scenario of the two tests below: capacity 1 holds `a`; a leader lands `b` with a
/// waiter joined, and the clone of `b` made for the flight panics (the map's copy, made
/// first, is fine): storing `b` evicted `a`. `a_explodes`: `a`'s `Drop` panics.
fn flight_clone_panics_after_an_eviction(a_explodes: bool) -> (Vec<(String, Reason)>, u64) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let hear = Arc::clone(&heard);
    let map: TtlMap<String, Touchy> = TtlMap::builder()
        .ttl(60 * SECOND)
        .capacity(1)
        .clock(ManualClock::new())
        .on_evict(move |k: &String, _: &Touchy, r| hear.lock().unwrap().push((k.clone(), r)))
        .build();
    let quiet = Arc::new(AtomicUsize::new(0));
    let a_bomb = Arc::new(AtomicBool::new(a_explodes));
    let safe = Arc::new(AtomicBool::new(false));
    map.insert("a".into(), Touchy::new(1, &quiet, &a_bomb));
    let countdown = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with("b", || {
                    wait_until("the waiter joins", || map.stats().coalesced >= 1);
                    // The map's copy is clone 1; the flight's is clone 2, which panics.
                    countdown.store(2, SeqCst);
                    Touchy::new(2, &countdown, &safe)
                })
            }))
        });
        wait_until("the leader runs", || map.stats().misses >= 1);
        let waiter = s.spawn(|| {
            map.get_or_insert_with("b", || Touchy::new(3, &quiet, &safe))
                .n
        });
        let led = leader.join().unwrap();
        assert_eq!(
            panic_message(&*led.expect_err("the flight's clone panicked")).to_string(),
            "Touchy::clone"
        );
        let got = waiter.join().unwrap();
        assert!(got == 2 || got == 3, "{got}");
    });
    a_bomb.store(false, SeqCst);
    let heard = heard.lock().unwrap().clone();
    (heard, map.stats().evictions)
}

/// SPEC: every removed entry is heard and counted even if user code panics. Here the
/// landing's second `Clone` panics after its store evicted `a`: `a` must still be heard by the
/// listener and counted as an eviction.
#[test]
fn a_panicking_flight_clone_still_reports_the_entry_its_store_evicted() {
    let (heard, evictions) = within(20 * SECOND, || flight_clone_panics_after_an_eviction(false));
    assert_eq!(
        (heard, evictions),
        (vec![("a".to_string(), Reason::Capacity)], 1),
        "the entry evicted by the landing vanished unheard and uncounted"
    );
}

/// SPEC: nothing in user code can abort the process. Same as above, and the evicted `a`'s
/// `Drop` panics: it is dropped while the landing unwinds from the `Clone` panic.
#[test]
fn a_panicking_flight_clone_then_a_panicking_evicted_drop_does_not_abort() {
    in_child(
        "a_panicking_flight_clone_then_a_panicking_evicted_drop_does_not_abort",
        || {
            flight_clone_panics_after_an_eviction(true);
        },
    );
}

/// A map whose `expire_after` panics (once) for values numbered 99.
fn map_with_panicking_expire_after() -> TtlMap<String, Touchy> {
    let once = AtomicBool::new(false);
    TtlMap::builder()
        .ttl(60 * SECOND)
        .clock(ManualClock::new())
        .expire_after(move |_: &String, v: &Touchy| {
            if v.n == 99 && !once.swap(true, SeqCst) {
                panic!("expire_after");
            }
            None
        })
        .build()
}

/// SPEC: nothing in user code can abort. A landing's `expire_after` panics under the lock and
/// the value's `Drop` panics: the caller's copy is dropped on its own (de95ea8), but the map's
/// copy, still in `pending`, is dropped while unwinding.
#[test]
fn a_landing_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "a_landing_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort",
        || {
            let map = map_with_panicking_expire_after();
            let quiet = Arc::new(AtomicUsize::new(0));
            let bomb = Arc::new(AtomicBool::new(true));
            let _ = map.get_or_insert_with("k", || Touchy::new(99, &quiet, &bomb));
            bomb.store(false, SeqCst);
        },
    );
}

/// The same family through `insert` (its `pending`, dropped while unwinding).
#[test]
fn an_insert_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "an_insert_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort",
        || {
            let map = map_with_panicking_expire_after();
            let quiet = Arc::new(AtomicUsize::new(0));
            let bomb = Arc::new(AtomicBool::new(true));
            let _ = map.insert("k".into(), Touchy::new(99, &quiet, &bomb));
            bomb.store(false, SeqCst);
        },
    );
}

/// The same family through an own attempt after a failed flight (`store_attempt`'s
/// `pending`): the waiter of a failed flight stores its own value.
#[test]
fn an_attempt_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "an_attempt_whose_expire_after_panics_with_a_panicking_value_drop_does_not_abort",
        || {
            let map = map_with_panicking_expire_after();
            let quiet = Arc::new(AtomicUsize::new(0));
            let bomb = Arc::new(AtomicBool::new(false));
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = map.try_get_or_insert_with("k", || {
                        wait_until("the waiter joins", || map.stats().coalesced >= 1);
                        Err::<Touchy, ()>(())
                    });
                });
                wait_until("the leader runs", || map.stats().misses >= 1);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.try_get_or_insert_with("k", || {
                        bomb.store(true, SeqCst);
                        Ok::<_, ()>(Touchy::new(99, &quiet, &bomb))
                    })
                }));
            });
            bomb.store(false, SeqCst);
        },
    );
}

/// Panics of user code at a landing, with sync and async waiters: every waiter wakes, the
/// flight is gone (a new call leads), the leader gets the user's panic, and the map works.
/// `hook`: what panics. Holds for each.
fn landing_panics_wake_everyone(hook: &str) {
    let clock_armed = Arc::new(AtomicBool::new(false));
    struct Trap(ManualClock, Arc<AtomicBool>);
    impl Clock for Trap {
        fn now(&self) -> Duration {
            if self.1.swap(false, SeqCst) {
                panic!("clock");
            }
            self.0.now()
        }
    }
    let listener_armed = Arc::new(AtomicBool::new(false));
    let armed = Arc::clone(&listener_armed);
    let map: Arc<TtlMap<String, Touchy>> = Arc::new(
        TtlMap::builder()
            .ttl(60 * SECOND)
            .capacity(1)
            .clock(Trap(ManualClock::new(), Arc::clone(&clock_armed)))
            .on_evict(move |_: &String, _: &Touchy, _| {
                if armed.swap(false, SeqCst) {
                    panic!("listener");
                }
            })
            .expire_after({
                let once = AtomicBool::new(false);
                move |_: &String, v: &Touchy| {
                    if v.n == 98 && !once.swap(true, SeqCst) {
                        panic!("expire_after");
                    }
                    None
                }
            })
            .build(),
    );
    let quiet = Arc::new(AtomicUsize::new(0));
    let safe = Arc::new(AtomicBool::new(false));
    map.insert("old".into(), Touchy::new(0, &quiet, &safe));
    let leader = {
        let (map, clock_armed, listener_armed) = (Arc::clone(&map), clock_armed, listener_armed);
        let hook = hook.to_string();
        std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with("k", || {
                    wait_until("two waiters join", || map.stats().coalesced >= 2);
                    let countdown = Arc::new(AtomicUsize::new(0));
                    let mut n = 99;
                    match hook.as_str() {
                        "clone" => countdown.store(1, SeqCst),
                        "expire_after" => n = 98,
                        "clock" => clock_armed.store(true, SeqCst),
                        "listener" => listener_armed.store(true, SeqCst),
                        _ => unreachable!(),
                    }
                    Touchy::new(n, &countdown, &Arc::new(AtomicBool::new(false)))
                })
                .n
            }))
        })
    };
    wait_until("the leader runs", || map.stats().misses >= 1);
    let sync_waiter = {
        let map = Arc::clone(&map);
        std::thread::spawn(move || {
            map.get_or_insert_with("k", || Touchy::new(1, &Arc::default(), &Arc::default()))
                .n
        })
    };
    let async_waiter = {
        let map = Arc::clone(&map);
        std::thread::spawn(move || {
            block_on(map.get_or_insert_with_async("k", async {
                Touchy::new(2, &Arc::default(), &Arc::default())
            }))
            .n
        })
    };
    let led = leader.join().unwrap();
    match led {
        Ok(n) => panic!("{hook}: the leader returned {n}, expected the user's panic"),
        Err(payload) => {
            let expected = if hook == "clone" {
                "Touchy::clone"
            } else {
                hook
            };
            assert_eq!(
                panic_message(&*payload).to_string(),
                expected,
                "the wrong panic was resumed"
            )
        }
    }
    let (a, b) = (sync_waiter.join().unwrap(), async_waiter.join().unwrap());
    assert!(
        [1, 2, 98, 99].contains(&a) && [1, 2, 98, 99].contains(&b),
        "{hook}: {a} {b}"
    );
    // The flight is gone: a new miss leads at once, and the map is usable.
    map.remove("k");
    assert_eq!(
        map.get_or_insert_with("k", || Touchy::new(5, &quiet, &safe))
            .n,
        5
    );
    assert!(map.len() <= 1);
}

#[test]
fn landing_panics_in_user_code_wake_every_waiter() {
    for hook in ["clone", "expire_after", "clock", "listener"] {
        within(20 * SECOND, move || landing_panics_wake_everyone(hook));
    }
}

// ---------------------------------------------------------------------------------------------
// Async waiters (flight.rs `Waiting`).
// ---------------------------------------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A sync leader of `key` on its own thread, its constructor blocked until `release` gets a
/// message; returns once it runs.
fn blocked_leader(
    map: &'static TtlMap<String, u32>,
    key: &'static str,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<u32>) {
    let (release, released) = mpsc::channel::<()>();
    let (running, runs) = mpsc::channel::<()>();
    let leader = std::thread::spawn(move || {
        map.get_or_insert_with(key, move || {
            running.send(()).unwrap();
            let _ = released.recv_timeout(Duration::from_secs(20));
            7
        })
    });
    runs.recv_timeout(Duration::from_secs(10)).unwrap();
    (release, leader)
}

fn leaked_map() -> &'static TtlMap<String, u32> {
    Box::leak(Box::new(TtlMap::new(60 * SECOND)))
}

/// A waiter re-polled by another waker (its task migrated), two waiters in one task, and a
/// dropped waiter beside a live one: every live waker is woken once the flight lands. Holds.
#[test]
fn async_waiters_are_woken_through_their_latest_wakers() {
    within(20 * SECOND, || {
        let map = leaked_map();
        let (release, leader) = blocked_leader(map, "k");
        let (first, second) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        let (joined, dropped) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        let mut migrating = Box::pin(map.get_or_insert_with_async("k", async { 1 }));
        let mut both = Box::pin(async {
            let a = map.get_or_insert_with_async("k", async { 2 });
            let b = map.get_or_insert_with_async("k", async { 3 });
            let (mut a, mut b) = (pin!(a), pin!(b));
            let (mut ra, mut rb) = (None, None);
            std::future::poll_fn(|cx| {
                if ra.is_none()
                    && let Poll::Ready(v) = a.as_mut().poll(cx)
                {
                    ra = Some(v);
                }
                if rb.is_none()
                    && let Poll::Ready(v) = b.as_mut().poll(cx)
                {
                    rb = Some(v);
                }
                match (ra, rb) {
                    (Some(a), Some(b)) => Poll::Ready((a, b)),
                    _ => Poll::Pending,
                }
            })
            .await
        });
        let mut gone = Box::pin(map.get_or_insert_with_async("k", async { 4 }));
        let poll = |f: Pin<&mut dyn Future<Output = u32>>, w: &Arc<Counting>| {
            f.poll(&mut Context::from_waker(&Waker::from(Arc::clone(w))))
        };
        assert!(poll(migrating.as_mut(), &first).is_pending());
        assert!(poll(gone.as_mut(), &dropped).is_pending());
        let both_waker = Waker::from(Arc::clone(&joined));
        assert!(
            both.as_mut()
                .poll(&mut Context::from_waker(&both_waker))
                .is_pending()
        );
        assert!(poll(migrating.as_mut(), &second).is_pending());
        drop(gone);
        wait_until("four waiters", || map.stats().coalesced >= 4);
        release.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), 7);
        assert_eq!(
            second.0.load(SeqCst),
            1,
            "the migrated waiter's new waker was not woken"
        );
        assert!(
            joined.0.load(SeqCst) >= 1,
            "the task with two waiters was not woken"
        );
        assert_eq!(
            dropped.0.load(SeqCst),
            0,
            "a dropped waiter's waker was woken"
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(migrating.as_mut().poll(&mut cx), Poll::Ready(7));
        assert_eq!(both.as_mut().poll(&mut cx), Poll::Ready((7, 7)));
        // No waker is kept after the landing.
        assert_eq!(Arc::strong_count(&first), 1);
        assert_eq!(Arc::strong_count(&second), 1);
        assert_eq!(Arc::strong_count(&dropped), 1);
    });
}

/// A waker whose last `Drop` drops a future (as an executor's task does when its last waker
/// goes): here a second waiter of the same flight.
struct DropsAFuture(Mutex<Option<Pin<Box<dyn Future<Output = u32> + Send>>>>);

impl Wake for DropsAFuture {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsAFuture {
    fn drop(&mut self) {
        drop(self.0.lock().unwrap().take());
    }
}

/// flight.rs: "wakers dropped outside the lock". A waiter re-polled with another waker
/// replaces its old one by `clone_from` under the rendezvous' lock: the old waker is dropped
/// there. If that drop ends another waiter of the same flight (its task's last waker goes),
/// that waiter's `Waiting::drop` takes the same lock: a deadlock on one thread.
#[test]
fn a_replaced_waker_is_dropped_outside_the_rendezvous_lock() {
    let map = leaked_map();
    let (release, leader) = blocked_leader(map, "w");
    within(10 * SECOND, move || {
        let mut other: Pin<Box<dyn Future<Output = u32> + Send>> =
            Box::pin(map.get_or_insert_with_async("w", async { 2 }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(other.as_mut().poll(&mut cx).is_pending());
        let hook = Arc::new(DropsAFuture(Mutex::new(Some(other))));
        let mut waiter = Box::pin(map.get_or_insert_with_async("w", async { 3 }));
        let waker = Waker::from(hook);
        assert!(
            waiter
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(waker);
        // The task moves: its new waker replaces the old, whose drop ends `other`.
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
    });
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), 7);
}

// ---------------------------------------------------------------------------------------------
// Expired stays expired (shard.rs `bury`).
// ---------------------------------------------------------------------------------------------

/// A clock whose n-th reading from now runs a hook first and returns the time from before it:
/// a reader delayed between its clock read and its use of it.
#[derive(Clone, Default)]
struct Hooked {
    time: ManualClock,
    fires_in: Arc<AtomicU64>,
    hook: Arc<Mutex<Option<Hook>>>,
}

type Hook = Box<dyn FnOnce() + Send>;

impl Clock for Hooked {
    fn now(&self) -> Duration {
        let now = self.time.now();
        let left = self.fires_in.load(SeqCst);
        if left > 0 && self.fires_in.fetch_sub(1, SeqCst) == 1 {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        now
    }
}

impl Hooked {
    fn arm(&self, nth: u64, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
        self.fires_in.store(nth, SeqCst);
    }
}

fn hooked_map(clock: &Hooked, stale: Duration) -> &'static TtlMap<String, u32> {
    let mut builder = TtlMap::builder().ttl(60 * SECOND).clock(clock.clone());
    if !stale.is_zero() {
        builder = builder.stale_if_error(stale);
    }
    Box::leak(Box::new(builder.build()))
}

/// A hit delayed between its re-read of the clock (before sliding) and its slide, while the
/// entry expires and `reader` finds it so: the entry must stay expired. `reader` is `iter`,
/// or a failed memoizing call that serves the stale value (`get_stale`). Holds.
#[test]
fn a_delayed_hit_cannot_revive_an_entry_that_iter_or_a_stale_read_found_expired() {
    for reader in ["iter", "stale", "contains_key"] {
        let clock = Hooked::default();
        let map = hooked_map(&clock, 30 * SECOND);
        map.insert("k".into(), 1);
        clock.time.advance(59 * SECOND);
        let time = clock.time.clone();
        // `get` reads the clock, then again before it slides: the hook runs in the second.
        clock.arm(2, move || {
            time.advance(2 * SECOND);
            match reader {
                "iter" => assert_eq!(map.iter().count(), 0),
                "stale" => assert_eq!(
                    map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
                    Ok(1)
                ),
                _ => assert!(!map.contains_key("k")),
            }
        });
        assert_eq!(
            map.get("k"),
            Some(1),
            "{reader}: live when its clock was read"
        );
        assert_eq!(map.get("k"), None, "{reader}: an expired entry was revived");
        assert!(map.iter().next().is_none(), "{reader}");
    }
}

/// Burying keeps `stale_if_error` whole: a buried entry is still served stale on failed
/// rebuilds, survives sweeps within its window, and goes after it. Holds.
#[test]
fn buried_entries_are_still_served_stale_and_swept_only_after_the_window() {
    let clock = ManualClock::new();
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(60 * SECOND)
        .stale_if_error(30 * SECOND)
        .clock(clock.clone())
        .build();
    map.insert("k".into(), 1);
    clock.advance(61 * SECOND);
    assert_eq!(map.iter().count(), 0);
    assert!(!map.contains_key("k"));
    for _ in 0..2 {
        assert_eq!(
            map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
            Ok(1)
        );
        map.sweep();
        assert_eq!(map.len(), 1, "swept within the stale window");
    }
    assert_eq!(map.get("k"), None);
    clock.advance(30 * SECOND);
    assert_eq!(
        map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
        Err(())
    );
    map.sweep();
    assert_eq!(map.len(), 0);
    assert_eq!(map.try_get_or_insert_with("k", || Ok::<_, ()>(2)), Ok(2));
    assert_eq!(map.get("k"), Some(2));
}

/// SPEC: `iter()` yields the live entries. An iterator made before the entries expire and
/// read after yields entries that have expired by the clock: it judges by the time it was
/// made, though each shard is read only when reached.
#[test]
fn an_iterator_read_after_expiry_yields_no_expired_entry() {
    let clock = ManualClock::new();
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(60 * SECOND)
        .clock(clock.clone())
        .build();
    map.insert("k".into(), 1);
    let iter = map.iter();
    clock.advance(61 * SECOND);
    // (A `get` here would bury the entry, and hide the iterator's stale judgement.)
    let seen: Vec<_> = iter.collect();
    assert_eq!(
        seen,
        vec![],
        "iter yielded an entry that expired before it was read"
    );
}

// ---------------------------------------------------------------------------------------------
// Names of the macro's maps (d04e72a: `fleet_name(type_name_of(&|| ()), fn)`).
// ---------------------------------------------------------------------------------------------

mod names {
    use super::*;

    #[ttl_cached(ttl = "1h")]
    pub fn free(x: u32) -> u32 {
        x
    }

    pub fn outer() -> u32 {
        #[ttl_cached(ttl = "1h")]
        fn nested(x: u32) -> u32 {
            x
        }
        nested(1)
    }

    /// Two distinct functions, both `g`, in two blocks of one function.
    pub fn two_blocks() -> (u32, u32) {
        let a = {
            #[ttl_cached(ttl = "1h")]
            fn g(x: u32) -> u32 {
                x
            }
            g(1)
        };
        let b = {
            #[ttl_cached(ttl = "1h")]
            fn g(x: u32) -> u32 {
                x + 1
            }
            g(1)
        };
        (a, b)
    }

    pub struct A;
    pub struct B;

    impl A {
        #[ttl_cached(ttl = "1h")]
        pub fn assoc(x: u32) -> u32 {
            x
        }

        #[ttl_cached(ttl = "1h", cache = Self::assoc_handle)]
        pub fn assoc_handled(x: u32) -> u32 {
            x
        }
    }

    impl B {
        #[ttl_cached(ttl = "1h")]
        pub fn assoc(x: u32) -> u32 {
            x + 1
        }
    }

    pub trait Tr {
        fn id() -> u32;

        #[ttl_cached(ttl = "1h")]
        fn by_default(x: u32) -> u32 {
            x + Self::id()
        }

        fn implemented(x: u32) -> u32;
    }

    impl Tr for A {
        fn id() -> u32 {
            10
        }

        #[ttl_cached(ttl = "1h")]
        fn implemented(x: u32) -> u32 {
            x
        }
    }

    impl Tr for B {
        fn id() -> u32 {
            20
        }

        #[ttl_cached(ttl = "1h")]
        fn implemented(x: u32) -> u32 {
            x + 1
        }
    }

    pub struct G<T>(PhantomData<T>);

    impl<T: 'static> G<T> {
        #[ttl_cached(ttl = "1h")]
        pub fn generic(x: u32) -> u32 {
            x + std::mem::size_of::<T>() as u32
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn asynchronous(x: u32) -> u32 {
        x
    }

    #[ttl_cached(ttl = "1h", cache = free_handle)]
    pub fn handled(x: u32) -> u32 {
        x
    }

    macro_rules! cached_fn {
        ($name:ident) => {
            #[ttl_cached(ttl = "1h")]
            pub fn $name(x: u32) -> u32 {
                x
            }
        };
    }
    cached_fn!(from_macro_a);
    cached_fn!(from_macro_b);
}

/// Every map the macro makes without `name = ...` is listed under a name of its own, which
/// names its function: free, nested, associated, trait impl and default methods, generic
/// impls (each instantiation), async, with handles, from `macro_rules!`.
#[test]
fn every_macro_map_has_a_distinct_name_naming_its_function() {
    use names::*;
    assert_eq!(free(1), 1);
    assert_eq!(outer(), 1);
    assert_eq!(A::assoc(1), 1);
    assert_eq!(B::assoc(1), 2);
    assert_eq!(A::assoc_handled(1), 1);
    assert_eq!(<A as Tr>::implemented(1), 1);
    assert_eq!(<B as Tr>::implemented(1), 2);
    assert_eq!(G::<u8>::generic(1), 2);
    assert_eq!(G::<u16>::generic(1), 3);
    assert_eq!(block_on(asynchronous(1)), 1);
    assert_eq!(handled(1), 1);
    assert_eq!(from_macro_a(1), 1);
    assert_eq!(from_macro_b(1), 1);
    assert_eq!(<A as Tr>::by_default(1), 11);
    assert_eq!(<B as Tr>::by_default(1), 21);
    let listed: Vec<&'static str> = cache_core::caches()
        .iter()
        .map(|c| c.name())
        // Other tests of this binary, running in parallel in any order, add maps of their
        // own: `two_blocks`' two and `G<u32>`'s.
        .filter(|n| n.contains("names") && !n.contains("two_blocks") && !n.contains("G<u32>"))
        .collect();
    let mut problems = Vec::new();
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != listed.len() {
        problems.push("two maps share a name".to_string());
    }
    for function in [
        "free",
        "nested",
        "assoc",
        "assoc_handled",
        "implemented",
        "generic",
        "asynchronous",
        "handled",
        "from_macro_a",
        "from_macro_b",
        "by_default",
    ] {
        if !listed.iter().any(|n| n.ends_with(&format!("::{function}"))) {
            problems.push(format!("no name ends in ::{function}"));
        }
    }
    println!("{listed:#?}");
    assert_eq!(listed.len(), 15, "maps listed: {listed:#?}");
    assert!(problems.is_empty(), "{problems:?} in {listed:#?}");
    // The handle lists its map under the function's name, and is that same map.
    assert!(
        listed.contains(&"review4::names::A::assoc_handled"),
        "{listed:#?}"
    );
    assert_eq!(A::assoc_handle().len(), 1);
}

/// Two distinct functions both named `g`, in two blocks of one function: two maps with
/// their own values (named alike, from the function's path; `name = ...` tells them apart).
#[test]
fn same_named_functions_in_two_blocks_keep_their_own_values() {
    assert_eq!(names::two_blocks(), (1, 2));
}

/// Stability: the name is the same across calls and instantiations keep theirs.
#[test]
fn generic_instantiations_are_named_apart_and_stably() {
    assert_eq!(names::G::<u32>::generic(1), 5);
    assert_eq!(names::G::<u32>::generic(2), 6);
    let listed: Vec<&'static str> = cache_core::caches()
        .iter()
        .map(|c| c.name())
        .filter(|n| n.contains("G<u32>"))
        .collect();
    assert_eq!(listed, ["review4::names::G<u32>::generic"]);
}
