//! `async unsafe`, `unsafe extern "C"`, `pub(crate)` with a handle, a nested fn item.
use cache_core::ttl_cached;

/// # Safety
/// None.
#[ttl_cached(ttl = "1h")]
pub async unsafe fn both(key: u32) -> u32 {
    key
}

/// # Safety
/// None.
#[ttl_cached(ttl = "1h", cache = c_cache)]
pub(crate) unsafe extern "C" fn c_unsafe(key: u32) -> u32 {
    key
}

fn outer(key: u32) -> u32 {
    #[ttl_cached(ttl = "1h")]
    fn inner(key: u32) -> u32 {
        key * 3
    }
    inner(key)
}

fn main() {
    let _ = unsafe { both(1) };
    let _: unsafe extern "C" fn(u32) -> u32 = c_unsafe;
    assert_eq!(unsafe { c_unsafe(2) }, 2);
    assert_eq!(c_cache().len(), 1);
    assert_eq!(outer(2), 6);
}
