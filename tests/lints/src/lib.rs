//! `#[ttl_cached]` under strict lint levels, checked by clippy (`tests/tests/lints.rs`): the
//! expansion brings no warning of its own, and an `#[expect]` on a memoized function holds as
//! it does on the function without the attribute.
#![deny(
    warnings,
    missing_docs,
    unused_results,
    unused_qualifications,
    unreachable_pub
)]
#![deny(
    single_use_lifetimes,
    unused_lifetimes,
    trivial_casts,
    rust_2018_idioms
)]
#![deny(clippy::pedantic, clippy::nursery, clippy::restriction)]
// Silly for this crate, or in conflict with others of the group, also without the attribute.
#![allow(
    clippy::blanket_clippy_restriction_lints,
    clippy::needless_return,
    clippy::single_call_fn,
    clippy::missing_inline_in_public_items,
    clippy::exhaustive_structs,
    clippy::arbitrary_source_item_ordering,
    clippy::question_mark_used,
    clippy::missing_trait_methods,
    clippy::allow_attributes_without_reason,
    reason = "the crate checks the attribute's expansion, not these choices"
)]

use core::num::ParseIntError;

use async_trait::async_trait;
use cache_core::ttl_cached;

/// A borrowed key and an owned one.
#[must_use]
#[ttl_cached(ttl = "1h", cache = labels)]
pub fn label(name: &str, count: u32) -> String {
    return format!("{name}{count}");
}

/// Parameters the body does not read, named `_name`: the key reads them.
#[must_use]
#[ttl_cached(ttl = "1h")]
pub fn underscored(
    _owned: u32,
    _borrowed: &str,
    _optional: Option<&str>,
    name: Option<&str>,
) -> Option<String> {
    return name.map(ToOwned::to_owned);
}

/// Every option that takes a literal, and a `Result`.
///
/// # Errors
///
/// When `text` is no number.
#[ttl_cached(
    ttl = "1h",
    sweep = "5m",
    expiry = "fixed",
    capacity = 10,
    max_lifetime = "2h",
    refresh_after = "30m",
    cache = parsed_cache
)]
pub async fn parsed(text: String) -> Result<u32, ParseIntError> {
    return text.parse();
}

/// No parameters: one shared value.
#[must_use]
#[ttl_cached(ttl = "1h")]
pub fn singleton() -> u64 {
    return 7;
}

/// A custom key.
#[must_use]
#[ttl_cached(ttl = "1h", key: String = format!("{host}:{port}"))]
pub fn address(host: &str, port: u16) -> String {
    return format!("{host}:{port}");
}

/// A type with memoized associated functions.
#[derive(Debug, Clone, Copy)]
pub struct Store;

impl Store {
    /// A handle in an `impl`.
    #[must_use]
    #[ttl_cached(ttl = "1h", cache = Self::pairs)]
    pub fn pair(key: (u8, u8)) -> Vec<u8> {
        return vec![key.0, key.1];
    }

    /// An async associated function over a slice.
    #[ttl_cached(ttl = "1h")]
    pub async fn bytes(key: &[u8]) -> Vec<u8> {
        return key.to_vec();
    }
}

/// A trait of async methods.
#[async_trait]
pub trait Lookup {
    /// Finds the value of `key`.
    async fn find(key: u32) -> u32;
}

#[async_trait]
impl Lookup for Store {
    #[ttl_cached(ttl = "1h")]
    async fn find(key: u32) -> u32 {
        return key;
    }
}

/// Expectations hold as on the function without the attribute, those of lints the rewrite
/// judges otherwise included (`unused_variables`: the key reads every parameter).
pub mod expectations {
    use cache_core::ttl_cached;

    /// Never called.
    #[expect(dead_code, reason = "nothing calls it")]
    #[ttl_cached(ttl = "1h")]
    fn never_called(key: u32) -> u32 {
        return key;
    }

    /// A parameter the body does not read.
    #[expect(unused_variables, reason = "part of the key only")]
    #[must_use]
    #[ttl_cached(ttl = "1h")]
    pub fn unread(key: u32, unread: u32) -> u32 {
        return key;
    }

    /// No `.await` in the body.
    #[expect(clippy::unused_async, reason = "an async interface")]
    #[ttl_cached(ttl = "1h")]
    pub async fn no_await(key: u32) -> u32 {
        return key;
    }

    /// Could be `const`, without the attribute.
    #[expect(clippy::missing_const_for_fn, reason = "cached")]
    #[ttl_cached(ttl = "1h")]
    fn constant(key: u32) -> u32 {
        return key;
    }

    /// Always `Some`.
    #[ttl_cached(ttl = "1h")]
    fn wrapped(key: u32) -> Option<u32> {
        #![expect(clippy::unnecessary_wraps, reason = "an interface")]
        return Some(key);
    }

    /// Takes `String` it could borrow, and `&String`.
    #[expect(
        clippy::needless_pass_by_value,
        clippy::ptr_arg,
        clippy::too_many_arguments,
        reason = "an interface"
    )]
    #[ttl_cached(ttl = "1h")]
    fn lengths(
        owned: String,
        borrowed: &String,
        one: u8,
        two: u8,
        three: u8,
        four: u8,
        five: u8,
        six: u8,
    ) -> usize {
        let sum = usize::from(one ^ two ^ three ^ four ^ five ^ six);
        return owned.len().wrapping_add(borrowed.len()).wrapping_add(sum);
    }

    /// Calls the private ones.
    #[must_use]
    pub fn private() -> usize {
        let text = String::new();
        let sum = constant(1).wrapping_add(wrapped(1).unwrap_or(0));
        let number = usize::try_from(sum).unwrap_or(0);
        return lengths(String::new(), &text, 0, 0, 0, 0, 0, 0).wrapping_add(number);
    }
}
