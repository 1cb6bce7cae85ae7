use std::marker::PhantomData;

use cache_core::ttl_cached;

struct Codec<T>(PhantomData<T>);

impl<T: Default + Clone + Send + Sync + 'static> Codec<T> {
    #[ttl_cached(ttl = "1h")]
    fn decode(n: u32) -> Option<T> {
        (n > 0).then(T::default)
    }
}

fn main() {}
