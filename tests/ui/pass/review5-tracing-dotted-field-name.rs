//! `user.id = ...` in a tracing macro is a dotted field name, not a read of the parameter
//! `user`. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Token {
    pub user_id: u64,
    pub expires_in: Duration,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &String, t: &Token| {
    tracing::debug!(user.id = t.user_id, "token expires");
    Some(t.expires_in)
})]
fn token(user: &str) -> Token {
    Token { user_id: user.len() as u64, expires_in: Duration::from_secs(60) }
}

fn main() {
    assert_eq!(token("ab").user_id, 2);
}
