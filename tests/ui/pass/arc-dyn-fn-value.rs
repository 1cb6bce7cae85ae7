//! An owned, `Clone`, `Send + Sync + 'static` value whose type mentions `&` only inside a
//! closure signature: a compiled matcher per pattern.
use std::sync::Arc;

use cache_core::ttl_cached;

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[ttl_cached(ttl = "1h")]
fn matcher(pattern: &str) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
    let pattern = pattern.to_string();
    Arc::new(move |text: &str| text.contains(&pattern))
}

/// The same through an alias: accepted, which shows the check is on the tokens.
#[ttl_cached(ttl = "1h")]
fn matcher_aliased(pattern: &str) -> Matcher {
    let pattern = pattern.to_string();
    Arc::new(move |text: &str| text.contains(&pattern))
}

fn main() {
    assert!(matcher("ab")("xaby"));
    assert!(matcher_aliased("ab")("xaby"));
}
