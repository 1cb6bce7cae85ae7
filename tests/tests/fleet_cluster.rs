//! The fleet tier on a real Redis Cluster of 3 masters: values are shared, each key is built
//! once in the fleet, `remove_async` reaches the other processes, `clear_async` deletes the
//! map's keys on every master (and only its keys), and a dead master degrades calls without
//! failing or stalling them; once it is back, values are shared again.
//!
//! Each `RedisTier` stands for one process (its own connections, breaker and backplane).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::RedisCluster;
use tests::two_worker_runtime;
use tokio::runtime::Runtime;

/// A bound on one Redis operation that no loaded machine reaches while the cluster is healthy.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long anything the tests wait for may take.
const PATIENCE: Duration = Duration::from_secs(15);

/// One process's tier on `cluster`, through its seeds in the given order.
fn tier(cluster: &RedisCluster, seeds: &[usize], timeout: Duration) -> RedisTier {
    let urls = cluster.urls();
    RedisTier::cluster(seeds.iter().map(|&seed| urls[seed].as_str()))
        .expect("Redis URLs")
        .namespace("test")
        .timeout(timeout)
        .lease(Duration::from_secs(1))
}

/// One process: a map on its own tier, and the constructions it ran, by key.
#[derive(Clone)]
struct Process {
    map: Arc<Shared<String, String>>,
    built: Arc<Mutex<HashMap<String, usize>>>,
}

impl Process {
    fn new(tier: RedisTier, name: &'static str) -> Process {
        let map = TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .name(name)
            .shared(tier)
            .build();
        Process {
            map: Arc::new(map),
            built: Arc::default(),
        }
    }

    fn healthy(cluster: &RedisCluster, seeds: &[usize]) -> Process {
        Process::new(tier(cluster, seeds, HEALTHY_TIMEOUT), "fleet_cluster::map")
    }

    fn built(&self, key: &str) -> usize {
        self.built.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn total_built(&self) -> usize {
        self.built.lock().unwrap().values().sum()
    }

    /// Asks for `key` and checks the value; returns how long the call took.
    async fn get(&self, key: &str) -> Duration {
        let start = Instant::now();
        let call = self.map.get_or_insert_with_async(key, async {
            *self
                .built
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_default() += 1;
            tokio::time::sleep(Duration::from_millis(5)).await; // sleep-ok: overlap with the other callers
            value_of(key)
        });
        let value = tokio::time::timeout(PATIENCE, call)
            .await
            .unwrap_or_else(|_| panic!("the call for {key} hung"));
        assert_eq!(value, value_of(key), "a wrong value for {key}");
        start.elapsed()
    }

    /// Asks for each of `keys` in turn.
    fn get_all(&self, runtime: &Runtime, keys: &[String]) {
        runtime.block_on(async {
            for key in keys {
                self.get(key).await;
            }
        });
    }
}

fn keys(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// Waits until `count` backplane listeners have subscribed (through any node).
fn wait_for_listeners(cluster: &RedisCluster, count: usize) {
    eventually("the listeners subscribed", PATIENCE, || {
        let nodes = cluster.nodes().iter();
        nodes
            .map(|node| clients_running(node, "subscribe"))
            .sum::<usize>()
            >= count
    });
}

/// Each node's number of keys.
fn sizes(cluster: &RedisCluster) -> Vec<usize> {
    cluster
        .nodes()
        .iter()
        .map(|node| node.command(&["DBSIZE"]).parse().expect("a count"))
        .collect()
}

#[test]
fn a_value_built_by_one_process_is_read_by_another_through_other_nodes() {
    let cluster = RedisCluster::start(3);
    let runtime = two_worker_runtime();
    let a = Process::healthy(&cluster, &[0, 1, 2]);
    let b = Process::healthy(&cluster, &[2, 1, 0]);
    let keys = keys("k", 30);
    a.get_all(&runtime, &keys);
    b.get_all(&runtime, &keys);
    assert_eq!(a.total_built(), 30);
    assert_eq!(b.total_built(), 0, "b read every value from the cluster");
    let sizes = sizes(&cluster);
    assert_eq!(sizes.iter().sum::<usize>(), 30, "{sizes:?}");
    assert!(
        sizes.iter().filter(|&&size| size > 0).count() > 1,
        "the keys are spread over the masters: {sizes:?}"
    );
}

#[test]
fn three_processes_build_each_key_once_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    let runtime = two_worker_runtime();
    let processes: Vec<Process> = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
        .iter()
        .map(|seeds| Process::healthy(&cluster, seeds))
        .collect();
    let count = 30;
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for (p, process) in processes.iter().enumerate() {
            for task in 0..8 {
                let process = process.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..count {
                        process
                            .get(&format!("k-{}", (i + task * 7 + p * 11) % count))
                            .await;
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("no task panics");
        }
    });
    let by_process: Vec<usize> = processes.iter().map(Process::total_built).collect();
    assert_eq!(
        by_process.iter().sum::<usize>(),
        count,
        "one construction per key in the fleet; by process: {by_process:?}"
    );
}

#[test]
fn remove_reaches_the_other_process_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    let runtime = two_worker_runtime();
    let a = Process::healthy(&cluster, &[0, 1, 2]);
    let b = Process::healthy(&cluster, &[2, 1, 0]);
    // Both listen before b keeps anything (so b's copies are not cleared on subscription).
    let keys = keys("k", 6);
    a.get_all(&runtime, &keys[..1]);
    b.get_all(&runtime, &keys[..1]);
    wait_for_listeners(&cluster, 2);
    a.get_all(&runtime, &keys);
    b.get_all(&runtime, &keys);
    assert_eq!(b.total_built(), 0);
    for key in &keys[..3] {
        runtime
            .block_on(a.map.remove_async(key))
            .expect("the cluster is up");
    }
    eventually("the invalidations reached b", PATIENCE, || {
        keys[..3].iter().all(|key| !b.map.contains_key(key))
    });
    assert!(keys[3..].iter().all(|key| b.map.contains_key(key)));
    assert_eq!(sizes(&cluster).iter().sum::<usize>(), 3, "deleted in Redis");
    b.get_all(&runtime, &keys);
    assert!(
        keys[..3].iter().all(|key| b.built(key) == 1),
        "b rebuilt them"
    );
}

#[test]
fn clear_deletes_the_map_on_every_master_and_in_every_process() {
    let cluster = RedisCluster::start(3);
    let runtime = two_worker_runtime();
    let a = Process::healthy(&cluster, &[0, 1, 2]);
    let b = Process::healthy(&cluster, &[1, 2, 0]);
    let keys = keys("k", 40);
    a.get_all(&runtime, &keys);
    b.get_all(&runtime, &keys);
    let before = sizes(&cluster);
    assert!(
        before.iter().filter(|&&size| size > 0).count() > 1,
        "the keys are spread over the masters: {before:?}"
    );
    runtime
        .block_on(a.map.clear_async())
        .expect("the cluster is up");
    assert_eq!(sizes(&cluster), [0, 0, 0], "before the clear: {before:?}");
    eventually("the clear reached b", PATIENCE, || b.map.is_empty());
    assert!(a.map.is_empty());

    // Only this map's keys: another map on the same tier keeps its own.
    let other = Process::new(
        tier(&cluster, &[0, 1, 2], HEALTHY_TIMEOUT),
        "fleet_cluster::other",
    );
    a.get_all(&runtime, &keys);
    other.get_all(&runtime, &keys);
    assert_eq!(sizes(&cluster).iter().sum::<usize>(), 80);
    runtime
        .block_on(a.map.clear_async())
        .expect("the cluster is up");
    assert_eq!(sizes(&cluster).iter().sum::<usize>(), 40);
    let again = Process::new(
        tier(&cluster, &[2, 0, 1], HEALTHY_TIMEOUT),
        "fleet_cluster::other",
    );
    again.get_all(&runtime, &keys);
    assert_eq!(
        again.total_built(),
        0,
        "the other map's values are all there"
    );
}

#[test]
fn a_dead_master_degrades_calls_without_failing_them_until_it_is_back() {
    /// A call's bound: a few operations of `TIMEOUT` each, with room for a loaded machine.
    const TIMEOUT: Duration = Duration::from_millis(200);
    const BOUND: Duration = Duration::from_secs(3);
    let mut cluster = RedisCluster::start(3);
    let runtime = two_worker_runtime();
    let name = "fleet_cluster::map";
    let a = Process::new(tier(&cluster, &[0, 1, 2], TIMEOUT), name);
    let b = Process::new(tier(&cluster, &[1, 2, 0], TIMEOUT), name);
    let warm = keys("warm", 10);
    a.get_all(&runtime, &warm);
    b.get_all(&runtime, &warm);

    cluster.nodes_mut()[0].kill();
    let slowest = runtime.block_on(async {
        let mut tasks = Vec::new();
        for process in [&a, &b] {
            for task in 0..8 {
                let process = process.clone();
                tasks.push(tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    for i in 0..20 {
                        let key = format!("down-{}", (i + task * 3) % 20);
                        slowest = slowest.max(process.get(&key).await);
                    }
                    slowest
                }));
            }
        }
        let mut slowest = Duration::ZERO;
        for task in tasks {
            slowest = slowest.max(task.await.expect("no call fails"));
        }
        slowest
    });
    assert!(slowest < BOUND, "a call took {slowest:?}");
    // Each process builds a key once, except that a listener subscribed through the dead
    // node subscribes again through another and then clears its process's L1 (it may have
    // missed invalidations): `a`'s listener was on node 0, `b`'s on node 1.
    for (process, most) in [(&a, 2), (&b, 1)] {
        let built: Vec<usize> = (0..20)
            .map(|i| process.built(&format!("down-{i}")))
            .collect();
        assert!(
            built.iter().all(|&n| n <= most),
            "constructions by key: {built:?}"
        );
    }
    eprintln!("slowest call with a dead master: {slowest:?}");

    cluster.nodes_mut()[0].restart();
    cluster.wait_until_ok(PATIENCE);
    // Values are shared again: 12 keys (on every master, almost surely) built by one process
    // are read by the other.
    let start = Instant::now();
    let rounds = AtomicUsize::new(0);
    loop {
        let keys = keys(
            &format!("up-{}", rounds.fetch_add(1, Ordering::Relaxed)),
            12,
        );
        a.get_all(&runtime, &keys);
        b.get_all(&runtime, &keys);
        if keys
            .iter()
            .all(|key| a.built(key) == 1 && b.built(key) == 0)
        {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "values were not shared again within {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the breaker's cool-down is real time
    }
}
