//! The user's `#[expect(..)]` on a memoized function. A few lints judge the memoized function
//! otherwise than the function as written, by design of the rewrite: the key reads every
//! parameter, the body becomes the cache's constructor and the function returns (or awaits)
//! the cache's answer. An expectation of one of them would then go unfulfilled where the
//! function without the attribute fulfils it (`unfulfilled_lint_expectations`, which
//! `#![deny(warnings)]` makes an error the user cannot fix), so it becomes an `allow` of that
//! lint. Every other lint is judged on the user's own tokens, as without the attribute, and
//! keeps its `expect`, so a stale expectation (`dead_code` on a function now used) is still
//! reported.
//!
//! A lint group is judged as its members: an `expect` of a group that holds one of those lints
//! (`unused`, `clippy::pedantic`) could be fulfilled by that lint alone, so it becomes an
//! `allow` too. And an `expect` on a parameter (`#[expect(unused_variables)] hint: u32`, the
//! narrowest place for it) is judged as one on the function.

use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, Meta, Signature, Token};

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

/// The lint groups that hold a lint of [`REJUDGED`] (rustc's and clippy's, as of Rust 1.95):
/// an `expect` of one may be fulfilled by that lint only, which the rewrite silences.
const REJUDGED_GROUPS: &[&str] = &[
    // `unused_variables`.
    "unused",
    // `unused_async`, `unnecessary_wraps`, `needless_pass_by_value`.
    "clippy::pedantic",
    // `ptr_arg`.
    "clippy::style",
    "clippy::all",
    // `missing_const_for_fn`.
    "clippy::nursery",
];

/// `sig` as the memoized function carries it, if a parameter's attribute changes: each
/// parameter's attributes as [`attribute`] makes them.
pub(crate) fn signature(sig: &Signature) -> Option<Signature> {
    let mut sig = sig.clone();
    let mut changed = false;
    for input in &mut sig.inputs {
        let attrs = match input {
            FnArg::Typed(typed) => &mut typed.attrs,
            FnArg::Receiver(receiver) => &mut receiver.attrs,
        };
        changed |= attrs.iter().any(|attr| rejudge(attr).is_some());
        *attrs = attrs.iter().flat_map(attribute).collect();
    }
    changed.then_some(sig)
}

/// `attr` as the memoized function carries it: see [`rejudge`].
pub(crate) fn attribute(attr: &Attribute) -> Vec<Attribute> {
    rejudge(attr).unwrap_or_else(|| vec![attr.clone()])
}

/// An `expect` of lints in [`REJUDGED`] (or of groups in [`REJUDGED_GROUPS`]) split into an
/// `allow` of those and an `expect` of the others (each with the `reason`, if any); `None`
/// for an attribute that stays as written.
fn rejudge(attr: &Attribute) -> Option<Vec<Attribute>> {
    let Meta::List(list) = &attr.meta else {
        return None;
    };
    let parsed = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated);
    let metas = parsed.ok().filter(|_| list.path.is_ident("expect"))?;
    let rejudged = |meta: &Meta| match meta {
        Meta::Path(path) => {
            let name = (path.segments.iter())
                .map(|segment| segment.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            REJUDGED.contains(&name.as_str()) || REJUDGED_GROUPS.contains(&name.as_str())
        }
        _ => false,
    };
    let (allowed, expected): (Vec<&Meta>, Vec<&Meta>) = metas.iter().partition(|m| rejudged(m));
    if allowed.is_empty() {
        return None;
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
        attr
    };
    let allow = with("allow", &allowed);
    let expect = (!expected.is_empty()).then(|| with("expect", &expected));
    Some([allow].into_iter().chain(expect).collect())
}
