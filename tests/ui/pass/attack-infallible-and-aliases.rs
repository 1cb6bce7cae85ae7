//! `Result<T, Infallible>`, `Result<Option<T>, E>` and a generic alias with a default error.
use std::convert::Infallible;

use cache_core::ttl_cached;

type Res<T, E = String> = Result<T, E>;

#[ttl_cached(ttl = "1h")]
fn never_fails(key: u8) -> Result<u8, Infallible> {
    Ok(key)
}

#[ttl_cached(ttl = "1h")]
fn maybe_found(key: u8) -> Res<Option<u8>> {
    if key == 0 { Err("zero".into()) } else { Ok((key > 1).then_some(key)) }
}

fn main() {
    assert_eq!(never_fails(1), Ok(1));
    assert!(maybe_found(0).is_err());
    assert_eq!(maybe_found(1), Ok(None));
    assert_eq!(maybe_found(2), Ok(Some(2)));
}
