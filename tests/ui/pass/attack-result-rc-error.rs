//! A `Clone` error that is not `Send`: README says an error is never asked for more than
//! `Clone` to be shared, and never stored.
use std::rc::Rc;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn parse(key: &str) -> Result<u32, Rc<str>> {
    key.parse().map_err(|_| Rc::from(key))
}

fn main() {
    assert_eq!(parse("3"), Ok(3));
    assert!(parse("x").is_err());
}
