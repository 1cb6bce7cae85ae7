use std::marker::PhantomData;

use cache_core::ttl_cached;

pub struct Codec<Item>(PhantomData<Item>);

impl<Item: Default + Clone + Send + Sync + 'static> Codec<Item> {
    #[ttl_cached(ttl = "1h")]
    pub fn decode(n: u32) -> Vec<Item> {
        vec![Item::default(); n as usize]
    }
}

fn main() {}
