use std::sync::{Arc, Mutex};

use cache_core::Reason;

/// What a [`recorder`]'s listener heard.
pub type Heard<K, V> = Arc<Mutex<Vec<(K, V, Reason)>>>;

/// A listener that records what it hears, and the record.
pub fn recorder<K, V>() -> (Heard<K, V>, impl Fn(&K, &V, Reason) + Send + Sync + 'static)
where
    K: Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heard);
    let listener = move |k: &K, v: &V, reason: Reason| {
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((k.clone(), v.clone(), reason));
    };
    (heard, listener)
}

/// What the listener heard since the last call, in order.
pub fn take<K, V>(heard: &Heard<K, V>) -> Vec<(K, V, Reason)> {
    std::mem::take(&mut *heard.lock().unwrap_or_else(|e| e.into_inner()))
}

/// [`take`], sorted by key: where the order across shards is unspecified.
pub fn take_sorted<K: Ord, V>(heard: &Heard<K, V>) -> Vec<(K, V, Reason)> {
    let mut all = take(heard);
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}
