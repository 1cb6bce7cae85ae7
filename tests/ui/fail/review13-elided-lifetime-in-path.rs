//! A lifetime elided in a path (`Cow<str>` is `Cow<'_, str>`, with the `'_` hidden) borrows
//! as `Cow<'_, str>` does: our message, at the type, not rustc's "missing lifetime specifier"
//! with its suggestion to write `#[ttl_cached(ttl = "1h")]<'a>`.
use std::borrow::Cow;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn shout(word: &str) -> Cow<str> {
    Cow::Owned(word.to_uppercase())
}

#[ttl_cached(ttl = "1h")]
fn length(word: Cow<str>) -> usize {
    word.len()
}

#[ttl_cached(ttl = "1h", key: Cow<str> = word.clone())]
fn custom(word: Cow<'static, str>) -> usize {
    word.len()
}

// Within a function signature the elided lifetime is each call's own: not a borrow.
#[ttl_cached(ttl = "1h")]
fn predicate(n: u8) -> std::sync::Arc<dyn Fn(Cow<str>) -> bool + Send + Sync> {
    std::sync::Arc::new(move |s| s.len() == usize::from(n))
}

fn main() {}
