//! The striped read-write lock under shuttle (`src/sharded_lock.rs`), its own protocol run on
//! stripes of shuttle's atomics: a reader locks only its thread's stripe, enlisting it under the
//! write lock the first time; a writer locks the stripes enlisted, and locks again if one was
//! enlisted while it waited. Checked in every schedule: a write is never seen half done (each
//! writes two fields with a switch between), by readers enlisting their stripes as it writes,
//! by readers sharing a stripe that one of them enlists, nor by readers of several locks at once; a writer's own read under `held_here` panics, and
//! another thread's waits.
//!
//! Each schedule's threads hold slots of their own, lowest first from the main thread's 0, so
//! with two stripes the first thread spawned enlists stripe 1 and the second shares stripe 0.
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_lock --release`.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cache_core::__ShardedLock as Lock;
use shuttle::thread::{self, yield_now};
use shuttle_common::quiet_panics;

const SCHEDULES: usize = 10_000;

type Pair = Lock<(u64, u64)>;

/// Reads the pair twice, with a switch between its two fields, as a reader in the middle of a
/// write would see them.
fn read_whole(lock: &Pair) {
    for _ in 0..2 {
        lock.read(|pair| {
            let first = pair.0;
            yield_now();
            assert_eq!(first, pair.1, "a write was seen half done");
        });
    }
}

/// Writes `(i, i)` for `i` in `values`, with a switch between the two fields.
fn write_in_halves(lock: &Pair, values: std::ops::RangeInclusive<u64>) {
    for i in values {
        lock.write(|pair| {
            pair.0 = i;
            yield_now();
            pair.1 = i;
        });
    }
}

#[test]
fn readers_enlisting_their_stripes_never_see_a_write_half_done() {
    shuttle::check_random(
        || {
            // Four stripes: the main thread's, and one for each reader to enlist.
            let lock = Arc::new(Lock::with_stripes(4, (0, 0)));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let lock = Arc::clone(&lock);
                    thread::spawn(move || {
                        read_whole(&lock);
                        lock.own_stripe()
                    })
                })
                .collect();
            let writer = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || write_in_halves(&lock, 1..=2))
            };
            // Each reader's stripe is its own unless the other had ended and given back its
            // slot before it took one.
            let stripes: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            writer.join().unwrap();
            for stripe in stripes {
                assert_ne!(lock.enlisted() & (1 << stripe), 0, "a reader's stripe");
            }
            assert_eq!(lock.read(|pair| *pair), (2, 2));
        },
        SCHEDULES,
    );
}

#[test]
fn a_writer_that_waited_while_a_stripe_was_enlisted_locks_it_too() {
    shuttle::check_random(
        || {
            // The writer may read the stripes enlisted (the main thread's), wait for the one
            // the reader's enlisting holds, and then find another enlisted.
            let lock = Arc::new(Lock::with_stripes(2, (0, 0)));
            let reader = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || read_whole(&lock))
            };
            let writer = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || write_in_halves(&lock, 1..=1))
            };
            // The main thread too, on its own stripe: its reads wait for the writer like any.
            read_whole(&lock);
            reader.join().unwrap();
            writer.join().unwrap();
            assert_eq!(lock.enlisted(), 0b11);
        },
        SCHEDULES,
    );
}

#[test]
fn readers_sharing_a_stripe_one_of_them_enlists_never_see_a_write_half_done() {
    shuttle::check_random(
        || {
            // Two stripes and three readers: slots 1 and 3 share stripe 1, which neither
            // finds enlisted unless the other enlisted it, and slot 2 shares the main thread's.
            let lock = Arc::new(Lock::with_stripes(2, (0, 0)));
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    let lock = Arc::clone(&lock);
                    thread::spawn(move || read_whole(&lock))
                })
                .collect();
            write_in_halves(&lock, 1..=2);
            for reader in readers {
                reader.join().unwrap();
            }
            assert_eq!(lock.enlisted(), 0b11);
        },
        SCHEDULES,
    );
}

#[test]
fn readers_of_many_locks_see_transfers_between_them_whole() {
    const LOCKS: usize = 3;
    const EACH: u64 = 10;
    shuttle::check_random(
        || {
            // Two stripes each, and five threads: readers share stripes, and each lock has its
            // own enlisted ones.
            let locks: Arc<Vec<Lock<u64>>> =
                Arc::new((0..LOCKS).map(|_| Lock::with_stripes(2, EACH)).collect());
            let transfer = |from: usize, to: usize| {
                let locks = Arc::clone(&locks);
                thread::spawn(move || {
                    // In the locks' order, as any two locks must be taken.
                    let (first, second) = (from.min(to), from.max(to));
                    locks[first].write(|a| {
                        locks[second].write(|b| {
                            let (debit, credit) = if first == from { (a, b) } else { (b, a) };
                            *debit -= 1;
                            yield_now();
                            *credit += 1;
                        })
                    });
                })
            };
            let count = || {
                let locks = Arc::clone(&locks);
                thread::spawn(move || {
                    let sum = locks[0].read(|a| locks[1].read(|b| locks[2].read(|c| a + b + c)));
                    assert_eq!(sum, EACH * LOCKS as u64, "a transfer was seen half done");
                })
            };
            let threads = [transfer(0, 1), count(), transfer(2, 1), count()];
            for thread in threads {
                thread.join().unwrap();
            }
            let balances: Vec<u64> = locks.iter().map(|lock| lock.read(|v| *v)).collect();
            assert_eq!(balances, [EACH - 1, EACH + 2, EACH - 1]);
        },
        SCHEDULES,
    );
}

#[test]
fn a_writer_reading_its_own_lock_under_held_here_panics_and_another_reader_waits() {
    quiet_panics();
    shuttle::check_random(
        || {
            let lock = Arc::new(Lock::with_stripes(2, (0, 0)));
            let reader = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || read_whole(&lock))
            };
            let reentered = catch_unwind(AssertUnwindSafe(|| {
                lock.write_held_here(|pair| {
                    pair.0 = 1;
                    yield_now();
                    pair.1 = 1;
                    lock.read(|_| ());
                })
            }));
            let message = *reentered.unwrap_err().downcast::<&str>().unwrap();
            assert!(message.starts_with("re-entrant use"), "{message}");
            // The writer's stripes were given back as its panic unwound.
            reader.join().unwrap();
            write_in_halves(&lock, 2..=2);
            assert_eq!(lock.read(|pair| *pair), (2, 2));
        },
        SCHEDULES,
    );
}
