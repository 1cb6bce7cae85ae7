//! Reads of the parameter `id` inside macros that still compile: a struct's shorthand, a
//! field's value, `..id` and `[id; 2]`, and a method call. Each option must be rejected.
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

#[derive(Debug, Default, Clone, Copy)]
struct Wrap {
    id: u64,
    x: u64,
}

#[ttl_cached(
    ttl = "1h",
    expire_after = move |_: &u64, v: &u64| {
        let w = vec![Wrap { id }];
        Some(Duration::from_secs(*v + w.len() as u64))
    },
    capacity = vec![Wrap { x: id, ..Default::default() }].len(),
    max_lifetime = Duration::from_secs(vec![Wrap { ..Wrap { id: 0, x: id } }].len() as u64),
    refresh_after = Duration::from_secs(vec![id; 2].len() as u64),
    clock = { let _ = format!("{}", id.pow(1)); ManualClock::new() },
)]
fn plan(id: u64) -> u64 {
    id
}

fn main() {
    assert_eq!(plan(1), 1);
}
