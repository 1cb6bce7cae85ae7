//! `where` clauses on the function and on a generic `impl`.
use std::marker::PhantomData;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn trivially_bounded(key: u32) -> u32
where
    u32: Copy,
{
    key
}

pub struct Codec<T>(PhantomData<T>);

impl<T> Codec<T>
where
    T: Send + Sync + 'static,
{
    #[ttl_cached(ttl = "1h")]
    pub fn name(key: u32) -> String
    where
        T: Sized,
    {
        format!("{}{key}", std::any::type_name::<T>())
    }
}

fn main() {
    assert_eq!(trivially_bounded(1), 1);
    assert_eq!(Codec::<u8>::name(1), "u81");
    assert_eq!(Codec::<u16>::name(1), "u161");
}
