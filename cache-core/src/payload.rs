//! Panics caught in user code, to resume once the map is consistent.
//!
//! A caught panic's payload is user code too: `panic_any` may throw a value of any type, whose
//! `Drop` may panic in turn. A [`Panic`] that is not resumed (the second of two, or one the
//! sweeper thread caught) drops its payload where such a panic is caught, so that it cannot
//! escape: from the sweeper's loop it would kill the process-wide thread, from a landing skip
//! the waiters not woken yet, from a `clear` leave entries unheard, and while another panic
//! unwinds abort the process.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// How many panics in a row a payload's `Drop` (and its panics' payloads') may throw before
/// the last payload is leaked instead.
const TRIES: usize = 8;

/// A panic caught in user code.
pub(crate) struct Panic(Box<dyn Any + Send>);

impl Panic {
    /// Goes on with the panic.
    pub(crate) fn resume(mut self) -> ! {
        // `Box<()>` allocates nothing: the payload leaves without running this type's `Drop`.
        let payload = std::mem::replace(&mut self.0, Box::new(()));
        panic::resume_unwind(payload)
    }
}

impl Drop for Panic {
    /// Inlined, as `Option<Panic>`s are dropped on every write, nearly always `None`.
    #[inline]
    fn drop(&mut self) {
        discard(std::mem::replace(&mut self.0, Box::new(())));
    }
}

/// Drops a payload, catching any panic its `Drop` throws (and those of such panics'
/// payloads); a payload whose drop keeps panicking is leaked.
#[cold]
#[inline(never)]
fn discard(mut payload: Box<dyn Any + Send>) {
    for _ in 0..TRIES {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Runs user code (a listener, a `Drop`), catching its panic. Not generic, so that it is
/// compiled once rather than once per closure of every key and value type.
pub(crate) fn catch(user_code: &mut dyn FnMut()) -> Option<Panic> {
    panic::catch_unwind(AssertUnwindSafe(user_code))
        .err()
        .map(Panic)
}

/// Resumes the first panic caught in user code, once there is nothing left to do.
pub(crate) fn resume(panicked: Option<Panic>) {
    if let Some(panic) = panicked {
        panic.resume();
    }
}
