use cache_core::ttl_cached;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(u32);

impl Id {
    #[ttl_cached(ttl = "1h", key: Self = Id(n))]
    pub fn name(n: u32) -> String {
        n.to_string()
    }
}

fn main() {}
