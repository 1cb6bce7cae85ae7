// A port of cached's `in_impl` example: a method keyed by a field of `self` and an argument,
// `#[cached(in_impl = true, key = "(u64, u32)", convert = "{ (self.id, n) }")]`.
use cache_core::ttl_cached;

pub struct Worker {
    id: u64,
    factor: u32,
}

impl Worker {
    #[ttl_cached(ttl = "1h", key: (u64, u32) = (self.id, n))]
    pub fn compute(&self, n: u32) -> u32 {
        self.factor * n
    }
}

fn main() {}
