//! A struct literal's field, a closure's parameter or a block's local that shares a
//! parameter's name reads no parameter. Rejected by `named_variable` since 15b6e76.
use cache_core::ttl_cached;


struct Limits {
    id: usize,
}

#[ttl_cached(ttl = "1m", capacity = Limits { id: 10 }.id)]
fn field(id: u8) -> u8 {
    id
}

#[ttl_cached(ttl = (|secs: u64| std::time::Duration::from_secs(secs))(60))]
fn closure(secs: u64) -> u64 {
    secs
}

#[ttl_cached(ttl = "1m", capacity = { let n = 10; n })]
fn block(n: usize) -> usize {
    n
}

fn main() {
    assert_eq!(field(1), 1);
    assert_eq!(closure(2), 2);
    assert_eq!(block(3), 3);
}
