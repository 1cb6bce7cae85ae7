//! A value type reached through a module named with one capital letter (`M::Thing`) reads
//! like a type parameter's associated type (`C::Error`), which the cache cannot hold: one
//! error, whose message says to write `self::M` for a module of one's own.
#![allow(non_snake_case)]
use cache_core::ttl_cached;

mod M {
    #[derive(Clone, Debug, PartialEq)]
    pub struct Thing(pub u32);
}

#[ttl_cached(ttl = "1h")]
fn thing(n: u32) -> M::Thing {
    M::Thing(n)
}

#[ttl_cached(ttl = "1h")]
fn other(n: u32) -> self::M::Thing {
    M::Thing(n)
}

fn main() {
    assert_eq!(thing(1), M::Thing(1));
    assert_eq!(other(1), M::Thing(1));
}
