//! A backplane whose first subscription is slow (here a proxy that delays `SUBSCRIBE`) while
//! Redis answers every other command at once: no failure of Redis, so values are still shared.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// A TCP proxy to `upstream` that holds back, by `delay`, the first client bytes of each
/// connection that hold a `SUBSCRIBE`: a subscription round trip that is slow (a loaded
/// Redis, a far network) while every other command goes through at once. Returns its port.
fn slow_subscribe_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut delayed = false;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if !delayed && tests::fleet::contains(&buf[..n], b"SUBSCRIBE") {
                        delayed = true;
                        thread::sleep(delay); // sleep-ok: the slow round trip simulated
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Write);
            });
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

struct Process {
    map: Shared<String, String>,
    built: Mutex<HashMap<String, usize>>,
}

impl Process {
    fn new(url: String, timeout: Duration) -> Arc<Process> {
        let tier = RedisTier::new(url)
            .expect("a Redis URL")
            .namespace("review")
            .timeout(timeout)
            .lease(Duration::from_millis(600));
        let map = TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .name("review_today::map")
            .shared(tier)
            .build();
        Arc::new(Process {
            map,
            built: Mutex::default(),
        })
    }

    async fn get(&self, key: &str) -> String {
        self.map
            .get_or_insert_with_async(key, async {
                *self
                    .built
                    .lock()
                    .unwrap()
                    .entry(key.to_owned())
                    .or_default() += 1;
                format!("value of {key}")
            })
            .await
    }

    fn built(&self, key: &str) -> usize {
        self.built.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// cbaab92 counts a first backplane subscription that does not land within one operation
/// timeout as a failure of Redis (breaker opens, warn logged, calls go local for the
/// cool-down), while the listener itself gives a subscription 4 timeouts to land
/// (backplane.rs `listen`: `timeout.saturating_mul(4)`) and keeps it. A healthy Redis whose
/// SUBSCRIBE takes 2 timeouts (a fresh connection: TCP, TLS, AUTH, HELLO, SUBSCRIBE) opens the
/// breaker of every process at start: the first call builds a value another process already
/// put in Redis. Before cbaab92 the call waited the same one timeout, then read Redis.
#[test]
fn a_slow_but_successful_first_subscription_does_not_open_the_breaker() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let proxy = slow_subscribe_proxy(server.port(), TIMEOUT * 2);

    let fast = Process::new(server.url(), TIMEOUT);
    runtime.block_on(fast.get("k"));
    assert_eq!(fast.built("k"), 1);

    let slow = Process::new(format!("redis://127.0.0.1:{proxy}/"), TIMEOUT);
    let start = Instant::now();
    let value = runtime.block_on(slow.get("k"));
    let took = start.elapsed();
    assert_eq!(value, "value of k");
    assert!(
        !slow.map.tier().is_degraded(),
        "the breaker opened against a healthy Redis (first call took {took:?})"
    );
    assert_eq!(
        slow.built("k"),
        0,
        "the value in Redis was built again locally (first call took {took:?})"
    );
}
