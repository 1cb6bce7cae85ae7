//! The fleet tier logs an outage once and its recovery once, and never a key. Its own test
//! binary: the recorder is the process's global subscriber (the tier's events come from
//! whichever thread notices).

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::RedisTier;
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event's level, target and fields, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("{} target={} ", meta.level(), meta.target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn count(&self, text: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.contains(text))
            .count()
    }
}

#[test]
fn an_outage_and_its_recovery_are_each_logged_once_without_keys() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).expect("the only subscriber");
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    let tier = RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("logs")
        // A killed server refuses connections at once: the outage needs no short timeout,
        // and a 100 ms one also failed healthy operations of a loaded machine (a second
        // outage logged).
        .timeout(Duration::from_secs(2));
    let map = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_logs::map")
        .shared(tier.clone())
        .build();
    let call = |key: String| {
        runtime.block_on(map.get_or_insert_with_async(&key, async { format!("v-{}", key.len()) }))
    };
    assert_eq!(call("sk-live-first".into()), "v-13");

    server.kill();
    // Long enough for probes after the first cool-downs (0.5 s, then 1 s) to fail too.
    let outage = Instant::now();
    let mut i = 0;
    while outage.elapsed() < Duration::from_millis(1800) {
        i += 1;
        let key = format!("sk-live-{i:04}");
        assert_eq!(
            call(key.clone()),
            format!("v-{}", key.len()),
            "served while Redis is down"
        );
        std::thread::sleep(Duration::from_millis(50)); // sleep-ok: the breaker's real cool-down
    }
    assert!(tier.is_degraded());
    assert_eq!(recorder.count("redis tier unavailable"), 1, "logged once");

    server.restart();
    let start = Instant::now();
    let mut i = 0;
    while tier.is_degraded() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the tier recovers by itself"
        );
        i += 1;
        call(format!("sk-live-after-{i}"));
        std::thread::sleep(Duration::from_millis(50)); // sleep-ok: the breaker's real cool-down
    }
    assert_eq!(
        recorder.count("redis tier recovered"),
        1,
        "recovery logged once"
    );
    assert_eq!(
        recorder.count("redis tier unavailable"),
        1,
        "and no second outage"
    );
    let events = recorder.0.lock().unwrap().clone();
    assert!(
        events.iter().all(|e| !e.contains("sk-")),
        "no key in any event: {events:?}"
    );
}
