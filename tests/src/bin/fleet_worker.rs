//! One process of a fleet, for the fleet tier's multi-process tests
//! (`tests/tests/fleet_processes.rs`): it joins the fleet on the Redis at the URL it is given,
//! plays one part, and reports on stdout, one line at a time.
//!
//! `fleet_worker URL MODE [ARGS...]`, where MODE is:
//! - `lead KEY`: asks for KEY with a constructor that prints `leading` and then blocks for a
//!   minute, so the test can kill the process while it holds the fleet's lease;
//! - `get KEY`: asks for KEY once, then prints `value VALUE` and `built N` (this process's
//!   constructions: 0 if it read the value from Redis);
//! - `swarm KEYS TASKS INDEX`: starts its tier, prints `ready`, waits for a line on stdin (so
//!   that every worker starts at once), then runs TASKS tasks that each ask for every key
//!   `key-0` .. `key-{KEYS-1}`, in an order of their own (INDEX, this worker's number, varies
//!   it across workers), and check every value; prints `built N` and `degraded D` (whether its
//!   tier skips Redis at the end) and exits.
//!
//! Every worker uses the tier settings and the map of [`tests::fleet`]; the value of a key is
//! [`value_of`]`(key)`. A wrong value, a key built twice in one worker, or a bad argument exits
//! with a panic (non-zero).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tests::fleet::{value_of, worker_map, worker_tier};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, mode, rest @ ..] = args.as_slice() else {
        panic!("usage: fleet_worker URL MODE [ARGS...]; got {args:?}");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    match (mode.as_str(), rest) {
        ("lead", [key]) => runtime.block_on(lead(url, key)),
        ("get", [key]) => runtime.block_on(get(url, key)),
        ("swarm", [keys, tasks, index]) => runtime.block_on(swarm(
            url,
            keys.parse().expect("KEYS is a number"),
            tasks.parse().expect("TASKS is a number"),
            index.parse().expect("INDEX is a number"),
        )),
        _ => panic!("unknown mode or arguments: {args:?}"),
    }
}

/// Prints one line and flushes it at once: the test reads it while this process runs.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("stdout");
    stdout.flush().expect("stdout");
}

async fn lead(url: &str, key: &str) {
    let map = worker_map(worker_tier(url));
    let value = map
        .get_or_insert_with_async(key, async {
            report("leading");
            // Long past any test: the test kills this process meanwhile.
            tokio::time::sleep(Duration::from_secs(60)).await; // sleep-ok: a leader that never finishes
            value_of(key)
        })
        .await;
    report(&format!("value {value}"));
}

async fn get(url: &str, key: &str) {
    let map = worker_map(worker_tier(url));
    let mut built = 0;
    let value = map
        .get_or_insert_with_async(key, async {
            built += 1;
            value_of(key)
        })
        .await;
    report(&format!("value {value}"));
    report(&format!("built {built}"));
}

async fn swarm(url: &str, keys: usize, tasks: usize, index: usize) {
    let map = Arc::new(worker_map(worker_tier(url)));
    // Connects (and starts the backplane's listener) before the start line.
    let warm_up = format!("warm-up-{}", std::process::id());
    map.get_or_insert_with_async(&warm_up, async { value_of(&warm_up) })
        .await;
    report("ready");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .expect("the start line");
    let built: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut running = Vec::new();
    for task in 0..tasks {
        let (map, built) = (Arc::clone(&map), Arc::clone(&built));
        running.push(tokio::spawn(async move {
            let offset = task * 7 + index * 31;
            for i in 0..keys {
                let key = format!("key-{}", (i + offset) % keys);
                let value = map
                    .get_or_insert_with_async(&key, async {
                        *built
                            .lock()
                            .expect("counts")
                            .entry(key.clone())
                            .or_default() += 1;
                        // Long enough that other workers ask for the key meanwhile.
                        tokio::time::sleep(Duration::from_millis(5)).await; // sleep-ok: overlap with the other workers
                        value_of(&key)
                    })
                    .await;
                assert_eq!(value, value_of(&key), "a wrong value in worker {index}");
            }
        }));
    }
    for task in running {
        task.await.expect("no task panics");
    }
    let built = built.lock().expect("counts");
    let twice: Vec<_> = built.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "worker {index} built keys twice: {twice:?}"
    );
    report(&format!("built {}", built.values().sum::<usize>()));
    report(&format!("degraded {}", map.tier().is_degraded()));
}
