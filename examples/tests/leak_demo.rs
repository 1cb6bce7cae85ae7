//! The leak demo, run in a quick mode with the counting allocator: the naive map grows with
//! every key ever seen, the cached function holds only the active tenants.

use clap::Parser;
use examples::heap::CountingAllocator;
use examples::leak_demo::{Args, run};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

#[test]
fn the_naive_map_grows_and_the_cached_function_stays_bounded() {
    let plot = std::env::temp_dir().join(format!("leak-demo-{}.svg", std::process::id()));
    let args = Args::try_parse_from([
        "leak_demo",
        "--days",
        "6",
        "--new-keys-per-day",
        "3",
        "--active-days",
        "2",
        "--plot",
        plot.to_str().unwrap(),
    ])
    .unwrap();
    let mut out = Vec::new();
    let days = run(&args, &mut out).unwrap();
    assert_eq!(days.len(), 6);
    for day in &days {
        assert_eq!(day.before_entries, 3 * day.day as usize, "{day:?}");
        assert!(day.after_entries <= 3 * 2, "{day:?}");
    }
    let last = days.last().unwrap();
    assert!(last.before_bytes > 2 * last.after_bytes, "{last:?}");
    assert!(last.after_bytes > 0, "real clients hold heap: {last:?}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Clients held"));
    std::fs::remove_file(plot).unwrap();
}

#[test]
fn a_zero_or_unparsable_ttl_is_a_usage_error() {
    for ttl in ["0s", "soon"] {
        let error = Args::try_parse_from(["leak_demo", "--ttl", ttl]).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{ttl}");
    }
}
