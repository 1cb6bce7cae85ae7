//! What the shuttle scenario files share (each uses part of it).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use shuttle::thread;

/// Yields to shuttle's scheduler until `done` holds.
pub fn spin_until(done: impl Fn() -> bool) {
    while !done() {
        thread::yield_now();
    }
}

/// A flag one thread raises for another.
pub fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Silences the default hook's message for the panics the scenarios provoke on purpose
/// (payloads starting with "boom", the waits that would close a cycle, "deadlock", and a
/// lock asked for again by its holder, "re-entrant use").
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let quiet = info.payload().downcast_ref::<&str>().is_some_and(|m| {
                ["boom", "deadlock", "re-entrant use"]
                    .iter()
                    .any(|p| m.starts_with(p))
            });
            if !quiet {
                default(info);
            }
        }));
    });
}
