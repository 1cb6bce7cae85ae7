use std::path::{Path, PathBuf};

use cache_core::ttl_cached;

pub struct Service;

impl Service {
    #[ttl_cached(ttl = "10m", cache = Self::paths)]
    pub fn canonical(path: &Path) -> PathBuf {
        path.join("x")
    }
}

#[ttl_cached(ttl = "1h")]
#[must_use]
#[inline]
pub fn with_lifetimes<'a, 'b>(a: &'a str, b: &'b [u8]) -> usize
where
    'a: 'b,
{
    a.len() + b.len()
}

/// # Safety
/// Nothing to uphold; the attribute must keep `unsafe`.
#[ttl_cached(ttl = "1h")]
pub unsafe fn unsafe_fn(key: u64) -> u64 {
    key
}

#[ttl_cached(ttl = "1h")]
pub extern "C" fn c_abi(key: u32) -> u32 {
    key
}

#[ttl_cached(ttl = "1h")]
fn many(a: &str, b: String, c: u8, d: Option<&str>, mut e: Vec<u8>, f: char, g: bool, h: i64) -> String {
    e.push(c);
    format!("{a}{b}{d:?}{e:?}{f}{g}{h}")
}

#[ttl_cached(ttl = "1h")]
fn unit(key: &str) {
    let _ = key;
}

fn main() {
    let _: fn(&Path) -> PathBuf = Service::canonical;
    assert_eq!(Service::paths().len(), 0);
    assert_eq!(with_lifetimes("ab", b"c"), 3);
    // SAFETY: the function has no preconditions.
    assert_eq!(unsafe { unsafe_fn(3) }, 3);
    let _: unsafe fn(u64) -> u64 = unsafe_fn;
    let _: extern "C" fn(u32) -> u32 = c_abi;
    let _ = many("a", String::new(), 1, None, vec![], 'x', true, -1);
    unit("k");
}
