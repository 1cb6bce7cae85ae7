//! `clock = &CLOCK` (a `LazyLock<ManualClock>` static, as in the tests' pattern, but without
//! `.clone()`): one error at `&CLOCK` that says to pass the clock itself (`CLOCK.clone()`).
use std::sync::LazyLock;

use cache_core::{ManualClock, ttl_cached};

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

#[ttl_cached(ttl = "1h", clock = &CLOCK)]
fn page(url: &str) -> String {
    url.to_owned()
}

fn main() {
    let _ = page("a");
}
