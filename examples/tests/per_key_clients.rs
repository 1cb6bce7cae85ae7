//! The per-key clients example, run in a quick mode.

use clap::Parser;
use examples::per_key_clients::{Args, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_per_host_and_failed_health_checks_are_retried() {
    let args =
        Args::try_parse_from(["per_key_clients", "--hosts", "2", "--requests", "10"]).unwrap();
    let report = run(&args, &mut Vec::new()).await.unwrap();
    assert_eq!(report.http_clients_built, 2);
    // A client per call would open a connection per request. One pooled client mostly reuses
    // one, but not always: hyper hands a request a new connection when the last one is not
    // back in the pool yet (its release runs on a task of its own, which a loaded machine may
    // not have run), so exactly one connection per host is not a promise anyone makes.
    assert!(
        report
            .hosts
            .iter()
            .all(|&(requests, connections)| requests == 10 && connections <= 3),
        "each host reached over its client's pool: {:?}",
        report.hosts
    );
    assert_eq!(report.health_outcomes, vec![false, false, true, true]);
    assert_eq!(report.health_checks_run, 3, "the fourth call is a hit");
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    let error = Args::try_parse_from(["x", "--hosts", "0"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
}
