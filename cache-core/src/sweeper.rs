//! The one background thread that sweeps every map built with `sweep_every`.
//!
//! It holds maps only through `Weak` references, so dropping a map's last handle frees it
//! and it drops out of the schedule; the thread starts with the first such map.

use std::sync::{OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::payload::catch;

/// A map, as far as the sweeper is concerned.
pub(crate) trait Sweep: Send + Sync {
    fn sweep(&self) -> usize;
}

struct Scheduled {
    map: Weak<dyn Sweep>,
    every: Duration,
    /// `None` when the interval is too long to represent: never due.
    due: Option<Instant>,
}

#[derive(Default)]
struct Sweeper {
    schedule: Mutex<Vec<Scheduled>>,
    changed: Condvar,
}

static SWEEPER: OnceLock<Sweeper> = OnceLock::new();

/// Sweeps `map` every `every` from now on, for as long as it is alive.
pub(crate) fn register(map: Weak<dyn Sweep>, every: Duration) {
    let sweeper = SWEEPER.get_or_init(|| {
        // If no thread can be had, maps go unswept in the background; the write path still
        // keeps their memory bounded, so this is no reason to fail building a map.
        let _ = std::thread::Builder::new()
            .name("cache-core-sweeper".into())
            .spawn(|| run(SWEEPER.wait()));
        Sweeper::default()
    });
    let due = Instant::now().checked_add(every);
    sweeper.schedule.lock().push(Scheduled { map, every, due });
    sweeper.changed.notify_one();
}

fn run(sweeper: &Sweeper) -> ! {
    loop {
        let due_now = {
            let mut schedule = sweeper.schedule.lock();
            schedule.retain(|s| s.map.strong_count() > 0);
            let now = Instant::now();
            let mut due_now = Vec::new();
            for s in schedule
                .iter_mut()
                .filter(|s| s.due.is_some_and(|d| d <= now))
            {
                due_now.push(Weak::clone(&s.map));
                s.due = now.checked_add(s.every);
            }
            if due_now.is_empty() {
                match schedule.iter().filter_map(|s| s.due).min() {
                    Some(next) => drop(sweeper.changed.wait_until(&mut schedule, next)),
                    None => sweeper.changed.wait(&mut schedule),
                }
                continue;
            }
            due_now
        };
        // Strong references live only for the sweep itself, outside the schedule's lock.
        // Nothing a map's user code does (a panicking listener, or a value whose `Drop`
        // panics when the map's last handle goes away during the sweep, freeing it here) may
        // end sweeping for every map in the process, not even a panic whose payload's `Drop`
        // panics too (`panic_any` of a user's type).
        for map in due_now {
            drop(catch(&mut || {
                if let Some(map) = map.upgrade() {
                    map.sweep();
                }
            }));
        }
    }
}
