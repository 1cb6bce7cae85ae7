//! Helpers of the fleet tier's tests (`tests/tests/fleet_*.rs` and the `fleet_worker` bin): the
//! settings every worker process shares, a poll loop in real time, and taps that record what
//! Redis sees.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};

use crate::redis_server::RedisServer;

/// The namespace of the worker processes' tier (and of the tests' tiers that join them).
pub const WORKER_NAMESPACE: &str = "fleet";
/// The name of the map every worker process shares.
pub const WORKER_MAP: &str = "fleet_worker::map";
/// The lease of the worker processes' flights: a dead leader's key is taken over within about
/// this long.
pub const WORKER_LEASE: Duration = Duration::from_secs(1);
/// The workers' bound on one Redis operation: generous, so that a loaded machine does not make
/// a healthy Redis look down (the process tests are about single flight, not about faults).
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(2);

/// The tier of a worker process (or of a test that joins the workers' fleet) on `url`.
pub fn worker_tier(url: &str) -> RedisTier {
    RedisTier::new(url)
        .expect("a Redis URL")
        .namespace(WORKER_NAMESPACE)
        .timeout(WORKER_TIMEOUT)
        .lease(WORKER_LEASE)
}

/// The map every worker process shares, through `tier`.
pub fn worker_map(tier: RedisTier) -> Shared<String, String> {
    TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name(WORKER_MAP)
        .shared(tier)
        .build()
}

/// One process's map of `String` to `String` named `name` (ttl 60 s) through `tier`, with the
/// builder's extra `settings`.
pub fn string_map_with(
    tier: RedisTier,
    name: &'static str,
    settings: impl FnOnce(cache_core::Builder<String, String>) -> cache_core::Builder<String, String>,
) -> Shared<String, String> {
    let builder = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name(name);
    settings(builder).shared(tier).build()
}

/// [`string_map_with`] with no extra settings.
pub fn string_map(tier: RedisTier, name: &'static str) -> Shared<String, String> {
    string_map_with(tier, name, |builder| builder)
}

/// The one right value of `key` in every fleet test: a wrong value is seen wherever it shows.
pub fn value_of(key: &str) -> String {
    format!("value of {key}")
}

/// How many of the server's clients last ran `command` (as `CLIENT LIST` names it: `evalsha`,
/// `subscribe`, ...). A client's last command is set once the server has run it, so this tells
/// when a tier's script (a `FETCH`, say) has been answered.
pub fn clients_running(server: &RedisServer, command: &str) -> usize {
    let wanted = format!("cmd={command}");
    server
        .command(&["CLIENT", "LIST"])
        .lines()
        .filter(|line| line.split(' ').any(|field| field == wanted))
        .count()
}

/// Polls `done` every 10 ms until it holds; panics naming `what` after `patience`. For
/// conditions that real processes and timers make true.
pub fn eventually(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < patience,
            "gave up after {patience:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10)); // sleep-ok: polling real processes
    }
}

/// Waits, in real time, until `deadline`: for values to age in Redis, whose clock (`TIME`) no
/// `ManualClock` can move.
pub fn let_redis_time_reach(deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now())); // sleep-ok: Redis's clock is real time
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// What [`Tap::stop`] has the server send the tap before it stops.
const TAP_MARKER: &str = "end-of-tap-marker";

/// A raw connection that records every byte Redis sends it after one command: `MONITOR` (every
/// command the server runs, with its arguments, including those scripts run) or `SUBSCRIBE`
/// (every message on a channel). Stopped on drop.
pub struct Tap {
    /// A command that makes the server send the tap `TAP_MARKER`: the last thing to record.
    marker: Vec<String>,
    stream: TcpStream,
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Tap {
    /// Records every command `server` runs from now on.
    pub fn monitor(server: &RedisServer) -> Tap {
        let marker = vec!["ECHO".to_owned(), TAP_MARKER.to_owned()];
        Tap::start(server, &["MONITOR"], b"+OK\r\n", marker)
    }

    /// Records every message published on `channel` from now on.
    pub fn subscribe(server: &RedisServer, channel: &str) -> Tap {
        let marker = vec![
            "PUBLISH".to_owned(),
            channel.to_owned(),
            TAP_MARKER.to_owned(),
        ];
        Tap::start(server, &["SUBSCRIBE", channel], b":1\r\n", marker)
    }

    /// Sends `command`, waits for a reply that ends with `ack` (so the tap is in place when
    /// this returns), then records in the background.
    fn start(server: &RedisServer, command: &[&str], ack: &[u8], marker: Vec<String>) -> Tap {
        let mut stream =
            TcpStream::connect(("127.0.0.1", server.port())).expect("a connection to Redis");
        let mut message = format!("*{}\r\n", command.len()).into_bytes();
        for arg in command {
            message.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        stream
            .write_all(&message)
            .expect("the tap's command is sent");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        let mut reply = Vec::new();
        while !reply.ends_with(ack) {
            let mut byte = [0; 1];
            let read = stream
                .read(&mut byte)
                .expect("the tap's command is answered");
            assert!(read == 1, "Redis closed the tap: {reply:?}");
            reply.push(byte[0]);
        }
        stream.set_read_timeout(None).expect("no read timeout");
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let mut source = stream.try_clone().expect("a second handle on the tap");
        let sink = Arc::clone(&bytes);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read @ 1..) = source.read(&mut buffer) {
                sink.lock()
                    .expect("the tap's buffer")
                    .extend_from_slice(&buffer[..read]);
            }
        });
        Tap {
            marker,
            stream,
            bytes,
            reader: Some(reader),
        }
    }

    /// Every byte recorded so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("the tap's buffer").clone()
    }

    /// Stops recording once everything `server` sent before this call has arrived, and returns
    /// every byte recorded.
    pub fn stop(mut self, server: &RedisServer) -> Vec<u8> {
        let marker: Vec<&str> = self.marker.iter().map(String::as_str).collect();
        server.command(&marker);
        eventually(
            "the tap received its marker",
            Duration::from_secs(5),
            || contains(&self.bytes(), TAP_MARKER.as_bytes()),
        );
        self.close();
        self.bytes()
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.close();
    }
}
