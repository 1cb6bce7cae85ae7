//! The main example, run in a quick mode: its report must show what the README promises.

use clap::Parser;
use examples::openai_clients::{Args, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_reuse_expiry_and_uncached_rejections() {
    let args =
        Args::try_parse_from(["openai_clients", "--tenants", "3", "--requests", "2"]).unwrap();
    let mut out = Vec::new();
    let report = run(&args, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();

    for tenant in &report.tenants {
        assert_eq!((tenant.built, tenant.reused), (1, 1), "{tenant:?}");
        assert_eq!(tenant.traffic.answered, 2, "{tenant:?}");
        assert_eq!(
            tenant.traffic.connections, 1,
            "one client, one connection: {tenant:?}"
        );
    }
    assert_eq!(report.swept, 1, "only the idle tenant's client expired");
    assert!(report.busy_kept);
    assert!(report.idle_rebuilt);
    assert_eq!(
        report.rejected_attempts, 2,
        "a rejected key is retried, never cached"
    );
    assert!(report.verified_cached);
    assert!(!text.contains("sk-proj"), "keys are never printed:\n{text}");
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    for bad in [
        &["x", "--tenants", "0"][..],
        &["x", "--tenants", "many"],
        &["x", "--bogus"],
    ] {
        let error = Args::try_parse_from(bad).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{bad:?}");
    }
    let help = Args::try_parse_from(["x", "--help"])
        .unwrap_err()
        .to_string();
    assert!(
        help.contains("--tenants") && help.contains("--requests"),
        "{help}"
    );
}
