//! Review 7: a sweep of one map no longer stops writes to another map from sweeping it, and a
//! delayed reader's mark no longer undoes another hit's slide. Time comes from `ManualClock`,
//! or from a clock that holds named threads at their reads.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap};

const SECOND: Duration = Duration::from_secs(1);

/// Two tiers: entries that expire from the hot map are demoted into a cold map by the hot
/// map's listener (a common pattern). The cold map has no sweeper and relies on the write
/// path to stay bounded. All of its writes come from the hot map's sweeps.
#[test]
fn a_map_written_only_from_another_maps_sweep_listener_stays_bounded() {
    let clock = ManualClock::new();
    let cold: Arc<OnceLock<TtlMap<u64, u64>>> = Arc::new(OnceLock::new());
    let cold_in_listener = Arc::clone(&cold);
    // When the cold map was written.
    let writes: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (log, clock_in_listener) = (Arc::clone(&writes), clock.clone());
    let hot: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(SECOND)
        .clock(clock.clone())
        .on_evict(move |k: &u64, v: &u64, reason| {
            if reason == Reason::Expired {
                log.lock()
                    .unwrap()
                    .push(cache_core::Clock::now(&clock_in_listener));
                cold_in_listener.get().unwrap().insert(*k, *v);
            }
        })
        .build();
    cold.set(TtlMap::builder().ttl(SECOND).clock(clock.clone()).build())
        .ok()
        .unwrap();
    let cold = cold.get().unwrap();
    // One never-repeated key a millisecond; hot keys live 1 s, then spend 1 s in the cold map.
    for k in 0..20_000u64 {
        hot.insert(k, k);
        clock.advance(Duration::from_millis(1));
    }
    // Allowed: the keys stored in the cold map within the ttl before its last write (about
    // 1,000; whole batches arrive at once, as the hot map's sweeps go), plus 1/32, plus 16 per
    // shard (16 shards), plus one writing thread. Unswept, it would hold about 19,000.
    let writes = writes.lock().unwrap();
    let last = *writes.last().unwrap();
    let stored = writes.iter().filter(|&&t| t + SECOND > last).count();
    let bound = stored + stored / 32 + 16 * 16 + 1;
    assert!(
        cold.len() <= bound,
        "cold map holds {} entries, bound {bound} (hot map {})",
        cold.len(),
        hot.len()
    );
}

/// `sweep()` of one map, called from the listener of another map's sweep (or from a value's
/// `Drop` there), does nothing and returns 0, though the map it was called on holds expired
/// entries that no sweep of its own is under way for.
#[test]
fn sweep_of_another_map_from_a_sweep_listener_sweeps_it() {
    let clock = ManualClock::new();
    let other: TtlMap<u64, u64> = TtlMap::builder().ttl(SECOND).clock(clock.clone()).build();
    for k in 0..10 {
        other.insert(k, k);
    }
    let swept_inside = Arc::new(AtomicUsize::new(usize::MAX));
    let (o, s) = (other.clone(), Arc::clone(&swept_inside));
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(SECOND)
        .clock(clock.clone())
        .on_evict(move |_: &u64, _: &u64, _| s.store(o.sweep(), SeqCst))
        .build();
    map.insert(0, 0);
    clock.advance(SECOND);
    assert_eq!(map.sweep(), 1);
    assert_eq!(
        (swept_inside.load(SeqCst), other.len()),
        (10, 0),
        "other.sweep() inside the listener: (returned, entries left)"
    );
}

/// A clock whose reads can be held on named threads: `arm(thread, skip)` lets that thread's
/// next `skip` reads pass, then holds the one after, once it has taken the time, until
/// `release(thread)`. `skip = 0`: a reader delayed between its clock read and its lookup;
/// `skip = 1`: a hit held in its recheck, after it loaded the deadline word.
#[derive(Clone, Default)]
struct HeldClock {
    nanos: Arc<AtomicU64>,
    state: Arc<Mutex<HeldState>>,
    changed: Arc<std::sync::Condvar>,
}

#[derive(Default)]
struct HeldState {
    /// Thread name, reads left before the one to hold.
    armed: Vec<(String, usize)>,
    /// Threads holding in a read.
    holding: Vec<String>,
    /// Threads let go.
    released: Vec<String>,
}

impl HeldClock {
    fn set(&self, d: Duration) {
        self.nanos.store(d.as_nanos() as u64, SeqCst);
    }
    fn arm(&self, thread: &str, skip: usize) {
        self.state.lock().unwrap().armed.push((thread.into(), skip));
    }
    fn wait_holding(&self, thread: &str) {
        let mut s = self.state.lock().unwrap();
        while !s.holding.iter().any(|t| t == thread) {
            s = self.changed.wait(s).unwrap();
        }
    }
    fn release(&self, thread: &str) {
        self.state.lock().unwrap().released.push(thread.into());
        self.changed.notify_all();
    }
}

impl cache_core::Clock for HeldClock {
    fn now(&self) -> Duration {
        let t = Duration::from_nanos(self.nanos.load(SeqCst));
        let name = std::thread::current().name().unwrap_or("").to_string();
        let mut s = self.state.lock().unwrap();
        let Some(at) = s.armed.iter().position(|(n, _)| *n == name) else {
            return t;
        };
        if s.armed[at].1 > 0 {
            s.armed[at].1 -= 1;
            return t;
        }
        s.armed.remove(at);
        s.holding.push(name.clone());
        self.changed.notify_all();
        while !s.released.contains(&name) {
            s = self.changed.wait(s).unwrap();
        }
        t
    }
}

/// Sliding expiry: "every hit moves the deadline to now + ttl ... so an entry may expire up to
/// ttl/64 before its last hit + ttl". A hit that is due to move the deadline loses its move
/// when a delayed reader, in the moment between the hit's load of the deadline word and its
/// compare-exchange, sets the reference bit: the hit's extension is lost entirely.
#[test]
fn a_delayed_reader_setting_the_used_bit_does_not_erase_another_hits_slide() {
    delayed_reader_and_sliding_hit(true);
}

/// Control: the same two reads, with the delayed reader going on after the hit slid: passes.
#[test]
fn control_a_delayed_reader_after_the_slide_keeps_it() {
    delayed_reader_and_sliding_hit(false);
}

fn delayed_reader_and_sliding_hit(b_first: bool) {
    let ttl = Duration::from_secs(64); // step: 1 s
    let clock = HeldClock::default();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(ttl).clock(clock.clone()).build();
    map.insert(1, 1);
    clock.set(Duration::from_millis(500));
    std::thread::scope(|s| {
        // B reads the clock at 0.5 s, then is delayed before its lookup.
        clock.arm("B", 0);
        let b = std::thread::Builder::new()
            .name("B".into())
            .spawn_scoped(s, || map.get(&1))
            .unwrap();
        clock.wait_holding("B");
        // A hits at 63.9 s: due to slide (by 63.9 s of a 1 s step). It is held in its recheck,
        // after it loaded the deadline word.
        clock.set(Duration::from_millis(63_900));
        clock.arm("A", 1);
        let a = std::thread::Builder::new()
            .name("A".into())
            .spawn_scoped(s, || map.get(&1))
            .unwrap();
        clock.wait_holding("A");
        // B goes on: judged by 0.5 s the entry is not due to slide; B sets its reference bit.
        if b_first {
            clock.release("B");
            assert_eq!(b.join().unwrap(), Some(1));
            clock.release("A");
            assert_eq!(a.join().unwrap(), Some(1));
        } else {
            clock.release("A");
            assert_eq!(a.join().unwrap(), Some(1));
            clock.release("B");
            assert_eq!(b.join().unwrap(), Some(1));
        }
    });
    // The last hit was at 63.9 s: the entry must live at least until 63.9 + 64 - 1 = 126.9 s.
    clock.set(Duration::from_secs(100));
    assert_eq!(
        map.get(&1),
        Some(1),
        "the hit at 63.9 s did not extend the entry: it expired at 64 s"
    );
}

/// Two maps whose listeners write expired entries into each other: a sweep of one sweeps the
/// other from its listener, whose own listener then writes back into the first without
/// sweeping it again (it is being swept on this thread). Each stays within its bound and the
/// nesting stops at one sweep per map.
#[test]
fn maps_whose_listeners_write_into_each_other_sweep_each_once_and_stay_bounded() {
    let clock = ManualClock::new();
    let slots: [Arc<OnceLock<TtlMap<u64, u64>>>; 2] = Default::default();
    // When each map was written: [a, b].
    let writes: Arc<[Mutex<Vec<Duration>>; 2]> = Arc::default();
    let build = |other: usize| {
        let (slot, writes, clock_in) = (
            Arc::clone(&slots[other]),
            Arc::clone(&writes),
            clock.clone(),
        );
        TtlMap::builder()
            .ttl(SECOND)
            .clock(clock.clone())
            .on_evict(move |k: &u64, v: &u64, reason| {
                // Passed back and forth a few times, then let go.
                if reason == Reason::Expired && *v < 3 {
                    writes[other]
                        .lock()
                        .unwrap()
                        .push(cache_core::Clock::now(&clock_in));
                    slot.get().unwrap().insert(*k, v + 1);
                }
            })
            .build()
    };
    let (a, b) = (build(1), build(0));
    slots[0].set(a.clone()).ok().unwrap();
    slots[1].set(b.clone()).ok().unwrap();
    for k in 0..20_000u64 {
        writes[0]
            .lock()
            .unwrap()
            .push(cache_core::Clock::now(&clock));
        a.insert(k, 0);
        clock.advance(Duration::from_millis(1));
    }
    // Each key spends 1 s in each map, up to three hops. A map sweeps only on its writes, and
    // `b` is written only from `a`'s sweeps, in batches of one instant: the bound is of the
    // keys stored within the ttl before a map's last write (about 2,000 here, more when a
    // late sweep hopped a backlog at once; a batch that expired since, with no write to remove
    // it, is still held). Allowed: those, plus 1/32, plus 16 per shard, plus one writing
    // thread.
    for (name, map, writes) in [("a", &a, &writes[0]), ("b", &b, &writes[1])] {
        let writes = writes.lock().unwrap();
        let last = *writes.last().unwrap();
        let stored = writes.iter().filter(|&&t| t + SECOND > last).count();
        let bound = stored + stored / 32 + 16 * 16 + 1;
        assert!(
            map.len() <= bound,
            "{name} holds {} (stored within the ttl before its last write {stored}, bound {bound})",
            map.len()
        );
    }
}

/// A key whose `Hash` panics while its test's flag is armed, if it is the bomb (id 0).
#[derive(Clone)]
struct Bomb(u64, &'static AtomicBool);

impl PartialEq for Bomb {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Bomb {}

impl std::hash::Hash for Bomb {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if self.0 == 0 && self.1.load(SeqCst) {
            panic!("the bomb's Hash");
        }
        self.0.hash(state);
    }
}

/// A sweep that finds a shard holding far fewer entries than its room shrinks it, which
/// rehashes the keys that stay. A key's `Hash` that panics there loses no entry: the sweep
/// removes and reports what expired, keeps the rest where lookups find them, and then
/// resumes the panic.
#[test]
fn a_hash_that_panics_while_a_sweep_shrinks_the_table_loses_no_entry() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    let clock = ManualClock::new();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let hear = Arc::clone(&heard);
    let map: TtlMap<Bomb, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .on_evict(move |k: &Bomb, _: &u64, reason| hear.lock().unwrap().push((k.0, reason)))
        .build();
    for id in 1..=20_000 {
        map.insert(Bomb(id, &ARMED), id); // the burst: 1,250 a shard, gone at 60 s
    }
    clock.advance(Duration::from_secs(30));
    let kept: Vec<u64> = (0..=0).chain(30_001..=30_100).collect();
    for &id in &kept {
        map.insert(Bomb(id, &ARMED), id); // live until 90 s
    }
    clock.advance(Duration::from_secs(40));
    ARMED.store(true, SeqCst);
    let swept = std::panic::catch_unwind(|| map.sweep());
    ARMED.store(false, SeqCst);
    let panic = swept.expect_err("no sweep shrank the bomb's table: the test did not attack");
    assert_eq!(tests::panic_message(&*panic), "the bomb's Hash");
    let missing: Vec<u64> = (kept.iter().copied())
        .filter(|&id| id != 0 && !map.contains_key(&Bomb(id, &ARMED)))
        .collect();
    assert!(missing.is_empty(), "live entries lost: {missing:?}");
    assert_eq!(map.len(), kept.len(), "the bomb is held too");
    let expired = heard.lock().unwrap().len();
    assert_eq!(expired, 20_000, "the burst is removed and heard");
    // The table kept its place for the bomb: once its `Hash` works, it is found, replaced
    // rather than stored twice, and listed once (helper-43).
    let bomb = Bomb(0, &ARMED);
    assert_eq!(map.get(&bomb), Some(0), "the live bomb is lost to lookups");
    assert_eq!(map.insert(Bomb(0, &ARMED), 7), Some(0), "stored twice");
    assert_eq!(map.iter().filter(|(k, _)| k.0 == 0).count(), 1);
    assert_eq!(map.len(), kept.len());
    clock.advance(Duration::from_secs(61));
    assert_eq!(map.sweep(), kept.len());
    assert!(
        heard.lock().unwrap().iter().any(|&(id, _)| id == 0),
        "the bomb went unheard"
    );
}

/// `maps` maps in a chain, each listener writing what expired into the next map (1,000
/// entries each: enough for its writes to sweep it); the first is swept on a thread of
/// `stack` bytes. Returns the last map whose listener ran.
fn sweep_a_chain(maps: usize, stack: usize) -> usize {
    let run = move || {
        let clock = ManualClock::new();
        let reached = Arc::new(AtomicUsize::new(0));
        let slots: Vec<Arc<OnceLock<TtlMap<u64, u64>>>> =
            (0..=maps).map(|_| Arc::default()).collect();
        let chain: Vec<TtlMap<u64, u64>> = (0..maps)
            .map(|i| {
                let (next, reached) = (Arc::clone(&slots[i + 1]), Arc::clone(&reached));
                let map = TtlMap::builder()
                    .ttl(SECOND)
                    .clock(clock.clone())
                    .on_evict(move |k: &u64, v: &u64, reason| {
                        reached.fetch_max(i, SeqCst);
                        if reason == Reason::Expired
                            && let Some(next) = next.get()
                        {
                            next.insert(k + 1_000_000, *v);
                        }
                    })
                    .build();
                slots[i].set(map.clone()).ok().unwrap();
                for k in 0..1_000 {
                    map.insert(k, k);
                }
                map
            })
            .collect();
        clock.advance(2 * SECOND);
        chain[0].sweep();
        reached.load(SeqCst)
    };
    let thread = std::thread::Builder::new().stack_size(stack);
    thread.spawn(run).unwrap().join().unwrap()
}

/// A listener of one map's sweep that writes to another sweeps that one, and so on along a
/// chain of maps: at most eight sweeps nest on one thread, so that a long chain cannot
/// exhaust the stack (a 2 MiB thread overflowed at about 600 maps, some 3 KB of stack each in
/// a debug build: helper-43). The maps further on are swept by their own next write,
/// `sweep()` or the sweeper.
#[test]
fn a_chain_of_listeners_across_maps_nests_at_most_eight_sweeps() {
    let reached = sweep_a_chain(20, 2 << 20);
    assert_eq!(
        reached, 7,
        "the eighth map, swept eighth on the stack, heard last"
    );
    tests::in_child(
        "a_chain_of_listeners_across_maps_nests_at_most_eight_sweeps",
        || {
            sweep_a_chain(200, 256 << 10);
        },
    );
}

/// A sweep run from a thread-local's destructor (here a buffer flushed into the map as its
/// thread ends, whose insert sweeps) still knows which maps its thread is sweeping: a
/// listener writing to its own map does not nest a sweep per batch. A 2 MiB thread with
/// 400,000 expired entries overflowed its stack when that record was itself a thread-local
/// already destroyed (helper-43).
#[test]
fn a_sweep_from_a_thread_local_destructor_nests_no_sweep_of_its_own_map() {
    struct Flush(TtlMap<u64, u64>);
    impl Drop for Flush {
        fn drop(&mut self) {
            self.0.insert(u64::MAX, 0);
        }
    }
    thread_local!(static FLUSH: std::cell::RefCell<Option<Flush>> = const {
        std::cell::RefCell::new(None)
    });
    tests::in_child(
        "a_sweep_from_a_thread_local_destructor_nests_no_sweep_of_its_own_map",
        || {
            let run = || {
                let clock = ManualClock::new();
                let slot: Arc<OnceLock<TtlMap<u64, u64>>> = Arc::default();
                let again = Arc::clone(&slot);
                let map: TtlMap<u64, u64> = TtlMap::builder()
                    .ttl(SECOND)
                    .clock(clock.clone())
                    .on_evict(move |k: &u64, v: &u64, reason| {
                        if reason == Reason::Expired && *k < 1 << 40 {
                            again.get().unwrap().insert(k | 1 << 40, *v);
                        }
                    })
                    .build();
                slot.set(map.clone()).ok().unwrap();
                // Registered first, so destroyed after what the map's sweep uses, if anything.
                FLUSH.with(|_| {});
                map.sweep();
                for k in 0..400_000 {
                    map.insert(k, k);
                }
                clock.advance(2 * SECOND);
                FLUSH.with(|flush| *flush.borrow_mut() = Some(Flush(map)));
            };
            let thread = std::thread::Builder::new().stack_size(2 << 20);
            thread.spawn(run).unwrap().join().unwrap();
        },
    );
}
