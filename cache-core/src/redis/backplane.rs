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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::naming::{DIGEST_LEN, Digest};
use crate::map::catch;

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

/// The listener: subscribes through each node in turn until one answers, dispatches every
/// message, and subscribes again when the connection drops. Runs until the tier's runtime
/// stops.
pub(crate) async fn listen(
    backplane: Arc<Backplane>,
    nodes: Vec<redis::Client>,
    channel: String,
    timeout: Duration,
) {
    let mut pause = Duration::from_millis(50);
    for client in nodes.iter().cycle() {
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        // Connecting is bounded like any operation; a dead node must not stall the backplane.
        let Ok(Ok(pubsub)) = tokio::time::timeout(timeout.saturating_mul(4), subscribe).await
        else {
            tokio::time::sleep(pause).await; // sleep-ok: back-off before reconnecting
            pause = (pause * 2).min(Duration::from_secs(2));
            continue;
        };
        pause = Duration::from_millis(50);
        off_the_runtime(&backplane, Backplane::begin_epoch).await;
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
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
