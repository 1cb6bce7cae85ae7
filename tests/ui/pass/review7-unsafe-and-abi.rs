//! `#[unsafe(no_mangle)]` on an `unsafe extern "C-unwind"` fn; `extern "system"`; a body that
//! uses `Self` items and nested closures capturing parameters.
use cache_core::ttl_cached;

/// # Safety
/// None.
#[unsafe(no_mangle)]
#[ttl_cached(ttl = "1h")]
pub unsafe extern "C-unwind" fn h42_exported_unwind(key: u32) -> u32 {
    key
}

#[ttl_cached(ttl = "1h")]
pub extern "system" fn sys(key: u32) -> u32 {
    key
}

pub struct Config;

impl Config {
    const BASE: u32 = 10;

    fn helper(x: u32) -> u32 {
        x * 2
    }

    #[ttl_cached(ttl = "1h")]
    pub fn compute(key: u32, label: &str) -> String {
        let add = |x: u32| {
            let inner = move || x + key + Self::BASE;
            inner() + Self::helper(x)
        };
        format!("{label}{}", add(1))
    }
}

fn main() {
    assert_eq!(unsafe { h42_exported_unwind(1) }, 1);
    let _: unsafe extern "C-unwind" fn(u32) -> u32 = h42_exported_unwind;
    let _: extern "system" fn(u32) -> u32 = sys;
    assert_eq!(Config::compute(1, "n"), "n14");
}
