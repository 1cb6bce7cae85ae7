//! Options that read a binding of a destructuring pattern (a tuple, a struct, `ref`): each is
//! evaluated once, so the first call's value would hold for good. One message for each.
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = Duration::from_secs(secs), key: u32 = id)]
pub fn by_tuple((id, secs): (u32, u64)) -> u64 {
    u64::from(id) + secs
}

pub struct Limits {
    pub cap: usize,
    pub id: u32,
}

#[ttl_cached(ttl = "1h", key: u32 = id, capacity = cap)]
pub fn by_struct(Limits { cap, id }: Limits) -> u32 {
    id + cap as u32
}

#[ttl_cached(ttl = Duration::from_secs(*secs), key: u32 = 0)]
pub fn by_ref(ref secs: u64) -> u64 {
    *secs
}

#[ttl_cached(ttl = "1h", key: u32 = n, name = format!("pair-{m}"))]
pub fn by_slice([n, m]: [u32; 2]) -> u32 {
    n + m
}

fn main() {}
