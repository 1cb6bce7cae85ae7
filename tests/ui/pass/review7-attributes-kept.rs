//! Ordinary attributes and visibilities: `#[no_mangle]`-style export, `#[cold]`,
//! `#[inline(never)]`, `#[doc = ..]`, `#[cfg_attr(.., must_use)]`, `pub(in path)`, `pub(super)`.
#![deny(warnings)]
use cache_core::ttl_cached;

pub mod outer {
    pub mod inner {
        use cache_core::ttl_cached;

        /// Doc.
        #[ttl_cached(ttl = "1h", cache = scoped_cache)]
        pub(in crate::outer) fn scoped(key: u32) -> u32 {
            key
        }

        #[ttl_cached(ttl = "1h", cache = up_cache)]
        pub(super) fn up(key: u32) -> u32 {
            key
        }
    }

    pub fn use_them() -> usize {
        inner::scoped(1) as usize + inner::up(2) as usize + inner::scoped_cache().len() + inner::up_cache().len()
    }
}

#[doc = concat!("Generated ", "docs.")]
#[ttl_cached(ttl = "1h")]
#[cold]
#[inline(never)]
#[cfg_attr(all(), must_use)]
#[unsafe(export_name = "h42_exported")]
pub extern "C" fn exported(key: u32) -> u32 {
    key + 1
}

fn main() {
    assert_eq!(outer::use_them(), 5);
    assert_eq!(exported(1), 2);
}
