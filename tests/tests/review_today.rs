//! Adversarial review of 66ef80d ("the entry waits in an `Option` declared before the lock",
//! the non-generic flight rendezvous): user code that panics while a store rehashes the
//! table, keys whose `Drop` uses the map, and flights whose waiters must get the value.
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, OnceLock, mpsc};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap};

/// A hasher that sends every key to the same bucket chain (and the same shard): the keys
/// crowd one run of groups, so that removing them leaves tombstones and a later store
/// rehashes the table in place.
#[derive(Default)]
struct Crowd;

impl Hasher for Crowd {
    fn finish(&self) -> u64 {
        0x9e37_79b9_7f4a_7c15
    }
    fn write(&mut self, _: &[u8]) {}
}

type Crowded = BuildHasherDefault<Crowd>;

/// A key whose `Hash` panics while its test's flag is armed, if it is the bomb; whose `Drop`
/// may run a hook (which uses the map).
#[derive(Clone)]
struct Touchy {
    id: u64,
    bomb: bool,
    armed: &'static AtomicBool,
    on_drop: Option<fn()>,
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Touchy {}

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.bomb && self.armed.load(SeqCst) {
            panic!("Touchy::hash of the bomb");
        }
        self.id.hash(state);
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        if self.bomb
            && let Some(hook) = self.on_drop
        {
            hook();
        }
    }
}

fn touchy(id: u64, armed: &'static AtomicBool) -> Touchy {
    Touchy {
        id,
        bomb: id == 0,
        armed,
        on_drop: None,
    }
}

/// Churns `map` with the bomb (id 0) held until a store panics (the bomb's `Hash`, when the
/// table rehashes); returns the ids that must still be held, and whether a store panicked.
fn churn_until_a_rehash_panics(
    map: &TtlMap<Touchy, u64, Crowded>,
    armed: &'static AtomicBool,
    bomb: Touchy,
) -> (Vec<u64>, bool) {
    map.insert(bomb, 0);
    for id in 1..=55 {
        map.insert(touchy(id, armed), id);
    }
    for id in 1..=50 {
        map.remove(&touchy(id, armed));
    }
    let mut held: Vec<u64> = (0..=0).chain(51..=55).collect();
    armed.store(true, SeqCst);
    let mut panicked = false;
    for id in 1_000..11_000 {
        let stored = catch_unwind(AssertUnwindSafe(|| map.insert(touchy(id, armed), id)));
        if stored.is_err() {
            panicked = true;
            break;
        }
        held.push(id);
        // Keep few entries, so that the table rehashes in place rather than grows.
        if held.len() > 8 {
            let old = held.remove(1);
            map.remove(&touchy(old, armed));
        }
    }
    armed.store(false, SeqCst);
    (held, panicked)
}

/// A key's `Hash` that panics while a store rehashes the table in place: hashbrown then drops
/// the entries it had not yet moved, under the shard's write lock, and they vanish from the
/// map (no listener hears them, `len` drops). Every other entry must still be held (or at
/// least heard). The bomb itself, whose `Hash` breaks its contract (it does not always give
/// the same hash), may be unreachable by lookups since, but must not be lost either: it goes
/// when it expires, and is heard then.
///
/// Failed at 66ef80d (and before): 6 of 6 held entries vanished. The table now catches a
/// `Hash` that panics in a rehash, files that key under another hash, and resumes the panic
/// once its locks are released.
#[test]
fn a_hash_that_panics_while_a_store_rehashes_loses_no_other_entry() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    let heard: Arc<Mutex<Vec<(u64, Reason)>>> = Arc::default();
    let hear = Arc::clone(&heard);
    let clock = ManualClock::new();
    let map: TtlMap<Touchy, u64, Crowded> = TtlMap::builder()
        .ttl(Duration::from_secs(3600))
        .clock(clock.clone())
        .hasher(Crowded::default())
        .on_evict(move |k: &Touchy, _: &u64, reason| hear.lock().unwrap().push((k.id, reason)))
        .build();
    let (held, panicked) = churn_until_a_rehash_panics(&map, &ARMED, touchy(0, &ARMED));
    assert!(
        panicked,
        "no store rehashed the table: the test did not attack"
    );
    let lost: Vec<u64> = {
        let heard = heard.lock().unwrap();
        (held.iter().copied())
            .filter(|&id| id != 0 && !map.contains_key(&touchy(id, &ARMED)))
            .filter(|id| !heard.iter().any(|(h, _)| h == id))
            .collect()
    };
    assert!(
        lost.is_empty(),
        "entries vanished without a trace when the bomb's Hash panicked in a rehash: {lost:?} \
         (len {} of {} held)",
        map.len(),
        held.len()
    );
    assert!(
        map.len() >= held.len(),
        "len {} of {} held",
        map.len(),
        held.len()
    );
    // Once everything expired, a sweep removes all, the bomb included, and says so.
    clock.advance(Duration::from_secs(3601));
    map.sweep();
    assert!(map.is_empty(), "{} entries left after their ttl", map.len());
    let heard = heard.lock().unwrap();
    assert!(
        heard
            .iter()
            .any(|&(id, reason)| id == 0 && reason == Reason::Expired),
        "the bomb was never heard going"
    );
}

/// The same panic, with a bomb key whose `Drop` uses the map: if hashbrown drops it during the
/// rehash, it is dropped under the shard's write lock, and its `contains_key` waits for that
/// lock forever. Run on a thread, judged with a timeout.
#[test]
fn a_key_dropped_by_a_panicking_rehash_is_not_dropped_under_the_lock() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    static MAP: OnceLock<TtlMap<Touchy, u64, Crowded>> = OnceLock::new();
    fn use_the_map() {
        let map = MAP.get().expect("built");
        let _ = map.contains_key(&touchy(1, &ARMED));
    }
    MAP.get_or_init(|| {
        TtlMap::builder()
            .ttl(Duration::from_secs(3600))
            .clock(ManualClock::new())
            .hasher(Crowded::default())
            .build()
    });
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bomb = touchy(0, &ARMED);
        bomb.on_drop = Some(use_the_map);
        let (_, panicked) = churn_until_a_rehash_panics(MAP.get().unwrap(), &ARMED, bomb);
        let _ = done.send(panicked);
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(panicked) => assert!(panicked, "no store rehashed the table"),
        Err(_) => panic!(
            "deadlock: the bomb key was dropped inside a store's rehash, under the shard's \
             write lock, and its Drop waits for that lock"
        ),
    }
}

/// Change 2's promise: a panicking `expire_after` while storing drops the key after the lock
/// is released, so a key whose `Drop` uses the map does not deadlock.
#[test]
fn a_panicking_expire_after_drops_the_key_after_the_lock() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    static MAP: OnceLock<TtlMap<Touchy, u64>> = OnceLock::new();
    fn use_the_map() {
        let _ = MAP.get().expect("built").contains_key(&touchy(1, &ARMED));
    }
    MAP.get_or_init(|| {
        TtlMap::builder()
            .ttl(Duration::from_secs(3600))
            .clock(ManualClock::new())
            .capacity(4)
            .expire_after(|_: &Touchy, v: &u64| {
                assert!(*v != 7, "expire_after refuses 7");
                None
            })
            .build()
    });
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let map = MAP.get().unwrap();
        map.insert(touchy(1, &ARMED), 1);
        let mut key = touchy(0, &ARMED);
        key.bomb = true; // its Drop uses the map; its Hash is never armed
        key.on_drop = Some(use_the_map);
        let stored = catch_unwind(AssertUnwindSafe(|| map.insert(key, 7)));
        let memo = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(&touchy(2, &ARMED), || 7)
        }));
        let _ = done.send((stored.is_err(), memo.is_err(), map.len()));
    });
    let (stored, memo, len) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("deadlock: a key was dropped under the shard's lock");
    assert!(stored && memo, "expire_after's panic reaches the caller");
    assert_eq!(len, 1, "the map is as it was");
}

/// Change 3's promise: with capacity 0 nothing is stored, and every waiter of the flight still
/// gets the flight's value (its own clone) without running the constructor.
#[test]
fn every_waiter_of_a_flight_gets_its_value_with_capacity_zero() {
    const WAITERS: usize = 6;
    let map: TtlMap<u64, Arc<String>> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(ManualClock::new())
        .capacity(0)
        .build();
    let runs = AtomicUsize::new(0);
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let started = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with(&1, || {
                runs.fetch_add(1, SeqCst);
                started.wait();
                released.lock().unwrap().recv().unwrap();
                Arc::new("built".to_owned())
            })
        });
        started.wait();
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                s.spawn(|| {
                    map.get_or_insert_with(&1, || {
                        runs.fetch_add(1, SeqCst);
                        Arc::new("waiter ran".to_owned())
                    })
                })
            })
            .collect();
        while map.stats().coalesced < WAITERS as u64 {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        assert_eq!(*leader.join().unwrap(), "built");
        for waiter in waiters {
            assert_eq!(*waiter.join().unwrap(), "built");
        }
    });
    assert_eq!(runs.load(SeqCst), 1, "the constructor ran once");
    assert_eq!(map.len(), 0);
}
