//! The backplane: one pub/sub channel per tier that tells every process when a flight landed
//! (so its waiters look again instead of polling) and when a key or a map was invalidated (so
//! its L1 drops it).
//!
//! Messages carry digests and map tags, never keys:
//! - `d` + digest: a flight for that digest landed or gave up;
//! - `i` + tag + digest: the key was removed;
//! - `c` + tag: the map was cleared.
//!
//! Each subscription starts a new epoch, and an L1 entry records the epoch its fetch started
//! in. An invalidation sent while no subscription was listening may have been missed:
//! - while a dropped connection went unnoticed: so each later subscription drops every L1
//!   entry of an earlier epoch at once (and the flights in progress do not store);
//! - before the first subscription: the first calls of a process wait for it (at most the
//!   tier's timeout, once: a slower one is no failure of Redis), and a value fetched before it
//!   anyway (epoch 0) is not served once it has
//!   happened: a hit that finds one fetches again. (The first subscription drops nothing at
//!   once, so the flights waiting for it keep their values.)
//!
//! A "landed" sent while no subscription was listening is lost the same way, and a lost one
//! cannot be told from one not sent yet: so each subscription wakes every waiter of the tier,
//! which looks again at once instead of a third of the lease later.
//!
//! A subscription only receives, and a connection whose other end vanished without a reset (a
//! NAT or a load balancer that forgot the idle flow, a Redis host that lost power or was cut
//! off) never ends by itself: nothing arrives, and nothing says so. So a subscription that
//! has heard nothing for four of the tier's timeouts (1 s by default) is sent a `PING`, and
//! one that does not answer within four more is given up, with a warning: the listener
//! subscribes again on a new connection, which begins a new epoch as after any drop. Any
//! message or answer, even an error (an ACL without `PING`), proves the connection alive.
//! Four timeouts, as for a subscription to land: a healthy Redis answers within one, and the
//! slack keeps a Redis that stalls for under four from costing every process its L1 (a
//! longer stall may, depending on where it falls between `PING`s), while a silent connection
//! is noticed within eight (2 s by default) for one `PING` per quiet second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::Either;
use futures_util::{FutureExt as _, StreamExt as _};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::naming::{DIGEST_LEN, Digest};
use crate::payload::catch;

/// What the backplane asks of a map of the tier.
pub(crate) trait Invalidate: Send + Sync {
    /// Drops the keys with these digests from this process's copy: a run of removals in one
    /// pass over it.
    fn invalidate(&self, digests: &[Digest]);
    /// Drops every key from this process's copy.
    fn clear_local(&self);
    /// Drops every entry whose fetch started before `epoch`.
    fn forget_before(&self, epoch: u64);
}

#[derive(Default)]
pub(crate) struct Backplane {
    /// Waiters of fleet-wide flights, by digest, with how many wait.
    waiters: Mutex<HashMap<Digest, (Arc<Notify>, usize)>>,
    maps: Mutex<Vec<(u64, Weak<dyn Invalidate>)>>,
    /// How many times the listener has subscribed: 0 until it first has. Read by every hit.
    epoch: AtomicU64,
    /// The same, for callers waiting for the first subscription.
    subscriptions: tokio::sync::watch::Sender<u64>,
}

/// A registration to be woken when the flight for `digest` lands; dropped when done waiting.
pub(crate) struct Waiter {
    backplane: Arc<Backplane>,
    digest: Digest,
    pub(crate) notify: Arc<Notify>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiters = self.backplane.waiters.lock();
        if let Some((_, count)) = waiters.get_mut(&self.digest) {
            *count -= 1;
            if *count == 0 {
                waiters.remove(&self.digest);
            }
        }
    }
}

impl Backplane {
    pub(crate) fn waiter(self: &Arc<Self>, digest: Digest) -> Waiter {
        let mut waiters = self.waiters.lock();
        let (notify, count) = waiters
            .entry(digest)
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        *count += 1;
        Waiter {
            backplane: Arc::clone(self),
            digest,
            notify: Arc::clone(notify),
        }
    }

    /// The current epoch (see the module docs).
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Returns once the listener has subscribed at least once.
    pub(crate) async fn subscribed(&self) {
        let mut subscriptions = self.subscriptions.subscribe();
        let _ = subscriptions.wait_for(|count| *count > 0).await;
    }

    /// Starts a new epoch: entries of the earlier ones are no longer served, and every waiter
    /// looks again (see the module docs).
    fn begin_epoch(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        self.subscriptions.send_replace(epoch);
        if epoch > 1 {
            for map in self.maps(None) {
                let _ = catch(&mut || map.forget_before(epoch));
            }
        }
        for (notify, _) in self.waiters.lock().values() {
            notify.notify_waiters();
        }
    }

    pub(crate) fn register(&self, tag: u64, map: Weak<dyn Invalidate>) {
        let mut maps = self.maps.lock();
        maps.retain(|(_, map)| map.strong_count() > 0);
        maps.push((tag, map));
    }

    fn maps(&self, tag: Option<u64>) -> Vec<Arc<dyn Invalidate>> {
        let maps = self.maps.lock();
        maps.iter()
            .filter(|(t, _)| tag.is_none_or(|tag| *t == tag))
            .filter_map(|(_, map)| map.upgrade())
            .collect()
    }

    /// Dispatches messages that arrived together, in order, except that removals wait in
    /// `removals` until a message that is not one of them (or the end): each pass over an L1
    /// drops a whole run of its keys, so a fleet that removes many keys at once does not cost
    /// every process one pass over its L1 per key.
    fn dispatch(&self, payload: &[u8], removals: &mut Removals) {
        match payload {
            [b'd', digest @ ..] if digest.len() == DIGEST_LEN => {
                let digest: Digest = digest.try_into().expect("checked length");
                if let Some((notify, _)) = self.waiters.lock().get(&digest) {
                    notify.notify_waiters();
                }
            }
            [b'i', rest @ ..] if rest.len() == 8 + DIGEST_LEN => {
                let tag = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
                let digest: Digest = rest[8..].try_into().expect("checked length");
                if removals.tag != Some(tag) {
                    self.flush(removals);
                    removals.tag = Some(tag);
                }
                removals.digests.push(digest);
            }
            [b'c', tag @ ..] if tag.len() == 8 => {
                self.flush(removals);
                let tag = u64::from_le_bytes(tag.try_into().expect("8 bytes"));
                for map in self.maps(Some(tag)) {
                    let _ = catch(&mut || map.clear_local());
                }
            }
            // Another version's message, or noise: nothing of ours.
            _ => {}
        }
    }

    /// Drops the removed keys that [`dispatch`](Self::dispatch) holds from their map's L1.
    fn flush(&self, removals: &mut Removals) {
        if let Some(tag) = removals.tag.take() {
            for map in self.maps(Some(tag)) {
                let _ = catch(&mut || map.invalidate(&removals.digests));
            }
        }
        removals.digests.clear();
    }
}

/// A run of removals from one map, not yet dropped from its L1.
#[derive(Default)]
struct Removals {
    tag: Option<u64>,
    digests: Vec<Digest>,
}

/// The most messages dispatched together, so that a flood of them still lets the listener's
/// other work (and its L1 passes) keep up.
const BATCH: usize = 1024;

pub(crate) fn landed(digest: &Digest) -> Vec<u8> {
    let mut message = Vec::with_capacity(1 + DIGEST_LEN);
    message.push(b'd');
    message.extend_from_slice(digest);
    message
}

pub(crate) fn removed(tag: u64, digest: &Digest) -> Vec<u8> {
    let mut message = Vec::with_capacity(1 + 8 + DIGEST_LEN);
    message.push(b'i');
    message.extend_from_slice(&tag.to_le_bytes());
    message.extend_from_slice(digest);
    message
}

pub(crate) fn cleared(tag: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(1 + 8);
    message.push(b'c');
    message.extend_from_slice(&tag.to_le_bytes());
    message
}

/// How many of the tier's timeouts the listener gives a subscription to land, a quiet
/// subscription before it sends a `PING`, and that `PING` to be answered (see the module
/// docs).
const PATIENCE: u32 = 4;

/// The listener: subscribes through each node in turn until one answers, dispatches every
/// message, and subscribes again when the connection drops or goes silent. Runs until the
/// tier's runtime stops.
pub(crate) async fn listen(
    backplane: Arc<Backplane>,
    nodes: Vec<redis::Client>,
    channel: String,
    timeout: Duration,
    namespace: String,
) {
    let patience = timeout.saturating_mul(PATIENCE);
    let mut pause = Duration::from_millis(50);
    let mut streak = Streak::default();
    for client in nodes.iter().cycle() {
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        // Connecting is bounded like any operation; a dead node must not stall the backplane.
        let pubsub = match tokio::time::timeout(patience, subscribe).await {
            Ok(Ok(pubsub)) => pubsub,
            failed => {
                let error = failed.ok().and_then(Result::err);
                streak.failed(nodes.len(), error.as_ref(), &namespace);
                tokio::time::sleep(pause).await; // sleep-ok: back-off before reconnecting
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        pause = Duration::from_millis(50);
        streak.subscribed(&namespace);
        off_the_runtime(&backplane, Backplane::begin_epoch).await;
        let (mut sink, mut messages) = pubsub.split();
        loop {
            let message = match tokio::time::timeout(patience, messages.next()).await {
                Ok(Some(message)) => message,
                // The connection dropped.
                Ok(None) => break,
                // Quiet: ask (see the module docs). A message that arrives meanwhile is an
                // answer too, and is dispatched at once: the answer to the `PING` may never
                // come (a flow that lost one direction only) while messages still do.
                Err(_) => {
                    let ping = std::pin::pin!(sink.ping::<redis::Value>());
                    let heard = futures_util::future::select(ping, messages.next());
                    match tokio::time::timeout(patience, heard).await {
                        // Any answer, even an error (an ACL without `PING`), a value here.
                        Ok(Either::Left((Ok(_), _))) => continue,
                        Ok(Either::Left((Err(_), _)) | Either::Right((None, _))) => break,
                        Ok(Either::Right((Some(message), _))) => message,
                        Err(_) => {
                            streak.silent(&namespace);
                            break;
                        }
                    }
                }
            };
            let mut batch = vec![message.get_payload_bytes().to_vec()];
            // The messages already here go with it.
            for _ in 1..BATCH {
                let Some(Some(message)) = messages.next().now_or_never() else {
                    break;
                };
                batch.push(message.get_payload_bytes().to_vec());
            }
            off_the_runtime(&backplane, move |backplane| {
                let mut removals = Removals::default();
                for payload in &batch {
                    backplane.dispatch(payload, &mut removals);
                }
                backplane.flush(&mut removals);
            })
            .await;
        }
    }
}

/// The listener's failures to subscribe since its last subscription. While it cannot
/// subscribe, this process hears no invalidation (its L1 serves removed values until they
/// expire) and no "landed" (its waiters look again only every third of the lease): so a run
/// of failures through every node is logged, once, and so is the subscription that ends it
/// (or that replaces one that went silent).
/// A refusal (Redis answered with an error: an ACL without `SUBSCRIBE`, a renamed command)
/// will not pass by itself and is an error; a node down or slow is a warning, logged again
/// if a refusal follows. The error's kind and code only: its text can quote the channel, and
/// the URL holds the password.
#[derive(Default)]
struct Streak {
    failures: usize,
    /// What was logged of this streak: `Some(true)` a refusal, `Some(false)` a failure.
    logged: Option<bool>,
}

impl Streak {
    /// `error` is `None` for a subscription that timed out.
    fn failed(&mut self, nodes: usize, error: Option<&redis::RedisError>, namespace: &str) {
        self.failures += 1;
        // A cluster's seed that is down is no news while another one subscribes.
        if self.failures < nodes {
            return;
        }
        let code = error.and_then(redis::RedisError::code);
        let refused = code.is_some()
            || error.is_some_and(|e| e.kind() == redis::ErrorKind::AuthenticationFailed);
        if self.logged.is_some_and(|logged| logged || !refused) {
            return;
        }
        self.logged = Some(refused);
        let kind = error.map_or_else(|| "timed out".to_owned(), |e| format!("{:?}", e.kind()));
        if refused {
            tracing::error!(
                target: "cache_core::redis",
                namespace = %namespace,
                %kind,
                code,
                "redis tier backplane cannot subscribe: Redis refuses it, so removals and \
                 clears made by other processes do not reach this one's cache until it allows it"
            );
        } else {
            tracing::warn!(
                target: "cache_core::redis",
                namespace = %namespace,
                %kind,
                "redis tier backplane cannot subscribe: removals and clears made by other \
                 processes do not reach this one's cache until it does"
            );
        }
    }

    /// The subscription heard nothing, not even the answer to a `PING`: its connection is
    /// given up as dead, and the next subscription, if it lands, is logged like the end of a
    /// streak.
    fn silent(&mut self, namespace: &str) {
        tracing::warn!(
            target: "cache_core::redis",
            namespace = %namespace,
            "redis tier backplane heard nothing, not even the answer to a PING: it gives the \
             connection up and subscribes again; removals and clears made by other processes \
             meanwhile may have been lost, so what this process's cache fetched before is \
             dropped once it has"
        );
        self.logged = Some(false);
    }

    fn subscribed(&mut self, namespace: &str) {
        if self.logged.is_some() {
            tracing::info!(
                target: "cache_core::redis",
                namespace = %namespace,
                "redis tier backplane subscribed again: invalidations arrive again"
            );
        }
        *self = Streak::default();
    }
}

/// Runs `work` on a blocking thread: the maps' listeners and values' `Drop` run there (in
/// `begin_epoch` and `dispatch`), and a slow one must not hold up the tier's runtime, which
/// renews the leases of this process's flights meanwhile. User code that panics is caught
/// where it runs, so the listener goes on.
async fn off_the_runtime(
    backplane: &Arc<Backplane>,
    work: impl FnOnce(&Backplane) + Send + 'static,
) {
    let backplane = Arc::clone(backplane);
    let _ = tokio::task::spawn_blocking(move || work(&backplane)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Counting {
        invalidated: AtomicUsize,
        passes: AtomicUsize,
        cleared: AtomicUsize,
        forgot_before: AtomicU64,
    }

    impl Invalidate for Counting {
        fn invalidate(&self, digests: &[Digest]) {
            self.invalidated.fetch_add(digests.len(), Ordering::Relaxed);
            self.passes.fetch_add(1, Ordering::Relaxed);
        }
        fn clear_local(&self) {
            self.cleared.fetch_add(1, Ordering::Relaxed);
        }
        fn forget_before(&self, epoch: u64) {
            self.forgot_before.store(epoch, Ordering::Relaxed);
        }
    }

    #[test]
    fn each_subscription_after_the_first_drops_the_earlier_epochs() {
        let backplane = Backplane::default();
        let map = Arc::new(Counting::default());
        backplane.register(1, Arc::downgrade(&map) as Weak<dyn Invalidate>);
        assert_eq!(backplane.epoch(), 0);
        backplane.begin_epoch();
        assert_eq!(
            map.forgot_before.load(Ordering::Relaxed),
            0,
            "not the first"
        );
        backplane.begin_epoch();
        assert_eq!(backplane.epoch(), 2);
        assert_eq!(*backplane.subscriptions.borrow(), 2);
        assert_eq!(map.forgot_before.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn messages_reach_the_map_of_their_tag_only() {
        let backplane = Backplane::default();
        let (a, b) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        backplane.register(1, Arc::downgrade(&a) as Weak<dyn Invalidate>);
        backplane.register(2, Arc::downgrade(&b) as Weak<dyn Invalidate>);
        let mut removals = Removals::default();
        backplane.dispatch(&removed(1, &[9; DIGEST_LEN]), &mut removals);
        backplane.dispatch(&cleared(2), &mut removals);
        backplane.dispatch(b"garbage", &mut removals);
        backplane.flush(&mut removals);
        assert_eq!(a.invalidated.load(Ordering::Relaxed), 1);
        assert_eq!(b.invalidated.load(Ordering::Relaxed), 0);
        assert_eq!(b.cleared.load(Ordering::Relaxed), 1);
        assert_eq!(a.cleared.load(Ordering::Relaxed), 0);
    }

    /// A run of removals from one map is one pass over its L1; another map's removal or a
    /// clear in between ends the run, so the order of what a map sees is kept.
    #[test]
    fn a_run_of_removals_is_one_pass() {
        let backplane = Backplane::default();
        let (a, b) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        backplane.register(1, Arc::downgrade(&a) as Weak<dyn Invalidate>);
        backplane.register(2, Arc::downgrade(&b) as Weak<dyn Invalidate>);
        let mut removals = Removals::default();
        for i in 0..100 {
            backplane.dispatch(&removed(1, &[i; DIGEST_LEN]), &mut removals);
        }
        assert_eq!(
            a.passes.load(Ordering::Relaxed),
            0,
            "held until the run ends"
        );
        backplane.dispatch(&removed(2, &[0; DIGEST_LEN]), &mut removals);
        assert_eq!(a.passes.load(Ordering::Relaxed), 1);
        assert_eq!(a.invalidated.load(Ordering::Relaxed), 100);
        backplane.dispatch(&cleared(2), &mut removals);
        assert_eq!(
            b.passes.load(Ordering::Relaxed),
            1,
            "dropped before the clear"
        );
        assert_eq!(b.cleared.load(Ordering::Relaxed), 1);
        backplane.dispatch(&removed(1, &[7; DIGEST_LEN]), &mut removals);
        backplane.flush(&mut removals);
        assert_eq!(a.passes.load(Ordering::Relaxed), 2);
        assert_eq!(a.invalidated.load(Ordering::Relaxed), 101);
        backplane.flush(&mut removals);
        assert_eq!(a.passes.load(Ordering::Relaxed), 2, "nothing left to drop");
    }

    #[test]
    fn each_subscription_wakes_every_waiter() {
        let backplane = Arc::new(Backplane::default());
        let (a, b) = (
            backplane.waiter([1; DIGEST_LEN]),
            backplane.waiter([2; DIGEST_LEN]),
        );
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for epoch in 1..=2 {
            let mut landed: Vec<_> = [&a, &b]
                .map(|waiter| Box::pin(Arc::clone(&waiter.notify).notified_owned()))
                .into();
            for landed in &mut landed {
                landed.as_mut().enable();
                assert!(landed.as_mut().poll(&mut cx).is_pending());
            }
            backplane.begin_epoch();
            for landed in &mut landed {
                assert!(
                    landed.as_mut().poll(&mut cx).is_ready(),
                    "subscription {epoch}"
                );
            }
        }
    }

    /// What the listener logs of its failures to subscribe (see [`Streak`]).
    #[test]
    fn a_streak_is_logged_once_when_every_node_failed_and_again_for_a_refusal() {
        let refused = || {
            redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm),
                "no",
            ))
        };
        let down = || redis::RedisError::from((redis::ErrorKind::Io, "down"));
        let mut streak = Streak::default();
        streak.failed(3, Some(&down()), "t");
        streak.failed(3, None, "t");
        assert_eq!(streak.logged, None, "another seed may yet subscribe");
        streak.failed(3, Some(&down()), "t");
        assert_eq!(streak.logged, Some(false), "every seed failed");
        streak.failed(3, Some(&refused()), "t");
        assert_eq!(streak.logged, Some(true), "a refusal is news");
        streak.failed(3, Some(&down()), "t");
        assert_eq!(streak.logged, Some(true));
        streak.subscribed("t");
        assert_eq!((streak.failures, streak.logged), (0, None), "a new streak");
        streak.failed(1, Some(&refused()), "t");
        assert_eq!(streak.logged, Some(true), "one node: at once");
    }

    #[test]
    fn waiters_are_counted_and_forgotten() {
        let backplane = Arc::new(Backplane::default());
        let first = backplane.waiter([1; DIGEST_LEN]);
        let second = backplane.waiter([1; DIGEST_LEN]);
        assert!(Arc::ptr_eq(&first.notify, &second.notify));
        drop(first);
        assert_eq!(backplane.waiters.lock().len(), 1);
        drop(second);
        assert!(backplane.waiters.lock().is_empty());
    }
}
