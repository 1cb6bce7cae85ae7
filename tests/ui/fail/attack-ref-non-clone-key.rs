use cache_core::ttl_cached;

#[derive(PartialEq, Eq, Hash)]
pub struct Token(u64);

#[ttl_cached(ttl = "1h")]
fn lookup(token: &Token) -> u64 {
    token.0
}

fn main() {}
