//! `{:>width$}` reads the variable `width` as the field's width: `expire_after` reads the
//! parameter `width`. Must be rejected like `{width}`.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", expire_after = move |_: &usize, _: &usize| {
    Some(Duration::from_secs(format!("{:>width$}", 1).len() as u64))
})]
fn pad(width: usize) -> usize {
    width
}

fn main() {
    assert_eq!(pad(1), 1);
}
