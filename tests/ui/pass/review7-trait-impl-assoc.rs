//! A trait's associated function (no `self`) implemented with the attribute, for two types,
//! and a blanket impl over a type parameter.
use cache_core::ttl_cached;

pub trait Named {
    const NAME: &'static str;
    fn describe(id: u32) -> String;
}

pub struct A;
pub struct B;

impl Named for A {
    const NAME: &'static str = "a";
    #[ttl_cached(ttl = "1h")]
    fn describe(id: u32) -> String {
        format!("{}{id}", Self::NAME)
    }
}

impl Named for B {
    const NAME: &'static str = "b";
    #[ttl_cached(ttl = "1h")]
    fn describe(id: u32) -> String {
        format!("{}{id}", Self::NAME)
    }
}

pub trait Shout {
    fn shout(id: u32) -> String;
}

impl<T: Named> Shout for T {
    #[ttl_cached(ttl = "1h")]
    fn shout(id: u32) -> String {
        format!("{}{id}!", T::NAME)
    }
}

fn main() {
    assert_eq!(A::describe(1), "a1");
    assert_eq!(B::describe(1), "b1");
    assert_eq!(<A as Shout>::shout(1), "a1!");
    assert_eq!(<B as Shout>::shout(1), "b1!");
}
