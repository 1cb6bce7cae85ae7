//! The tenant tokens example, run in a quick mode.

use clap::Parser;
use examples::tenant_tokens::{Args, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_is_fetched_again_only_when_it_expires() {
    let args = Args::try_parse_from([
        "tenant_tokens",
        "--tenants",
        "2",
        "--minutes",
        "12",
        "--expires-in",
        "300",
    ])
    .unwrap();
    let report = run(&args, &mut Vec::new()).await.unwrap();
    // Calls at minutes 0..12; tokens good for 5 minutes: fetched at 0, 5 and 10.
    let expected = [("tenant-1".to_string(), 3), ("tenant-2".to_string(), 3)];
    assert_eq!(report.issued, expected.into_iter().collect());
    assert_eq!(report.calls, 24);
    assert_eq!(report.hits, 24 - 6);
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    let error = Args::try_parse_from(["x", "--tenants", "0"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
}
