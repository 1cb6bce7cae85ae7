//! The user's `#[expect(..)]` on a memoized function. A few lints judge the memoized function
//! otherwise than the function as written, by design of the rewrite: the key reads every
//! parameter, the body becomes the cache's constructor and the function returns (or awaits)
//! the cache's answer. An expectation of one of them would then go unfulfilled where the
//! function without the attribute fulfils it (`unfulfilled_lint_expectations`, which
//! `#![deny(warnings)]` makes an error the user cannot fix), so it becomes an `allow` of that
//! lint. Every other lint is judged on the user's own tokens, as without the attribute, and
//! keeps its `expect`, so a stale expectation (`dead_code` on a function now used) is still
//! reported.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token};

/// Lints that the rewrite judges otherwise, each with what changes.
const REJUDGED: &[&str] = &[
    // A parameter the body does not read is read by the key.
    "unused_variables",
    // The memoized `async fn` awaits the cache.
    "clippy::unused_async",
    // The function returns the cache's answer, not the body's `Some`/`Ok`.
    "clippy::unnecessary_wraps",
    // The key clones an owned parameter, and the body's closure takes it.
    "clippy::needless_pass_by_value",
    // The key looks `&String`, `&Vec<T>` up as they are.
    "clippy::ptr_arg",
    // A cache lives at run time.
    "clippy::missing_const_for_fn",
];

/// `attr` as the memoized function carries it: an `expect` of lints in [`REJUDGED`] split
/// into an `allow` of those and an `expect` of the others (each with the `reason`, if any).
pub(crate) fn attribute(attr: &Attribute) -> TokenStream {
    let Meta::List(list) = &attr.meta else {
        return attr.to_token_stream();
    };
    let parsed = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated);
    let Some(metas) = parsed.ok().filter(|_| list.path.is_ident("expect")) else {
        return attr.to_token_stream();
    };
    let rejudged = |meta: &Meta| match meta {
        Meta::Path(path) => {
            let name = (path.segments.iter())
                .map(|segment| segment.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            REJUDGED.contains(&name.as_str())
        }
        _ => false,
    };
    let (allowed, expected): (Vec<&Meta>, Vec<&Meta>) = metas.iter().partition(|m| rejudged(m));
    if allowed.is_empty() {
        return attr.to_token_stream();
    }
    let reasons: Vec<&Meta> = (metas.iter())
        .filter(|meta| matches!(meta, Meta::NameValue(_)))
        .collect();
    let expected: Vec<&Meta> = (expected.into_iter())
        .filter(|meta| !matches!(meta, Meta::NameValue(_)))
        .collect();
    let with = |name: &str, lints: &[&Meta]| {
        let mut attr = attr.clone();
        let path = syn::Ident::new(name, list.path.segments[0].ident.span());
        attr.meta = Meta::List(syn::MetaList {
            path: path.into(),
            delimiter: list.delimiter.clone(),
            tokens: quote!(#(#lints,)* #(#reasons),*),
        });
        attr.into_token_stream()
    };
    let allow = with("allow", &allowed);
    let expect = (!expected.is_empty()).then(|| with("expect", &expected));
    quote!(#allow #expect)
}
