//! The circuit breaker: after a Redis failure, calls skip Redis for a cool-down, then one call
//! probes it.
//!
//! Closed (Redis is used) → a failure opens it for the cool-down (doubling while probes keep
//! failing, up to [`MAX_COOLDOWN`]) → after it, one caller at a time probes; a success closes
//! it. Each opening and each recovery is logged once, with the tier's namespace and the error's
//! kind: never a key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The first cool-down after a failure.
const MIN_COOLDOWN: Duration = Duration::from_millis(500);
/// The longest cool-down, however long Redis stays down.
const MAX_COOLDOWN: Duration = Duration::from_secs(30);

pub(crate) struct Breaker {
    /// Whether `state.open_until` is set: read alone while closed, so a healthy tier's calls
    /// take no lock here.
    open: AtomicBool,
    state: Mutex<State>,
    namespace: String,
}

struct State {
    /// `None` while closed.
    open_until: Option<Instant>,
    /// When the current probe started: a probe whose caller went away must not keep the
    /// breaker open forever, so another may start once this is a cool-down old.
    probe: Option<Instant>,
    cooldown: Duration,
}

impl Breaker {
    pub(crate) fn new(namespace: &str) -> Self {
        Breaker {
            open: AtomicBool::new(false),
            state: Mutex::new(State {
                open_until: None,
                probe: None,
                cooldown: MIN_COOLDOWN,
            }),
            namespace: namespace.to_owned(),
        }
    }

    /// Whether this call may use Redis.
    pub(crate) fn allow(&self) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return true;
        }
        let mut state = self.state.lock();
        let Some(open_until) = state.open_until else {
            return true;
        };
        let now = Instant::now();
        if now < open_until {
            return false;
        }
        match state.probe {
            Some(started) if now < started + state.cooldown => false,
            _ => {
                state.probe = Some(now);
                true
            }
        }
    }

    /// Whether calls go on without Redis now (the breaker is open).
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub(crate) fn success(&self) {
        if !self.open.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock();
        self.open.store(false, Ordering::Release);
        if state.open_until.take().is_some() {
            tracing::info!(
                target: "cache_core::redis",
                namespace = %self.namespace,
                "redis tier recovered: values are shared again"
            );
        }
        state.probe = None;
        state.cooldown = MIN_COOLDOWN;
    }

    pub(crate) fn failure(&self, error: &redis::RedisError) {
        let mut state = self.state.lock();
        if state.open_until.is_none() {
            // The error's kind and category only: its text can quote a command, and so a key.
            tracing::warn!(
                target: "cache_core::redis",
                namespace = %self.namespace,
                kind = ?error.kind(),
                category = error.category(),
                "redis tier unavailable: serving from this process's cache until it recovers"
            );
        } else if state.probe.is_some() {
            state.cooldown = (state.cooldown * 2).min(MAX_COOLDOWN);
        }
        state.open_until = Some(Instant::now() + state.cooldown);
        state.probe = None;
        self.open.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> redis::RedisError {
        redis::RedisError::from((redis::ErrorKind::Io, "down"))
    }

    #[test]
    fn a_failure_opens_it_and_a_successful_probe_closes_it() {
        let breaker = Breaker::new("t");
        assert!(breaker.allow());
        breaker.failure(&failed());
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "open during the cool-down");
        breaker.state.lock().open_until = Some(Instant::now());
        assert!(breaker.allow(), "one probe after it");
        assert!(!breaker.allow(), "and only one");
        breaker.success();
        assert!(!breaker.is_open() && breaker.allow());
    }

    #[test]
    fn failed_probes_lengthen_the_cool_down_up_to_its_cap() {
        let breaker = Breaker::new("t");
        breaker.failure(&failed());
        for _ in 0..20 {
            breaker.state.lock().open_until = Some(Instant::now());
            assert!(breaker.allow());
            breaker.failure(&failed());
        }
        assert_eq!(breaker.state.lock().cooldown, MAX_COOLDOWN);
    }

    #[test]
    fn an_abandoned_probe_does_not_keep_it_open() {
        let breaker = Breaker::new("t");
        breaker.failure(&failed());
        let past = Instant::now() - MAX_COOLDOWN;
        {
            let mut state = breaker.state.lock();
            state.open_until = Some(past);
            state.probe = Some(past);
        }
        assert!(breaker.allow(), "a probe that never reported is replaced");
    }
}
