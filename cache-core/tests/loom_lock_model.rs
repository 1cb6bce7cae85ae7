//! A loom model of the striped lock's protocol (`src/sharded_lock.rs`): its stripes with
//! parking_lot's orderings (a lock is an Acquire compare-exchange, an unlock a Release), the
//! mask of enlisted stripes acquired by a read and released by an enlisting, and an enlisting
//! under a read lock of the lowest stripe of the mask that read acquired.
//!
//! A model, not the crate's code: the schedule tests (`shuttle_lock.rs`) run the code itself,
//! but shuttle makes every atomic sequentially consistent, and the races this lock can have
//! are of weaker orderings, which loom explores. It found two in the first forms of the
//! enlisting (a relaxed mask; a mask loaded again, relaxed, to pick the stripe to hold): each
//! scenario below fails on the form it is named after. Keep it in step with the lock.

// loom's cell hands out raw pointers: the model reads and writes the value through them, as
// the lock's guards do through theirs, and loom checks those accesses for races.
#![allow(unsafe_code)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::*};
use loom::thread;

const WRITER: usize = 1 << 40;

/// A stripe: a read-write lock word with parking_lot's orderings.
struct Stripe(AtomicUsize);

impl Stripe {
    fn try_lock_shared(&self) -> bool {
        let s = self.0.load(Relaxed);
        s & WRITER == 0 && self.0.compare_exchange(s, s + 1, Acquire, Relaxed).is_ok()
    }
    fn lock_shared(&self) {
        while !self.try_lock_shared() {
            thread::yield_now();
        }
    }
    fn unlock_shared(&self) {
        self.0.fetch_sub(1, Release);
    }
    fn lock_exclusive(&self) {
        while self
            .0
            .compare_exchange(0, WRITER, Acquire, Relaxed)
            .is_err()
        {
            thread::yield_now();
        }
    }
    fn unlock_exclusive(&self) {
        self.0.store(0, Release);
    }
}

struct Lock {
    stripes: Vec<Stripe>,
    enlisted: AtomicUsize,
    value: UnsafeCell<u64>,
}

fn bits(set: usize) -> impl Iterator<Item = usize> {
    (0..usize::BITS as usize).filter(move |i| set & (1 << i) != 0)
}

impl Lock {
    /// `stripes` stripes, those of `enlisted` enlisted (its maker's).
    fn new(stripes: usize, enlisted: usize) -> Arc<Self> {
        Arc::new(Lock {
            stripes: (0..stripes).map(|_| Stripe(AtomicUsize::new(0))).collect(),
            enlisted: AtomicUsize::new(enlisted),
            value: UnsafeCell::new(0),
        })
    }

    /// `lock_enlisted`: every enlisted stripe, the mask checked again once they are held.
    fn write(&self, v: u64) {
        let locked = loop {
            let locking = self.enlisted.load(Relaxed);
            bits(locking).for_each(|i| self.stripes[i].lock_exclusive());
            if self.enlisted.load(Relaxed) == locking {
                break locking;
            }
            bits(locking).for_each(|i| self.stripes[i].unlock_exclusive());
        };
        self.value.with_mut(|p| unsafe { *p = v });
        bits(locked).for_each(|i| self.stripes[i].unlock_exclusive());
    }

    /// `lock_shared` and `enlist`, and the read under stripe `i`.
    fn read_on(&self, i: usize) -> u64 {
        let seen = self.enlisted.load(Acquire);
        if seen & (1 << i) == 0 {
            let held = &self.stripes[seen.trailing_zeros() as usize];
            held.lock_shared();
            self.enlisted.fetch_or(1 << i, Release);
            held.unlock_shared();
        }
        self.stripes[i].lock_shared();
        let v = self.value.with(|p| unsafe { *p });
        self.stripes[i].unlock_shared();
        v
    }
}

/// Two threads of one stripe, neither of which has read the lock: the second finds the
/// stripe enlisted by the first, which no writer has held, and must still see the write
/// before (the race of a relaxed mask).
#[test]
fn a_reader_of_a_stripe_another_enlisted_sees_the_writes_before() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(1);
    model.check(|| {
        let lock = Lock::new(2, 0b01);
        let writer = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || lock.write(1))
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let lock = Arc::clone(&lock);
                thread::spawn(move || lock.read_on(1))
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            assert!(r.join().unwrap() <= 1);
        }
    });
}

/// Four stripes, the lock's maker's the third: a reader enlisting its stripe must hold one
/// whose enlisting it has synchronized with (the race of a mask loaded again to pick it).
#[test]
fn an_enlisting_holds_a_stripe_of_the_mask_it_acquired() {
    loom::model::Builder::new().check(|| {
        let lock = Lock::new(4, 0b100);
        let a = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                lock.write(1);
                lock.read_on(0)
            })
        };
        let b = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || lock.read_on(1))
        };
        assert_eq!(a.join().unwrap(), 1);
        assert!(b.join().unwrap() <= 1);
    });
}
