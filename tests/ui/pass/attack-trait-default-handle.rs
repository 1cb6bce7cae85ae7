//! A cached default method with a handle `cache = Self::name`: each implementor has its own.
use cache_core::ttl_cached;

pub trait Named {
    const NAME: &'static str;

    #[ttl_cached(ttl = "1h", cache = Self::labels)]
    fn label(id: u32) -> String {
        format!("{}#{id}", Self::NAME)
    }
}

pub struct A;
pub struct B;
impl Named for A {
    const NAME: &'static str = "a";
}
impl Named for B {
    const NAME: &'static str = "b";
}

fn main() {
    assert_eq!(A::label(1), "a#1");
    assert_eq!(B::label(1), "b#1");
    assert_eq!(A::labels().len(), 1);
    assert_eq!(B::labels().len(), 1);
}
