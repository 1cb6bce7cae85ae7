//! Caught panics' payloads, which are user code too: `panic_any` may throw a value of any
//! type, whose `Drop` may panic in turn. Dropping such a payload where nothing catches it
//! (a `let _ = catch_unwind(..)`, or an `Option::or` that keeps the first panic) lets that
//! second panic escape: from the sweeper's loop it kills the process-wide thread, from a
//! landing it skips the waiters not woken yet.

use crate::map::{Panic, catch};

/// How many panics in a row a payload's `Drop` (and its panics' payloads') may throw before
/// the last payload is leaked instead.
const TRIES: usize = 8;

/// Drops a caught panic's payload, catching any panic its `Drop` throws (and those of the
/// payloads of such panics); a payload whose drop keeps panicking is leaked.
pub(crate) fn discard(payload: Panic) {
    let mut payload = Some(payload);
    for _ in 0..TRIES {
        match catch(&mut || drop(payload.take())) {
            None => return,
            Some(next) => payload = Some(next),
        }
    }
    std::mem::forget(payload);
}

/// The first of two panics, discarding the second (see [`discard`]): `first.or(second)`,
/// without dropping a payload where its `Drop` could escape.
pub(crate) fn first(first: Option<Panic>, second: Option<Panic>) -> Option<Panic> {
    match (first, second) {
        (Some(first), second) => {
            if let Some(second) = second {
                discard(second);
            }
            Some(first)
        }
        (None, second) => second,
    }
}
