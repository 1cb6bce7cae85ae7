//! `refresh_after` across the fleet, against a real `redis-server`: a value's age counts from
//! its birth in Redis, not from its arrival in a process, and a process does not send a script
//! per call while another process rebuilds a value. Each `RedisTier` stands for one process.
//!
//! Each process's L1 runs on a `ManualClock`, so what it decides is deterministic; only the
//! value's age in Redis follows real time (Redis's own clock), so the tests sleep for that alone.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use cache_core::{ManualClock, TtlMap};
use tests::fleet::let_redis_time_reach;
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// The maps' `refresh_after`: short, since the values age in real time.
const REFRESH: Duration = Duration::from_millis(500);
/// The least time between a value's arrival in L1 and its refresh there: a quarter of
/// `REFRESH`, which is less than a third of the tiers' lease.
const FLOOR: Duration = Duration::from_millis(125);
/// How long anything the tests wait for may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// One process's tier on `server`. The bound on an operation is generous so that a loaded
/// machine does not make Redis look down (the local path would then build values); the lease
/// is long so that a third of it is more than `FLOOR`.
fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("refresh")
        .timeout(Duration::from_secs(2))
        .lease(Duration::from_secs(6))
}

/// One process's map, its L1 on `clock`.
fn map(tier: RedisTier, clock: &ManualClock) -> Shared<String, String> {
    TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .refresh_after(REFRESH)
        .clock(clock.clone())
        .name("fleet_refresh::map")
        .shared(tier)
        .build()
}

/// Sleeps until `REFRESH` and a margin have passed since `birth` in real time, so that Redis
/// too finds the value born before `birth` due for a refresh.
fn until_due_in_redis(birth: Instant) {
    let_redis_time_reach(birth + REFRESH + Duration::from_millis(100));
}

#[test]
fn a_value_fetched_already_old_is_refreshed_refresh_after_its_birth() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a_clock, b_clock) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (map(tier(&server), &a_clock), map(tier(&server), &b_clock));
    runtime.block_on(a.get_or_insert_with_async("rate", async { "1.07".to_owned() }));
    let born = Instant::now(); // the value's birth in Redis was before this
    let_redis_time_reach(born + REFRESH * 3 / 5);
    let read = runtime.block_on(
        b.get_or_insert_with_async("rate", async { unreachable!("the value is in Redis") }),
    );
    assert_eq!(read, "1.07");
    assert_eq!(b.fleet_stats().from_redis, 1);

    // Arrived at least 0.6 of `REFRESH` old, it is not due before the floor.
    b_clock.advance(REFRESH / 10);
    let early =
        runtime.block_on(b.get_or_insert_with_async("rate", async { unreachable!("not due yet") }));
    assert_eq!(early, "1.07");
    assert_eq!(b.fleet_stats().from_redis, 1, "a call sent FETCH too early");

    // Half of `REFRESH` after its arrival it is older than `REFRESH`; once real time agrees,
    // so does Redis, and the call rebuilds it.
    b_clock.advance(REFRESH * 2 / 5);
    until_due_in_redis(born);
    let refreshed =
        runtime.block_on(b.get_or_insert_with_async("rate", async { "1.09".to_owned() }));
    assert_eq!(
        refreshed, "1.09",
        "a value fetched 0.6 of refresh_after old was still served 0.5 of refresh_after after \
         its arrival: its age counted from its arrival, not its birth"
    );
    assert_eq!((b.fleet_stats().led, b.stats().refreshes), (1, 1));
}

#[test]
fn while_another_process_rebuilds_a_value_calls_send_one_fetch_per_floor() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a_clock, b_clock) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (
        Arc::new(map(tier(&server), &a_clock)),
        map(tier(&server), &b_clock),
    );
    runtime.block_on(a.get_or_insert_with_async("rate", async { "1.07".to_owned() }));
    until_due_in_redis(Instant::now());

    // Process a rebuilds the value and holds the lease until told to finish.
    a_clock.advance(REFRESH);
    let (started, has_started) = mpsc::channel();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let rebuild = runtime.spawn({
        let a = Arc::clone(&a);
        async move {
            a.get_or_insert_with_async("rate", async move {
                started.send(()).expect("the test waits");
                let _ = finished.await;
                "1.09".to_owned()
            })
            .await
        }
    });
    has_started
        .recv_timeout(PATIENCE)
        .expect("process a leads the rebuild");

    // Process b gets the current value, older than `REFRESH`, and calls every 10 ms for 1 s.
    // Due again at once, it would send a FETCH per call (100); it sends one per floor: the
    // miss at 0 ms, then refreshes at 130, 260, ..., 910 ms.
    for _ in 0..100 {
        let value =
            runtime.block_on(b.get_or_insert_with_async("rate", async {
                unreachable!("process a holds the lease")
            }));
        assert_eq!(value, "1.07");
        b_clock.advance(Duration::from_millis(10));
    }
    assert_eq!(
        (b.fleet_stats().from_redis, b.stats().refreshes),
        (8, 7),
        "FETCHes (from Redis) and refreshes in 1 s of calls, a floor of {FLOOR:?} apart"
    );

    // Once the new value lands, b has it within a floor.
    finish.send(()).expect("the rebuild waits");
    let rebuilt = runtime
        .block_on(rebuild)
        .expect("the rebuild does not panic");
    assert_eq!(rebuilt, "1.09");
    b_clock.advance(FLOOR);
    let value = runtime.block_on(
        b.get_or_insert_with_async("rate", async { unreachable!("the new value is in Redis") }),
    );
    assert_eq!(value, "1.09");
    assert_eq!((b.fleet_stats().led, b.fleet_stats().waited), (0, 0));
}
