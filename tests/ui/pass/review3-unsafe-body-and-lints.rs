//! Code that compiles without the attribute compiles with it, under strict lints: an `unsafe fn`
//! whose body uses an unsafe operation directly (allowed with `unsafe_op_in_unsafe_fn`
//! allowed), and a crate that denies common lints.
#![deny(
    warnings,
    unused_qualifications,
    unused_results,
    missing_docs,
    unreachable_pub,
    trivial_casts,
    trivial_numeric_casts,
    unused_lifetimes,
    single_use_lifetimes,
    let_underscore_drop,
    elided_lifetimes_in_paths,
    unused_import_braces,
    variant_size_differences
)]
#![allow(unsafe_op_in_unsafe_fn)]
//! Crate docs.

use cache_core::ttl_cached;

/// Reads the byte at `at` in a static table.
///
/// # Safety
/// `at < 4`.
#[ttl_cached(ttl = "1h", cache = bytes)]
pub unsafe fn byte(at: usize) -> u8 {
    static TABLE: [u8; 4] = [1, 2, 3, 4];
    *TABLE.as_ptr().add(at)
}

/// Several borrowed keys and an `Option` of one.
#[ttl_cached(ttl = "1h")]
pub fn label(a: &str, b: Option<&str>, c: &[u8]) -> String {
    format!("{a}{b:?}{c:?}")
}

/// Async, with a `Result`.
#[ttl_cached(ttl = "1h")]
pub async fn fetch(id: u32) -> Result<String, std::io::Error> {
    Ok(id.to_string())
}

fn main() {
    assert_eq!(unsafe { byte(2) }, 3);
    assert_eq!(bytes().len(), 1);
    assert_eq!(label("a", None, &[1]), "aNone[1]");
    drop(fetch(1));
}
