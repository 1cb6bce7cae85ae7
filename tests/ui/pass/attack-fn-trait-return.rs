//! A shared closure whose signature mentions a borrow is still an owned, `'static` value.
use std::sync::Arc;

use cache_core::ttl_cached;

pub type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[ttl_cached(ttl = "1h")]
fn matcher(prefix: &str) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
    let prefix = prefix.to_string();
    Arc::new(move |s| s.starts_with(&prefix))
}

#[ttl_cached(ttl = "1h")]
fn via_alias(prefix: &str) -> Matcher {
    let prefix = prefix.to_string();
    Arc::new(move |s| s.starts_with(&prefix))
}

#[ttl_cached(ttl = "1h")]
fn pointer(n: u8) -> fn(&str) -> usize {
    if n == 0 { str::len } else { |s| s.len() * 2 }
}

fn main() {
    assert!(matcher("ab")("abc"));
    assert!(via_alias("ab")("abc"));
    assert_eq!(pointer(1)("ab"), 4);
}
