//! The `tracing` feature's events: constructions, failures, removals and sweeps, each with the
//! cache's name, and never a key or a value. A subscriber of the test's own records every
//! event's fields as text.
//!
//! Run with `cargo test -p cache-core --features tracing --test tracing`.

#![cfg(feature = "tracing")]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event's message and fields, as `name=value` text.
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
        let mut fields = Fields(format!("target={} ", event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn with(&self, message: &str) -> Vec<String> {
        let quoted = format!("message={message} ");
        self.events()
            .into_iter()
            .filter(|e| e.contains(&quoted))
            .collect()
    }
}

const SECRET: &str = "sk-live-4f9a2c";
const VALUE: &str = "client-for-tenant-7";

#[test]
fn every_event_names_its_cache_and_never_shows_a_key_or_value() {
    let recorder = Recorder::default();
    let clock = ManualClock::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let map: TtlMap<String, String> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .capacity(1)
            .name("tenant_clients")
            .clock(clock.clone())
            .build();
        // A construction, a failure, a panic, an eviction, an expiry and a sweep.
        map.get_or_insert_with(SECRET, || VALUE.to_string());
        let failed =
            map.try_get_or_insert_with(&format!("{SECRET}-2"), || Err::<String, _>(SECRET));
        assert!(failed.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.get_or_insert_with(&format!("{SECRET}-3"), || panic!("{SECRET}"))
        }));
        assert!(panicked.is_err());
        map.insert(format!("{SECRET}-4"), VALUE.to_string()); // evicts the first
        clock.advance(Duration::from_secs(61));
        assert_eq!(map.sweep(), 1);
    });

    let constructed = recorder.with("value constructed");
    assert_eq!(constructed.len(), 1, "{constructed:?}");
    assert!(constructed[0].contains("elapsed_us="));
    let failed = recorder.with("construction failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().any(|e| e.contains("how=\"error\"")));
    assert!(failed.iter().any(|e| e.contains("how=\"panic\"")));
    let removed = recorder.with("entries removed");
    assert!(
        removed.iter().any(|e| e.contains("evicted=1")),
        "{removed:?}"
    );
    assert!(
        removed.iter().any(|e| e.contains("expired=1")),
        "{removed:?}"
    );
    let swept = recorder.with("map swept");
    assert!(swept.iter().any(|e| e.contains("swept=1")), "{swept:?}");

    for event in recorder.events() {
        assert!(event.contains("target=cache_core "), "{event}");
        assert!(event.contains("cache=\"tenant_clients\""), "{event}");
        assert!(
            !event.contains("sk-live"),
            "a key reached an event: {event}"
        );
        assert!(!event.contains(VALUE), "a value reached an event: {event}");
    }
}

#[test]
fn a_map_without_a_name_is_unnamed_in_its_events() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_secs(60));
        map.get_or_insert_with(&1, || 1);
    });
    let constructed = recorder.with("value constructed");
    assert_eq!(constructed.len(), 1);
    assert!(
        constructed[0].contains("cache=\"unnamed\""),
        "{constructed:?}"
    );
}
