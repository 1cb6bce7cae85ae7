//! Types named like `H256` or `V2` are ordinary types, not an enclosing impl's parameters.
use cache_core::ttl_cached;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct H256([u8; 32]);

#[derive(Clone, Debug, PartialEq)]
pub struct V2(u64);

#[ttl_cached(ttl = "1h")]
fn balance(account: H256) -> V2 {
    V2(u64::from(account.0[0]))
}

fn main() {
    assert_eq!(balance(H256([7; 32])), V2(7));
}
