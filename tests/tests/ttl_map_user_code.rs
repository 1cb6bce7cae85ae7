//! User code that fights the map: listeners that write to it or panic, values whose `Drop`
//! panics, `retain` predicates that panic, sweeps racing sweeps (found by an adversarial review).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap};

/// Runs this very test in a child process (env CHILD=1); returns its exit status.
fn in_child(name: &str) -> Option<std::process::ExitStatus> {
    if std::env::var_os("ATTACK_CHILD").is_some() {
        return None;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("ATTACK_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "child stderr (tail): {}",
        &err[err.len().saturating_sub(600)..]
    );
    Some(out.status)
}

/// A listener that refreshes an expired key by inserting it again (or stores anything on
/// expiry): each insert helps the sweep in progress, whose next batch calls the listener,
/// whose insert helps... one stack frame chain per 64 buckets.
#[test]
fn a_listener_that_inserts_on_expiry_does_not_overflow_the_stack() {
    if let Some(status) = in_child("a_listener_that_inserts_on_expiry_does_not_overflow_the_stack")
    {
        assert!(status.success(), "child died: {status:?}");
        return;
    }
    let clock = ManualClock::new();
    let slot: Arc<Mutex<Option<TtlMap<u64, u64>>>> = Arc::new(Mutex::new(None));
    let hook = Arc::clone(&slot);
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .on_evict(move |k: &u64, v: &u64, reason| {
            if reason == Reason::Expired && *v == 0 {
                let map = hook.lock().unwrap().clone().unwrap();
                map.insert(*k, 1); // refresh: stored again
            }
        })
        .build();
    *slot.lock().unwrap() = Some(map.clone());
    let n: u64 = std::env::var("ATTACK_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    for k in 0..n {
        map.insert(k, 0);
    }
    clock.advance(Duration::from_secs(61));
    // On a thread with the default 2 MiB stack.
    let m = map.clone();
    std::thread::spawn(move || {
        m.insert(u64::MAX, 1);
    })
    .join()
    .unwrap();
    *slot.lock().unwrap() = None;
}

static DROP_PANICS: AtomicBool = AtomicBool::new(false);
struct Bomb;
impl Drop for Bomb {
    fn drop(&mut self) {
        if DROP_PANICS.load(SeqCst) {
            panic!("Bomb::drop");
        }
    }
}

/// A panicking listener for an entry whose value's Drop panics: the value is dropped while
/// unwinding from the listener's panic, inside `removed`'s catch_unwind: a panic during a
/// panic aborts the process.
#[test]
fn a_panicking_listener_and_a_panicking_drop_do_not_abort() {
    if let Some(status) = in_child("a_panicking_listener_and_a_panicking_drop_do_not_abort") {
        assert!(status.success(), "child died (abort?): {status:?}");
        return;
    }
    let map: TtlMap<u32, Arc<Bomb>> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .on_evict(|_, _, _| panic!("listener"))
        .build();
    map.insert(1, Arc::new(Bomb));
    DROP_PANICS.store(true, SeqCst);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.clear()));
    assert!(r.is_err(), "the listener's panic is resumed");
    DROP_PANICS.store(false, SeqCst);
}

/// `retain` whose predicate panics: the entries it already took out of earlier shards are
/// dropped without the listener hearing of them (and are not counted as expirations).
#[test]
fn retain_with_a_panicking_predicate_tells_the_listener_what_it_removed() {
    let clock = ManualClock::new();
    let heard = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&heard);
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .on_evict(move |_, _, _| {
            h.fetch_add(1, SeqCst);
        })
        .build();
    for k in 0..1000 {
        map.insert(k, k);
    }
    let seen = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.retain(|_, _| {
            if seen.fetch_add(1, SeqCst) == 500 {
                panic!("predicate");
            }
            false
        })
    }));
    assert!(r.is_err());
    let gone = 1000 - map.len();
    assert!(gone > 0);
    assert_eq!(
        heard.load(SeqCst),
        gone,
        "removed {gone} entries, listener heard of {}",
        heard.load(SeqCst)
    );
}

/// `sweep()` "removes every expired entry now": not if a sweep of an earlier `now` is in
/// progress (its thread is in a listener between batches); the call finishes that one.
#[test]
fn sweep_removes_every_entry_expired_now_even_while_another_sweep_is_in_progress() {
    let clock = ManualClock::new();
    let gate = Arc::new(Barrier::new(2));
    let armed = Arc::new(AtomicBool::new(false));
    let (g, a) = (Arc::clone(&gate), Arc::clone(&armed));
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(usize::MAX) // one shard
        .clock(clock.clone())
        .on_evict(move |_, _, _| {
            if a.swap(false, SeqCst) {
                g.wait(); // the sweep's first batch is done
                g.wait(); // until the main thread has swept
            }
        })
        .build();
    for k in 0..1000 {
        map.insert(k, k); // deadlines at 60 s
    }
    clock.advance(Duration::from_secs(30));
    for k in 1000..2000 {
        map.insert(k, k); // deadlines at 90 s
    }
    clock.advance(Duration::from_secs(31)); // t = 61: the first thousand expired
    armed.store(true, SeqCst);
    let m = map.clone();
    let sweeper = std::thread::spawn(move || m.sweep());
    gate.wait();
    clock.advance(Duration::from_secs(30)); // t = 91: all expired
    let swept = map.sweep();
    gate.wait();
    let _ = sweeper.join();
    assert_eq!(
        map.len(),
        0,
        "after sweep() at t = 91 ({swept} swept here), expired entries remain"
    );
}

/// Re-entrant listeners on the same map and key (should all hold).
#[test]
fn listeners_that_reenter_the_map_on_the_same_key_do_not_deadlock() {
    let slot: Arc<Mutex<Option<TtlMap<u32, u32>>>> = Arc::new(Mutex::new(None));
    let hook = Arc::clone(&slot);
    let depth = Arc::new(AtomicUsize::new(0));
    let d = depth.clone();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(2)
        .on_evict(move |k: &u32, _: &u32, _reason| {
            if d.fetch_add(1, SeqCst) > 50 {
                return;
            }
            let map = hook.lock().unwrap().clone().unwrap();
            map.insert(*k, 7);
            map.remove(k);
            map.get_or_insert_with(k, || 8);
            map.clear();
            map.retain(|_, _| true);
            map.sweep();
        })
        .build();
    *slot.lock().unwrap() = Some(map.clone());
    let (tx, rx) = mpsc::channel();
    let m = map.clone();
    std::thread::spawn(move || {
        for k in 0..10 {
            m.insert(k, k);
            m.get_or_insert_with(&(k + 100), || {
                m.remove(&(k + 100));
                m.clear();
                1
            });
        }
        let _ = tx.send(());
    });
    assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok(), "deadlock");
    *slot.lock().unwrap() = None;
}
