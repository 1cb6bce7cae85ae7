//! A function of the user's own whose lifetime is named `'async_trait` is not taken for a
//! method that `#[async_trait]` rewrote (that one is not `async` and returns a `Pin<Box<..>>`).
#![deny(warnings)]

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
pub fn length<'async_trait>(text: &'async_trait str) -> usize {
    text.len()
}

#[ttl_cached(ttl = "1h")]
pub async fn length_async<'async_trait>(text: &'async_trait str) -> usize {
    text.len()
}

#[tokio::main]
async fn main() {
    assert_eq!(length("abc"), 3);
    assert_eq!(length_async("ab").await, 2);
}
