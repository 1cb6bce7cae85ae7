//! A memoized fn inside a `const _` block, inside a closure's body, and in a block expression.
use cache_core::ttl_cached;

const _: () = {
    #[ttl_cached(ttl = "1h")]
    fn hidden(key: u32) -> u32 {
        key
    }
    let _ = hidden as fn(u32) -> u32;
};

fn main() {
    let compute = |x: u32| {
        #[ttl_cached(ttl = "1h")]
        fn inner(key: u32) -> u32 {
            key * 10
        }
        inner(x)
    };
    assert_eq!(compute(2), 20);
    let v = {
        #[ttl_cached(ttl = "1h")]
        fn block(key: &str) -> usize {
            key.len()
        }
        block("abc")
    };
    assert_eq!(v, 3);
}
