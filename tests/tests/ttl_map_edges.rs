//! Edges: a reader stalled at its recheck, thread-local destruction, the memory bound after
//! removals and in phases, counters with thread churn, `Send` futures (found by an
//! adversarial review).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

use cache_core::{Clock, Expiry, ManualClock, TtlMap};

/// A clock whose `stall_on`-th reading on one thread is taken, then handed back only after
/// the test let it go: a reader preempted right after its (re)check of the clock.
struct StallingClock {
    now: ManualClock,
    target: Mutex<Option<(ThreadId, usize)>>,
    calls: AtomicUsize,
    gate: Barrier,
}
#[derive(Clone)]
struct Shared(Arc<StallingClock>);
impl Clock for Shared {
    fn now(&self) -> Duration {
        let c = &self.0;
        let t = c.now.now();
        let target = *c.target.lock().unwrap();
        if let Some((id, nth)) = target
            && id == std::thread::current().id()
            && c.calls.fetch_add(1, SeqCst) + 1 == nth
        {
            c.gate.wait(); // read; now stalled
            c.gate.wait(); // released
        }
        t
    }
}

#[test]
fn a_reader_stalled_after_its_recheck_does_not_revive_an_expired_entry() {
    let clock = Arc::new(StallingClock {
        now: ManualClock::new(),
        target: Mutex::new(None),
        calls: AtomicUsize::new(0),
        gate: Barrier::new(2),
    });
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(64))
        .expiry(Expiry::Sliding)
        .clock(Shared(Arc::clone(&clock)))
        .build();
    map.insert(1, 1); // deadline 64 s
    clock.now.advance(Duration::from_secs(50));
    let (m, c) = (map.clone(), Arc::clone(&clock));
    let reader = std::thread::spawn(move || {
        *c.target.lock().unwrap() = Some((std::thread::current().id(), 2)); // the recheck
        m.get(&1)
    });
    clock.gate.wait(); // the reader rechecked at t = 50 and is preempted
    clock.now.advance(Duration::from_secs(20)); // t = 70
    assert_eq!(map.get(&1), None, "expired at t = 70");
    assert!(!map.contains_key(&1));
    clock.gate.wait();
    assert_eq!(reader.join().unwrap(), Some(1)); // judged at 50: fine to return
    assert_eq!(
        map.get(&1),
        None,
        "an entry seen expired at t = 70 is live again at t = 70"
    );
}

/// Re-entry during thread-local destruction must not hang: with no thread-local to mark the
/// leader, such calls run as attempts of their own, not flights.
#[test]
fn reentry_from_a_thread_local_destructor_does_not_hang() {
    static MAP: std::sync::LazyLock<TtlMap<u32, u32>> =
        std::sync::LazyLock::new(|| TtlMap::new(Duration::from_secs(60)));
    struct Guard(mpsc::Sender<bool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let r = std::panic::catch_unwind(|| {
                MAP.get_or_insert_with(&7, || MAP.get_or_insert_with(&7, || 1))
            });
            let _ = self.0.send(r.is_err());
        }
    }
    thread_local!(static GUARD: std::cell::RefCell<Option<Guard>> = const { std::cell::RefCell::new(None) });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        GUARD.with(|g| *g.borrow_mut() = Some(Guard(tx))); // registered first, destroyed last
        MAP.get_or_insert_with(&1, || 1); // the map's thread-locals register after it
    });
    let got = rx.recv_timeout(Duration::from_secs(5));
    assert!(got.is_ok(), "re-entry in a TLS destructor hangs");
}

/// The crate docs: "a shard holds at most its live entries, plus 1/32 of them, plus 16". The
/// allowance is fixed at the last sweep from the then-live count; removals do not lower it.
#[test]
fn memory_after_removals_stays_within_live_plus_a_32nd_plus_16() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .expiry(Expiry::Fixed)
        .capacity(usize::MAX) // one shard: "plus 16" in all
        .clock(clock.clone())
        .build();
    for k in 0..20 {
        map.insert(1_000_000 + k, 0); // X: deadlines at 60 s
    }
    clock.advance(Duration::from_secs(1));
    let n = 34 * 300;
    for k in 0..n {
        map.insert(k, 0); // Y: deadlines 61 s + k ms
        clock.advance(Duration::from_millis(1));
    }
    clock.set_to(
        Duration::from_millis(60_500),
        Duration::from_millis(1000 + n),
    );
    map.insert(u64::MAX, 0); // t = 60.5 s: X expired; this write sweeps, allowance 16 + 10201/34
    let keep = 300;
    for k in keep..n {
        map.remove(&k);
    }
    clock.advance(Duration::from_millis(500 + keep)); // t = 61.3 s: Y's `keep` soonest expired
    map.insert(u64::MAX - 1, 0);
    let live = (0..keep).filter(|k| map.contains_key(k)).count()
        + [u64::MAX, u64::MAX - 1]
            .iter()
            .filter(|k| map.contains_key(*k))
            .count();
    let bound = live + live / 32 + 16 + 1;
    assert!(
        map.len() <= bound,
        "len {} with {live} live entries (bound {bound})",
        map.len()
    );
}

trait SetTo {
    fn set_to(&self, to: Duration, from: Duration);
}
impl SetTo for ManualClock {
    fn set_to(&self, to: Duration, from: Duration) {
        self.advance(to - from);
        assert_eq!(self.now(), to);
    }
}

/// The bound with many writer threads, checked whenever they are all paused.
#[test]
fn memory_bound_with_many_writers_in_phases() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .expiry(Expiry::Fixed)
        .clock(clock.clone())
        .build();
    let threads = 8u64;
    let next = AtomicU64::new(0);
    let times: Mutex<Vec<(u64, Duration)>> = Mutex::new(Vec::new());
    let barrier = Barrier::new(threads as usize + 1);
    let mut worst = 0i64;
    let mut failure = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for phase in 0..400u64 {
                    barrier.wait();
                    // burst in the first phase, then a trickle of varying size
                    let per = if phase == 0 {
                        5_000
                    } else {
                        1 + (phase * 7919) % 40
                    };
                    for _ in 0..per {
                        let k = next.fetch_add(1, SeqCst);
                        map.insert(k, k);
                        times.lock().unwrap().push((k, clock.now()));
                    }
                    barrier.wait();
                }
            });
        }
        for phase in 0..400u64 {
            barrier.wait();
            barrier.wait();
            let now = clock.now();
            // Times only grow (the clock moves between phases), so the live keys are a suffix.
            let times = times.lock().unwrap();
            let expired = times.partition_point(|(_, t)| *t + Duration::from_secs(60) <= now);
            let live = times.len() - expired;
            drop(times);
            let bound = live + live / 32 + 16 * 16 + threads as usize;
            worst = worst.max(map.len() as i64 - bound as i64);
            // Checked after the threads are done: a panic here would leave them at the barrier.
            if map.len() > bound && failure.is_none() {
                failure = Some(format!(
                    "phase {phase}: len {} > bound {bound} (live {live})",
                    map.len()
                ));
            }
            clock.advance(Duration::from_millis(300 + (phase * 104_729) % 2000));
        }
    });
    eprintln!("worst len - bound: {worst}");
    assert_eq!(failure, None);
}

/// hits + misses == calls, with more threads alive than stripes and threads coming and going.
#[test]
fn hits_plus_misses_is_the_number_of_calls_with_thread_churn() {
    let map: TtlMap<u64, u64> = TtlMap::new(Duration::from_secs(60));
    let calls = AtomicU64::new(0);
    for _round in 0..4 {
        std::thread::scope(|s| {
            for t in 0..48u64 {
                let (map, calls) = (&map, &calls);
                s.spawn(move || {
                    for i in 0..2_000u64 {
                        if i % 3 == 0 {
                            map.get_or_insert_with(&(i % 97 + t), || i);
                        } else {
                            map.get(&(i % 89));
                        }
                        calls.fetch_add(1, SeqCst);
                    }
                });
            }
        });
    }
    let st = map.stats();
    assert_eq!(st.hits + st.misses, calls.load(SeqCst));
}

/// The async futures are Send (compile-time).
#[test]
fn async_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let map: TtlMap<String, Arc<String>> = TtlMap::new(Duration::from_secs(60));
    send(map.get_or_insert_with_async("k", async { Arc::new(String::new()) }));
    send(map.try_get_or_insert_with_async("k", async { Ok::<_, String>(Arc::new(String::new())) }));
    send(
        map.try_get_or_insert_with_shared_async("k", async {
            Err::<Arc<String>, _>(String::new())
        }),
    );
    let key = String::from("k");
    send(map.get_or_insert_with_async(&key, async { Arc::new(String::new()) }));
}
