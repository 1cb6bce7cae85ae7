//! Sync constructors waiting for each other from several threads, under shuttle's schedules:
//! the wait that would close a cycle panics in every schedule (shuttle itself fails a
//! schedule whose threads all block), and a chain of waits that is no cycle never panics,
//! however the landing of a flight in the chain interleaves with its waiter's wake-up
//! (`src/deadlock.rs`).
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_deadlock --release`.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use cache_core::TtlMap;
use shuttle::thread;
use shuttle_common::{flag, quiet_panics, spin_until};

const SCHEDULES: usize = 10_000;

type Map = TtlMap<u32, u32>;

fn map() -> Map {
    Map::new(Duration::from_secs(60))
}

/// Whether a call ended in the panic of a wait that would close a cycle.
fn deadlocked<T>(ended: &std::thread::Result<T>) -> bool {
    let message = |p: &Box<dyn std::any::Any + Send>| p.downcast_ref::<&str>().copied();
    matches!(ended, Err(p) if message(p).is_some_and(|m| m.starts_with("deadlock")))
}

/// A's constructor asks for B's key and B's for A's, each led on its own thread once both
/// lead: exactly one of the two waits panics, and the other thread gets a value.
#[test]
fn two_constructors_that_need_each_others_keys_never_hang() {
    quiet_panics();
    shuttle::check_random(
        || {
            let (a, b) = (map(), map());
            let (a_leads, b_leads) = (flag(), flag());
            let lead =
                |own: Map, other: Map, mine: Arc<AtomicBool>, theirs: Arc<AtomicBool>, value| {
                    thread::spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| {
                            own.get_or_insert_with(&1, || {
                                mine.store(true, SeqCst);
                                spin_until(|| theirs.load(SeqCst));
                                other.get_or_insert_with(&1, || value) + 1
                            })
                        }))
                    })
                };
            let x = lead(a.clone(), b.clone(), a_leads.clone(), b_leads.clone(), 10);
            let y = lead(b.clone(), a.clone(), b_leads, a_leads, 20);
            let (x, y) = (x.join().unwrap(), y.join().unwrap());
            assert_eq!(usize::from(deadlocked(&x)) + usize::from(deadlocked(&y)), 1);
            assert!(matches!((&x, &y), (Ok(11), _) | (_, Ok(21))));
        },
        SCHEDULES,
    );
}

/// Thread `h` leads key 1 and, inside, waits for key 2, led by thread `g`; `g` lands key 2
/// and at once asks for key 1, waiting for `h`, which may not have woken from its wait for
/// key 2 yet: a chain through a landed flight, no cycle. Nothing panics, and both get their
/// values.
#[test]
fn a_wait_on_a_thread_still_waking_from_a_landed_flight_never_panics() {
    quiet_panics();
    shuttle::check_random(
        || {
            let map = map();
            let g_leads = flag();
            let h = {
                let (map, g_leads) = (map.clone(), g_leads.clone());
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        spin_until(|| g_leads.load(SeqCst));
                        map.get_or_insert_with(&2, || 0) + 1
                    })
                })
            };
            let g = {
                let map = map.clone();
                thread::spawn(move || {
                    let two = map.get_or_insert_with(&2, || {
                        g_leads.store(true, SeqCst);
                        spin_until(|| map.stats().coalesced == 1);
                        5
                    });
                    two + map.get_or_insert_with(&1, || 0)
                })
            };
            assert_eq!(h.join().unwrap(), 6);
            assert_eq!(g.join().unwrap(), 11);
        },
        SCHEDULES,
    );
}
