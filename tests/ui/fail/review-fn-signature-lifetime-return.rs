//! A named lifetime inside an `Fn(..)`/`fn(..)` signature in the return type is a borrow of
//! the caller's (not one of each call): the macro's "borrows" error, once per function.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn matcher<'a>(id: u8) -> Box<dyn Fn(&'a str) -> bool + Send + Sync> {
    let _ = id;
    Box::new(|s| !s.is_empty())
}

#[ttl_cached(ttl = "1h")]
fn getter<'a>(id: u8) -> fn() -> &'a str {
    let _ = id;
    || "x"
}

fn main() {}
