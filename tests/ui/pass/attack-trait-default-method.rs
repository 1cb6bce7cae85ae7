//! A cached default method in a trait: each implementor gets its own cache.
use cache_core::ttl_cached;

pub trait Named {
    const NAME: &'static str;

    #[ttl_cached(ttl = "1h")]
    fn label(id: u32) -> String {
        format!("{}#{id}", Self::NAME)
    }

    #[ttl_cached(ttl = "1h")]
    async fn fetch(id: u32) -> Result<String, std::io::Error> {
        Ok(format!("{}@{id}", Self::NAME))
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
    assert_eq!(A::label(1), "a#1");
}
