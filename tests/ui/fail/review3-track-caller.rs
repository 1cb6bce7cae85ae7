//! `#[track_caller]` on a memoized function: the body runs once per key, as the cache's
//! constructor, so `Location::caller()` and its panics could not name the caller. One error,
//! at the attribute, that says to remove it.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
#[track_caller]
fn positive(n: i64) -> i64 {
    assert!(n > 0, "must be positive");
    n
}

fn main() {
    let _ = positive(1);
}
