//! `expire_after` is evaluated once, when the cache is built, like `ttl`: a closure that moves
//! in a parameter would keep the first call's value for every key. One error, at the parameter.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_, _| Some(Duration::from_secs(max_age)))]
fn page(url: &str, max_age: u64) -> String {
    format!("{url}:{max_age}")
}

fn main() {
    let _ = page("a", 10);
}
