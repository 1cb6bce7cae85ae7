//! The fleet tier logs an outage once and its recovery once, a backplane that cannot
//! subscribe once per streak of failures, one that went silent once, and never a key or a
//! password. Its own test binary:
//! the recorder is the process's global subscriber (the tier's events come from whichever
//! thread notices), shared by its tests, each of which counts its own tier's events (by
//! namespace).

use std::fmt::Debug;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::RedisTier;
use tests::fleet::{clients_running, eventually, value_of};
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
    /// The process's recorder, installed as its global subscriber by the first test to ask.
    fn installed() -> Recorder {
        static RECORDER: LazyLock<Recorder> = LazyLock::new(|| {
            let recorder = Recorder::default();
            tracing::subscriber::set_global_default(recorder.clone()).expect("the only subscriber");
            recorder
        });
        RECORDER.clone()
    }

    /// The events of the tier of `namespace` that hold `text`.
    fn count(&self, namespace: &str, text: &str) -> usize {
        let namespace = format!("namespace={namespace} ");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.contains(&namespace) && e.contains(text))
            .count()
    }

    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn an_outage_and_its_recovery_are_each_logged_once_without_keys() {
    let recorder = Recorder::installed();
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
    assert_eq!(
        recorder.count("logs", "redis tier unavailable"),
        1,
        "logged once"
    );

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
        recorder.count("logs", "redis tier recovered"),
        1,
        "recovery logged once"
    );
    assert_eq!(
        recorder.count("logs", "redis tier unavailable"),
        1,
        "and no second outage"
    );
    let events = recorder.events();
    assert!(
        events.iter().all(|e| !e.contains("sk-")),
        "no key in any event: {events:?}"
    );
}

/// How many `SUBSCRIBE`s `server` has refused (an ACL's `NOPERM`).
fn refused_subscriptions(server: &RedisServer) -> u64 {
    let stats = server.command(&["INFO", "commandstats"]);
    let line = stats
        .lines()
        .find(|line| line.starts_with("cmdstat_subscribe:"));
    let rejected = line.and_then(|line| {
        line.split(',')
            .find_map(|field| field.strip_prefix("rejected_calls="))
    });
    rejected.map_or(0, |count| count.parse().expect("a count"))
}

/// An ACL that forbids `SUBSCRIBE` (or a `rename-command`) leaves the backplane unable to
/// hear invalidations and "landed" messages while every other command works: not silently.
/// An error is logged once per streak of refusals, without the password or a key, and the
/// subscription that ends the streak is logged too.
#[test]
fn a_refused_subscription_is_logged_once_per_streak_without_secrets() {
    const PASSWORD: &str = "pw-never-logged";
    let recorder = Recorder::installed();
    let server = RedisServer::start();
    let acl = |rule: &str| {
        server.command(&["ACL", "SETUSER", "app", rule]);
    };
    for rule in [
        "on",
        &format!(">{PASSWORD}"),
        "~*",
        "&*",
        "+@all",
        "-subscribe",
    ] {
        acl(rule);
    }
    let runtime = two_worker_runtime();
    let url = format!("redis://app:{PASSWORD}@127.0.0.1:{}/", server.port());
    let tier = RedisTier::new(url)
        .expect("a Redis URL")
        .namespace("refused")
        .timeout(Duration::from_secs(2));
    let map = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_logs::refused")
        .shared(tier)
        .build();
    let key = "sk-live-refused";
    let value = runtime.block_on(map.get_or_insert_with_async(key, async { value_of(key) }));
    assert_eq!(value, value_of(key), "calls go on");

    let refusal = "redis tier backplane cannot subscribe";
    // The listener tries again and again (its back-off starts at 50 ms): one event for all.
    eventually(
        "three subscriptions refused",
        Duration::from_secs(10),
        || refused_subscriptions(&server) >= 3,
    );
    assert_eq!(
        recorder.count("refused", refusal),
        1,
        "a refused subscription is logged, once: {:?}",
        recorder.events()
    );
    assert_eq!(
        recorder.count("refused", "ERROR target=cache_core::redis "),
        1
    );

    acl("+subscribe");
    let subscribed = "redis tier backplane subscribed again";
    eventually(
        "the end of the streak is logged",
        Duration::from_secs(10),
        || recorder.count("refused", subscribed) == 1,
    );

    // A second streak: the subscription is killed and refused again.
    acl("-subscribe");
    let before = refused_subscriptions(&server);
    server.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    eventually(
        "three more subscriptions refused",
        Duration::from_secs(10),
        || refused_subscriptions(&server) >= before + 3,
    );
    assert_eq!(
        recorder.count("refused", refusal),
        2,
        "once per streak: {:?}",
        recorder.events()
    );
    acl("+subscribe");
    eventually(
        "the second streak's end is logged",
        Duration::from_secs(10),
        || recorder.count("refused", subscribed) == 2,
    );
    assert_eq!(
        recorder.count("refused", "redis tier unavailable"),
        0,
        "Redis is up"
    );

    let events = recorder.events();
    assert!(
        events
            .iter()
            .all(|e| !e.contains("sk-") && !e.contains(PASSWORD)),
        "no key or password in any event: {events:?}"
    );
}

/// A subscription that hears nothing, not even the answer to a `PING` (Redis frozen here, by
/// SIGSTOP: to this process, the same as a flow that a NAT forgot), is given up with one
/// warning however long the silence lasts (the attempts to subscribe again that time out
/// meanwhile are the same news), and the subscription that replaces it is logged too. The
/// replacement begins a new epoch: what was fetched before is dropped.
#[test]
fn a_silent_subscription_is_logged_once_and_so_is_its_replacement() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let recorder = Recorder::installed();
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let tier = RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("silent")
        .timeout(TIMEOUT);
    let map = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_logs::silent")
        .shared(tier)
        .build();
    let key = "sk-live-silent";
    runtime.block_on(map.get_or_insert_with_async(key, async { value_of(key) }));
    eventually("the listener subscribed", Duration::from_secs(5), || {
        clients_running(&server, "subscribe") == 1
    });
    runtime.block_on(map.get_or_insert_with_async(key, async { value_of(key) }));
    assert!(map.contains_key(key));

    server.pause();
    let silent = "redis tier backplane heard nothing";
    // 4 quiet timeouts, then 4 for the PING.
    eventually("the silence is logged", TIMEOUT.saturating_mul(30), || {
        recorder.count("silent", silent) == 1
    });
    std::thread::sleep(TIMEOUT.saturating_mul(12)); // sleep-ok: attempts to subscribe time out against the frozen Redis
    server.resume();
    eventually("the replacement is logged", Duration::from_secs(10), || {
        recorder.count("silent", "redis tier backplane subscribed again") == 1
    });
    eventually(
        "what was fetched before is dropped",
        Duration::from_secs(5),
        || !map.contains_key(key),
    );
    assert_eq!(
        recorder.count("silent", silent),
        1,
        "once: {:?}",
        recorder.events()
    );
    assert_eq!(
        recorder.count("silent", "cannot subscribe"),
        0,
        "the same news: {:?}",
        recorder.events()
    );
    let events = recorder.events();
    assert!(
        events.iter().all(|e| !e.contains("sk-")),
        "no key in any event: {events:?}"
    );
}
