//! The fleet tier across real OS processes: `fleet_worker` processes (see its docs) on one
//! `redis-server`. A leader process killed while it holds the lease is taken over by a waiter in
//! another process once the lease lapses; 3 processes x 16 tasks build each of 100 cold keys
//! exactly once in the whole fleet; a value of the wrong shape in Redis is rebuilt by the next
//! process that asks, and overwritten.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::fleet::{WORKER_LEASE, clients_running, eventually, value_of, worker_map, worker_tier};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// How long a worker may take to say what it is expected to say.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `fleet_worker`, killed (SIGKILL) and reaped on drop.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything it printed, for failure messages.
    said: Vec<String>,
}

impl Worker {
    fn start(server: &RedisServer, args: &[&str]) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fleet_worker"))
            .arg(server.url())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the fleet_worker bin runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Worker {
            stdin: child.stdin.take(),
            child,
            lines,
            said: Vec::new(),
        }
    }

    /// Waits for the worker's next line and returns it; panics if it exits or is silent.
    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => {
                self.said.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "the worker said nothing in {PATIENCE:?}; so far: {:?}",
                    self.said
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("the worker's status");
                panic!("the worker exited ({status}); it said: {:?}", self.said)
            }
        }
    }

    /// Waits for a line `NAME REST` and returns `REST`.
    fn expect(&mut self, name: &str) -> String {
        let line = self.next_line();
        match line.strip_prefix(name) {
            Some(rest) => rest.trim_start().to_owned(),
            None => panic!(
                "the worker said {line:?}, not {name:?}; so far: {:?}",
                self.said
            ),
        }
    }

    /// Sends one line to the worker's stdin.
    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the worker's stdin");
        writeln!(stdin, "{line}").expect("the worker reads its stdin");
        stdin.flush().expect("the worker reads its stdin");
    }

    /// Waits for the worker to exit and asserts that it succeeded.
    fn finish(mut self) {
        let status = self.child.wait().expect("the worker's status");
        assert!(
            status.success(),
            "the worker failed ({status}); it said {:?}",
            self.said
        );
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `fleet_worker get KEY` and returns how many times it built the key (it checks the
/// value itself, and so does this).
fn get_in_a_new_process(server: &RedisServer, key: &str) -> usize {
    let mut worker = Worker::start(server, &["get", key]);
    assert_eq!(worker.expect("value"), value_of(key));
    let built = worker.expect("built").parse().expect("a count");
    worker.finish();
    built
}

#[test]
fn a_waiter_takes_over_from_a_killed_leader_process_once_its_lease_lapses() {
    let server = RedisServer::start();
    let mut leader = Worker::start(&server, &["lead", "k"]);
    assert_eq!(leader.next_line(), "leading");

    // This process asks too, and waits: the other holds the lease.
    let runtime = two_worker_runtime();
    let map = Arc::new(worker_map(worker_tier(&server.url())));
    let built = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let waiting = {
        let (map, built) = (Arc::clone(&map), Arc::clone(&built));
        runtime.spawn(async move {
            map.get_or_insert_with_async("k", async {
                built.lock().unwrap().push(Instant::now());
                value_of("k")
            })
            .await
        })
    };
    eventually("this process asked Redis", PATIENCE, || {
        clients_running(&server, "evalsha") >= 2
    });
    // Past the lease's length: the live leader keeps it by renewing it.
    std::thread::sleep(WORKER_LEASE * 3 / 2); // sleep-ok: the leader's lease runs on Redis's clock
    assert!(
        built.lock().unwrap().is_empty(),
        "no takeover while the leader lives"
    );
    assert!(!waiting.is_finished());

    leader.child.kill().expect("the leader is killed");
    leader.child.wait().expect("and reaped");
    let killed = Instant::now();
    let leases = server.command(&["KEYS", "fleet:*:lease"]);
    assert_eq!(
        leases.lines().count(),
        1,
        "its lease outlives it: {leases:?}"
    );
    let value = runtime
        .block_on(async { tokio::time::timeout(PATIENCE, waiting).await })
        .expect("the waiter took over")
        .expect("the waiter returns");
    let took = killed.elapsed();
    assert_eq!(value, value_of("k"));
    assert_eq!(built.lock().unwrap().len(), 1, "the waiter built it");
    // The lease lapses within WORKER_LEASE of the kill; the waiter looks every third of it.
    assert!(
        took < WORKER_LEASE + Duration::from_secs(3),
        "took over {took:?} after the kill"
    );
    // Its value is in Redis for every process.
    assert_eq!(get_in_a_new_process(&server, "k"), 0);
}

#[test]
fn three_processes_of_16_tasks_build_each_of_100_cold_keys_once() {
    let server = RedisServer::start();
    let mut workers: Vec<Worker> = (0..3)
        .map(|index| Worker::start(&server, &["swarm", "100", "16", &index.to_string()]))
        .collect();
    for worker in &mut workers {
        assert_eq!(worker.next_line(), "ready");
    }
    // Every worker's backplane listens, so its waiters are woken by the landings.
    eventually("every worker subscribed", PATIENCE, || {
        clients_running(&server, "subscribe") >= 3
    });
    for worker in &mut workers {
        worker.tell("go");
    }
    let mut built = 0;
    let mut report = Vec::new();
    for mut worker in workers {
        let count: usize = worker.expect("built").parse().expect("a count");
        let degraded = worker.expect("degraded");
        report.push(format!("built {count}, degraded {degraded}"));
        built += count;
        worker.finish();
    }
    assert_eq!(
        built, 100,
        "constructions in the fleet, by worker: {report:?}"
    );
}

#[test]
fn a_value_of_the_wrong_shape_is_rebuilt_and_overwritten_by_the_next_process() {
    let server = RedisServer::start();
    assert_eq!(get_in_a_new_process(&server, "k"), 1);
    let keys = server.command(&["KEYS", "fleet:*"]);
    let [key] = keys.lines().collect::<Vec<_>>()[..] else {
        panic!("one key in Redis: {keys:?}");
    };
    let right = server.command(&["GET", key]);
    assert_eq!(
        &right[32..],
        format!("\u{a}{}", value_of("k")),
        "a 32-digit header, then postcard: length, bytes"
    );

    // Bytes that are not ours, bytes with a header that do not deserialize (a length of 127,
    // then 7 bytes), then another Redis type.
    let headed = format!("{}\u{7f}garbage", "0".repeat(32));
    for (wrong, check) in [
        (&["SET", key, "\u{7f}garbage"][..], "string"),
        (&["SET", key, headed.as_str()][..], "string"),
        (&["RPUSH", key, "a", "list"][..], "string"),
    ] {
        server.command(&["DEL", key]);
        server.command(wrong);
        assert_eq!(
            get_in_a_new_process(&server, "k"),
            1,
            "rebuilt after {wrong:?}"
        );
        assert_eq!(server.command(&["TYPE", key]), check);
        assert_eq!(
            server.command(&["GET", key])[32..],
            right[32..],
            "overwritten after {wrong:?}"
        );
        assert_eq!(get_in_a_new_process(&server, "k"), 0, "then shared again");
    }
}
