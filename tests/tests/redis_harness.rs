//! Tests of the Redis test harness itself: each starts real `redis-server` processes.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use tests::redis_server::{RedisCluster, RedisServer};

/// Whether anything accepts connections on the loopback `port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_server_answers_commands() {
    let server = RedisServer::start();
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/", server.port())
    );
    assert_eq!(server.command(&["PING"]), "PONG");
    assert_eq!(
        server.command(&["SET", "k", "a value\r\nwith a newline"]),
        "OK"
    );
    assert_eq!(server.command(&["GET", "k"]), "a value\r\nwith a newline");
    assert_eq!(server.command(&["GET", "missing"]), "(nil)");
    assert_eq!(server.command(&["DBSIZE"]), "1");
    assert_eq!(server.command(&["RPUSH", "list", "x", "y"]), "2");
    assert_eq!(server.command(&["LRANGE", "list", "0", "-1"]), "x\ny");
    assert!(
        server
            .command(&["NOSUCHCOMMAND"])
            .starts_with("(error) ERR")
    );
}

#[test]
fn a_restart_keeps_the_port_and_loses_the_data() {
    let mut server = RedisServer::start();
    let port = server.port();
    server.command(&["SET", "k", "v"]);

    server.kill();
    assert!(!listening(port), "a killed server still listens");
    server.restart();

    assert_eq!(server.port(), port);
    assert_eq!(server.command(&["GET", "k"]), "(nil)");
    assert_eq!(server.command(&["DBSIZE"]), "0");
}

#[test]
fn a_paused_server_does_not_answer_until_resumed() {
    let server = RedisServer::start();
    server.pause();
    let error = server
        .try_command(&["PING"], Duration::from_millis(300))
        .expect_err("a paused server answered");
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{error}"
    );
    server.resume();
    assert_eq!(server.command(&["PING"]), "PONG");
}

#[test]
fn dropping_a_server_stops_it_even_when_a_test_panics() {
    let server = RedisServer::start();
    let port = server.port();
    drop(server);
    assert!(!listening(port), "a dropped server still listens");

    let mut port = 0;
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let server = RedisServer::start();
        server.pause(); // a frozen server must die too
        port = server.port();
        panic!("the test fails");
    }));
    assert!(panicked.is_err());
    assert!(!listening(port), "a server outlived its test's panic");
}

#[test]
fn a_cluster_of_three_masters_serves_every_slot() {
    let mut cluster = RedisCluster::start(3);
    assert_eq!(cluster.urls().len(), 3);
    for node in cluster.nodes() {
        let info = node.command(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
    }
    // A node can be killed on its own; the others keep answering.
    let killed = cluster.nodes_mut()[0].port();
    cluster.nodes_mut()[0].kill();
    assert!(!listening(killed));
    assert_eq!(cluster.nodes()[1].command(&["PING"]), "PONG");
}
