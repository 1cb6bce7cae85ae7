//! Schedules of flights of keys that share one hash: flights landing while flights of other
//! keys of that hash start and waiters join, with `remove` and `clear` racing them. (Written
//! for a flights registry that reused places through a free list, commit 30dc353, since
//! taken back; what they check holds for any.)
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_shared_hash --release`.

#![cfg(feature = "shuttle")]

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use cache_core::TtlMap;
use shuttle::thread;

const SCHEDULES: usize = 20_000;

/// Every key hashes to the same 64 bits.
#[derive(Clone, Copy, Default)]
struct OneHash;

struct Constant;

impl Hasher for Constant {
    fn finish(&self) -> u64 {
        0xdead_beef_0000_0001
    }
    fn write(&mut self, _: &[u8]) {}
}

impl BuildHasher for OneHash {
    type Hasher = Constant;
    fn build_hasher(&self) -> Constant {
        Constant
    }
}

type Map = Arc<TtlMap<u64, u64, OneHash>>;

fn map() -> Map {
    Arc::new(
        TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .hasher(OneHash)
            .build(),
    )
}

/// A memoizing call of `key` whose constructor yields once and returns `key * 10`; notes in
/// `started` that its constructor ran.
fn call(map: &Map, key: u64, started: &Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    let (map, started) = (Arc::clone(map), Arc::clone(started));
    thread::spawn(move || {
        map.get_or_insert_with(&key, || {
            started.store(true, SeqCst);
            thread::yield_now();
            key * 10
        })
    })
}

/// Promises (README, Single flight: every caller gets its own flight's outcome; Invalidation
/// wins: "once remove has returned, no body that was running for an affected key when it was
/// called stores its value", and only for that key). Keys 1, 2 and 3 share a hash; two callers
/// of 2, one of 1, one of 3 (whose flight may reuse 1's position), and a `remove(1)`.
#[test]
fn flights_of_one_hash_reusing_positions_keep_their_outcomes_and_invalidation() {
    shuttle::check_random(
        || {
            let map = map();
            let started1 = Arc::new(AtomicBool::new(false));
            let ignore = Arc::new(AtomicBool::new(false));
            let one = call(&map, 1, &started1);
            let twos = [call(&map, 2, &ignore), call(&map, 2, &ignore)];
            let three = call(&map, 3, &ignore);
            let remover = {
                let (map, started1) = (Arc::clone(&map), Arc::clone(&started1));
                thread::spawn(move || {
                    let running = started1.load(SeqCst);
                    map.remove(&1);
                    running
                })
            };
            assert_eq!(one.join().unwrap(), 10);
            for two in twos {
                assert_eq!(two.join().unwrap(), 20, "each caller gets its key's value");
            }
            assert_eq!(three.join().unwrap(), 30);
            let one_began_before_remove = remover.join().unwrap();
            if one_began_before_remove {
                assert_eq!(map.get(&1), None, "a flight older than remove(1) stored");
            }
            assert_eq!(map.get(&2), Some(20));
            assert_eq!(map.get(&3), Some(30));
            assert_eq!(map.len(), map.iter().count());
        },
        SCHEDULES,
    );
}

/// Promise (README, Invalidation wins, for `clear`): flights of keys sharing a hash that began
/// before `clear` was called store nothing; waiters still get their flight's value.
#[test]
fn clear_wins_over_every_flight_of_one_hash() {
    shuttle::check_random(
        || {
            let map = map();
            let started = [1, 2].map(|_| Arc::new(AtomicBool::new(false)));
            let leaders = [call(&map, 1, &started[0]), call(&map, 2, &started[1])];
            let waiter = call(&map, 2, &Arc::new(AtomicBool::new(false)));
            let clearer = {
                let (map, started) = (Arc::clone(&map), started.clone());
                thread::spawn(move || {
                    let running = started.map(|s| s.load(SeqCst));
                    map.clear();
                    running
                })
            };
            let [a, b] = leaders;
            assert_eq!(a.join().unwrap(), 10);
            assert_eq!(b.join().unwrap(), 20);
            assert_eq!(waiter.join().unwrap(), 20);
            let running = clearer.join().unwrap();
            // The waiter of 2 may lead a flight of its own after `clear` (then it stores).
            if running[0] {
                assert_eq!(map.get(&1), None, "a flight older than clear stored");
            }
            assert_eq!(map.len(), map.iter().count());
        },
        SCHEDULES,
    );
}
