//! Review 6: adversarial tests of 6f65ba9..4be0809 (`Incoming`, `Kept`, `Landing`, wakers that
//! panic). Every test here pairs a `Drop` that panics with other user code that panics
//! (a constructor, a `Clone`, a clock) on a path the guards do not cover: a second panic while
//! one unwinds aborts the process, which SPEC ("Promises, precisely") rules out. Time comes
//! from `ManualClock`; aborts show through a child process, hangs through deadlines.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{Clock, ManualClock, TtlMap};
use tests::{in_child, poll_for, wait_until};

const SECOND: Duration = Duration::from_secs(1);

thread_local! {
    /// Clones this thread may still make before `Val::clone` panics (`None`: no limit).
    static CLONES_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
    /// A `Val::clone` about to panic first waits for this to be set.
    static CLONE_GATE: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// `Val::drop` panics on this thread.
    static VAL_DROP_PANICS: Cell<bool> = const { Cell::new(false) };
    /// `Key::drop` panics on this thread.
    static KEY_DROP_PANICS: Cell<bool> = const { Cell::new(false) };
    /// Clock reads this thread may still make before the clock panics (`None`: no limit).
    static READS_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
}

fn flag(key: &'static std::thread::LocalKey<Cell<bool>>) -> bool {
    key.try_with(Cell::get).unwrap_or(false)
}

/// Sets every trap of this thread off.
fn disarm() {
    CLONES_LEFT.set(None);
    CLONE_GATE.set(None);
    VAL_DROP_PANICS.set(false);
    KEY_DROP_PANICS.set(false);
    READS_LEFT.set(None);
}

/// A value whose `Clone` and `Drop` panic when this thread says so.
#[derive(Debug, PartialEq)]
struct Val(u32);

impl Clone for Val {
    fn clone(&self) -> Self {
        if let Some(left) = CLONES_LEFT.get() {
            if left == 0 {
                if let Some(gate) = CLONE_GATE.with_borrow(Clone::clone) {
                    wait_until("the gate opens", || gate.load(SeqCst));
                }
                panic!("Val::clone");
            }
            CLONES_LEFT.set(Some(left - 1));
        }
        Val(self.0)
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        if flag(&VAL_DROP_PANICS) {
            panic!("Val::drop {}", self.0);
        }
    }
}

/// A key whose `Drop` panics when this thread says so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key(u32);

impl Drop for Key {
    fn drop(&mut self) {
        if flag(&KEY_DROP_PANICS) {
            panic!("Key::drop {}", self.0);
        }
    }
}

/// A `ManualClock` that panics once this thread's read budget is spent.
#[derive(Clone, Debug, Default)]
struct TrapClock(ManualClock);

impl Clock for TrapClock {
    fn now(&self) -> Duration {
        if let Ok(Some(left)) = READS_LEFT.try_with(Cell::get) {
            if left == 0 {
                panic!("clock");
            }
            READS_LEFT.set(Some(left - 1));
        }
        self.0.now()
    }
}

// ---------------------------------------------------------------------------------------------
// A leader whose constructor panics: the flight's copy of the key is dropped while unwinding.
// ---------------------------------------------------------------------------------------------

/// `Ticket::drop` -> `land_unfinished` -> `Inner::land` drops the unregistered `Pending`, and
/// with it the flight's copy of the key (`key.to_key()`), plainly, while the constructor's
/// panic unwinds: a key whose `Drop` panics aborts the process. (memo.rs `Inner::land`.)
#[test]
fn a_panicking_constructor_with_a_key_whose_drop_panics_does_not_abort() {
    in_child(
        "a_panicking_constructor_with_a_key_whose_drop_panics_does_not_abort",
        || {
            let map: TtlMap<Key, u32> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            let key = Key(1);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with(&key, || {
                    KEY_DROP_PANICS.set(true);
                    panic!("constructor")
                })
            }));
            disarm();
        },
    );
}

/// The same for an async leader whose future is polled on the caller's stack (a hand-rolled
/// `block_on`): the future is dropped while the constructor's panic unwinds, its
/// `AsyncTicket` lands the flight and drops the `Pending` key plainly.
#[test]
fn a_panicking_async_constructor_with_a_key_whose_drop_panics_does_not_abort() {
    in_child(
        "a_panicking_async_constructor_with_a_key_whose_drop_panics_does_not_abort",
        || {
            let map: TtlMap<Key, u32> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            let key = Key(1);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let call = pin!(map.get_or_insert_with_async(&key, async {
                    KEY_DROP_PANICS.set(true);
                    panic!("constructor")
                }));
                poll_for(call, 5 * SECOND)
            }));
            disarm();
        },
    );
}

/// The landing's own copy (`complete`'s `value.clone()`) panics: its `Ticket` lands the
/// flight as panicked, through the same `Inner::land`, dropping the key while unwinding.
#[test]
fn a_panicking_clone_at_landing_with_a_key_whose_drop_panics_does_not_abort() {
    in_child(
        "a_panicking_clone_at_landing_with_a_key_whose_drop_panics_does_not_abort",
        || {
            let map: TtlMap<Key, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            let key = Key(1);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with(&key, || {
                    KEY_DROP_PANICS.set(true);
                    CLONES_LEFT.set(Some(0));
                    Val(1)
                })
            }));
            disarm();
        },
    );
}

// ---------------------------------------------------------------------------------------------
// A waiter whose clone of the flight's value panics, holding the flight's last reference.
// ---------------------------------------------------------------------------------------------

/// A leader lands key 1 while a waiter, making its call with `wait`, waits; the waiter's
/// clone of the landed value panics once the leader has let go of the flight, and every
/// value's `Drop` panics until the waiter's result is dropped.
fn waiter_clone_panics_holding_the_last_flight_reference<R>(
    wait: impl Fn(&TtlMap<u32, Val>) -> R + Sync,
) {
    let map: Arc<TtlMap<u32, Val>> = Arc::new(
        TtlMap::builder()
            .ttl(60 * SECOND)
            .clock(ManualClock::new())
            .build(),
    );
    let leader_done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            let v = map.get_or_insert_with(&1, || {
                wait_until("the waiter joins", || map.stats().coalesced >= 1);
                Val(1)
            });
            leader_done.store(true, SeqCst);
            v
        });
        wait_until("the leader runs", || map.stats().misses >= 1);
        let waiter = s.spawn(|| {
            CLONES_LEFT.set(Some(0));
            CLONE_GATE.set(Some(Arc::clone(&leader_done)));
            VAL_DROP_PANICS.set(true);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait(&map)));
            disarm();
            drop(r);
        });
        let _ = waiter.join();
        let _ = leader.join();
    });
}

/// `Flight::wait` clones the landed value for the waiter (`Flight::outcome`). If that `Clone`
/// panics, `look_up`'s `flight` (an `Arc`) is dropped plainly while unwinding; once the
/// leader has let go (`land_waiters`' `drop_guarded`), it is the last, and the flight's copy
/// of the value is dropped with it: a value whose `Drop` panics aborts. `let_go` guards this
/// drop only on the path where the clone succeeded.
#[test]
fn a_waiter_whose_clone_panics_holding_the_last_flight_reference_does_not_abort() {
    in_child(
        "a_waiter_whose_clone_panics_holding_the_last_flight_reference_does_not_abort",
        || {
            waiter_clone_panics_holding_the_last_flight_reference(|map| {
                map.get_or_insert_with(&1, || Val(2))
            });
        },
    );
}

/// The async form: `Waiting::poll` clones the value, the clone panics, and the caller's
/// future, pinned on its stack, is dropped while unwinding with the flight's last `Arc`.
#[test]
fn an_async_waiter_whose_clone_panics_holding_the_last_flight_reference_does_not_abort() {
    in_child(
        "an_async_waiter_whose_clone_panics_holding_the_last_flight_reference_does_not_abort",
        || {
            waiter_clone_panics_holding_the_last_flight_reference(|map| {
                let call = pin!(map.get_or_insert_with_async(&1, async { Val(2) }));
                poll_for(call, 20 * SECOND)
            });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// `Incoming` and `store_attempt`.
// ---------------------------------------------------------------------------------------------

/// `store_attempt` builds `Incoming(Some((key.to_key(), value.clone())))`: if the value's
/// `Clone` panics, the key just copied is a temporary dropped plainly while unwinding, so a
/// key whose `Drop` panics aborts. (A waiter of a failed flight makes such an attempt.)
#[test]
fn an_attempt_whose_value_clone_panics_with_a_key_whose_drop_panics_does_not_abort() {
    in_child(
        "an_attempt_whose_value_clone_panics_with_a_key_whose_drop_panics_does_not_abort",
        || {
            let map: TtlMap<Key, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = map.try_get_or_insert_with(&Key(1), || {
                        wait_until("the waiter joins", || map.stats().coalesced >= 1);
                        Err::<Val, ()>(())
                    });
                });
                wait_until("the leader runs", || map.stats().misses >= 1);
                let key = Key(1);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.try_get_or_insert_with(&key, || {
                        KEY_DROP_PANICS.set(true);
                        CLONES_LEFT.set(Some(0));
                        Ok::<_, ()>(Val(2))
                    })
                }));
                disarm();
            });
        },
    );
}

/// `Incoming::drop` outside a panic drops `(key, value)` as one tuple: if the key's `Drop`
/// panics, the value is dropped while that panic unwinds, and a value whose `Drop` panics
/// too aborts. (Everywhere else a key and a value are dropped each on its own,
/// `drop_guarded(k)` then `drop_guarded(v)`.) Reached by a flight that an `insert`
/// invalidated: `complete` drops its unstored entry with `drop(pending)`.
#[test]
fn an_invalidated_landing_whose_key_and_value_drops_panic_does_not_abort() {
    in_child(
        "an_invalidated_landing_whose_key_and_value_drops_panic_does_not_abort",
        || {
            let map: TtlMap<Key, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            std::thread::scope(|s| {
                s.spawn(|| {
                    let key = Key(1);
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        map.get_or_insert_with(&key, || {
                            wait_until("the insert", || map.stats().inserts >= 1);
                            KEY_DROP_PANICS.set(true);
                            VAL_DROP_PANICS.set(true);
                            Val(1)
                        })
                    }));
                    disarm();
                });
                wait_until("the leader runs", || map.stats().misses >= 1);
                map.insert(Key(1), Val(5));
            });
        },
    );
}

/// The same tuple drop, outside any flight: an own attempt whose key has a live value by the
/// time it would store (`store_attempt` returns early, dropping its `Incoming` plainly).
#[test]
fn an_unstored_attempt_whose_key_and_value_drops_panic_does_not_abort() {
    in_child(
        "an_unstored_attempt_whose_key_and_value_drops_panic_does_not_abort",
        || {
            let map: TtlMap<Key, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = map.try_get_or_insert_with(&Key(1), || {
                        wait_until("the waiter joins", || map.stats().coalesced >= 1);
                        Err::<Val, ()>(())
                    });
                });
                wait_until("the leader runs", || map.stats().misses >= 1);
                let key = Key(1);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.try_get_or_insert_with(&key, || {
                        // Another caller stores the key meanwhile, but not its epoch.
                        std::thread::scope(|s| {
                            s.spawn(|| map.get_or_insert_with(&Key(1), || Val(9)));
                        });
                        KEY_DROP_PANICS.set(true);
                        VAL_DROP_PANICS.set(true);
                        Ok::<_, ()>(Val(2))
                    })
                }));
                disarm();
            });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Clones and clocks that panic with entries in hand.
// ---------------------------------------------------------------------------------------------

/// `iter`: `Table::live` collects clones into a `Vec` under the read lock; if one `Clone`
/// panics, the clones already made are dropped plainly while unwinding: a value whose `Drop`
/// panics aborts.
#[test]
fn an_iter_whose_second_clone_panics_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "an_iter_whose_second_clone_panics_with_a_panicking_value_drop_does_not_abort",
        || {
            // A capacity keeps every entry in one shard.
            let map: TtlMap<u32, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .capacity(100)
                .clock(ManualClock::new())
                .build();
            map.insert(1, Val(1));
            map.insert(2, Val(2));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                CLONES_LEFT.set(Some(1));
                VAL_DROP_PANICS.set(true);
                map.iter().count()
            }));
            disarm();
        },
    );
}

/// `retain` reads the clock once per shard, unguarded, while `removed` holds the entries of
/// the shards before: a clock that panics there drops them plainly while unwinding, so a
/// value whose `Drop` panics aborts (and the listener never hears them).
#[test]
fn a_retain_whose_clock_panics_midway_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "a_retain_whose_clock_panics_midway_with_a_panicking_value_drop_does_not_abort",
        || {
            let map: TtlMap<u32, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(TrapClock::default())
                .build();
            for i in 0..200 {
                map.insert(i, Val(i));
            }
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                READS_LEFT.set(Some(1));
                VAL_DROP_PANICS.set(true);
                map.retain(|_, _| false);
            }));
            disarm();
        },
    );
}

/// `after_store_slow` reads the clock for the sweep a store made due (`self.now()`), unguarded,
/// while it holds the live entry the store replaced: a clock that panics there drops it
/// plainly while unwinding, so a value whose `Drop` panics aborts.
#[test]
fn an_insert_whose_sweep_clock_read_panics_holding_the_replaced_value_does_not_abort() {
    in_child(
        "an_insert_whose_sweep_clock_read_panics_holding_the_replaced_value_does_not_abort",
        || {
            let clock = TrapClock::default();
            let map: TtlMap<u32, Val> = TtlMap::builder()
                .ttl(60 * SECOND)
                .capacity(10_000)
                .clock(clock.clone())
                .build();
            for i in 0..100 {
                map.insert(i, Val(i));
            }
            clock.0.advance(30 * SECOND);
            map.insert(1_000, Val(1_000));
            // The first 100 expire: more than the shard's allowance, so the next insert sweeps.
            clock.0.advance(31 * SECOND);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                READS_LEFT.set(Some(1));
                VAL_DROP_PANICS.set(true);
                map.insert(1_000, Val(1_001))
            }));
            disarm();
        },
    );
}
