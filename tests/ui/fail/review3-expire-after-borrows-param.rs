//! The same mistake without `move`: one error, at the parameter, saying why.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = |_, _| Some(Duration::from_secs(max_age)))]
fn page(url: &str, max_age: u64) -> String {
    format!("{url}:{max_age}")
}

fn main() {
    let _ = page("a", 10);
}
