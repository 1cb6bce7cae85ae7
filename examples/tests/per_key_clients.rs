//! The per-key clients example, run in a quick mode.

use clap::Parser;
use examples::per_key_clients::{Args, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_per_host_and_failed_health_checks_are_retried() {
    let args =
        Args::try_parse_from(["per_key_clients", "--hosts", "2", "--requests", "3"]).unwrap();
    let report = run(&args, &mut Vec::new()).await.unwrap();
    assert_eq!(report.http_clients_built, 2);
    assert_eq!(
        report.hosts,
        vec![(3, 1), (3, 1)],
        "each host reached over one connection"
    );
    assert_eq!(report.health_outcomes, vec![false, false, true, true]);
    assert_eq!(report.health_checks_run, 3, "the fourth call is a hit");
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    let error = Args::try_parse_from(["x", "--hosts", "0"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
}
