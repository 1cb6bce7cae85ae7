//! Generating the memoized function. Everything here was validated: expansion cannot fail.
//!
//! For `fn f(a: &str, n: u32) -> T { body }` the output is, in outline:
//!
//! ```text
//! fn f(a: &str, n: u32) -> T {
//!     fn __ttl_cached_map() -> &'static TtlMap<(String, u32), T> { /* static OnceLock */ }
//!     let __ttl_cached_key1 = n.clone();
//!     __ttl_cached_map().get_or_insert_with(&TupleRef((a, &__ttl_cached_key1)), move || -> T body)
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use crate::ast::{Function, Output, Param, ParamKind};
use crate::valid::{DurationArg, Handle, Options};

pub(crate) fn expand(function: &Function<'_>, options: &Options<'_>) -> TokenStream {
    let rt = &options.runtime;
    let item = function.item;
    let (attrs, vis, sig) = (&item.attrs, &item.vis, &item.sig);
    let key = Key::of(function, options);
    let key_ty = &key.ty;
    let value_ty = match function.output.cached() {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let map_ty = quote!(#rt::TtlMap<#key_ty, #value_ty>);
    let build = build_map(options);
    let handle_body = quote! {
        static CACHE: #rt::__private::OnceLock<#map_ty> = #rt::__private::OnceLock::new();
        CACHE.get_or_init(|| #build)
    };

    // The map lives in a handle function: a public one when `cache = name` asks for it,
    // else one nested in the function where nothing else can reach it.
    let (outer_handle, inner_handle, handle) = match &options.cache {
        Some(Handle { call, name }) => {
            let cfgs = attrs.iter().filter(|a| a.path().is_ident("cfg"));
            let doc = format!(
                "The cache behind `{}`: read its stats, invalidate a key or clear it.",
                sig.ident
            );
            let outer = quote! {
                #(#cfgs)*
                #[doc = #doc]
                #vis fn #name() -> &'static #map_ty { #handle_body }
            };
            (outer, TokenStream::new(), quote!(#call()))
        }
        None => {
            let name = Ident::new("__ttl_cached_map", Span::mixed_site());
            let inner = quote! { fn #name() -> &'static #map_ty { #handle_body } };
            (TokenStream::new(), inner, quote!(#name()))
        }
    };

    let assertions = assertions(function, &key, rt);
    let setup = &key.setup;
    let call = call(function, &handle, &key.lookup, rt);
    quote! {
        #outer_handle
        #(#attrs)*
        #vis #sig {
            #inner_handle
            #assertions
            #(#setup)*
            #call
        }
    }
}

/// The key's type, the statements that prepare it and the expression that looks it up.
struct Key {
    ty: TokenStream,
    setup: Vec<TokenStream>,
    lookup: TokenStream,
    /// Each part's type, spanned on the parameter it comes from, for the `Hash + Eq` check.
    parts: Vec<(TokenStream, Span)>,
}

impl Key {
    fn of(function: &Function<'_>, options: &Options<'_>) -> Self {
        let rt = &options.runtime;
        if let Some(custom) = options.key {
            let (ty, expr) = (&custom.ty, &custom.expr);
            let name = Ident::new("__ttl_cached_key", Span::mixed_site());
            return Key {
                ty: quote!(#ty),
                setup: vec![quote!(let #name: #ty = #expr;)],
                lookup: quote!(&#name),
                parts: vec![(quote!(#ty), ty.span())],
            };
        }
        let mut setup = Vec::new();
        let mut parts = Vec::new();
        let mut lookups = Vec::new();
        let typed = function.params.iter().filter_map(|p| match p {
            Param::Typed {
                ident, ty, kind, ..
            } => Some((ident.expect("validated"), *ty, *kind)),
            Param::Receiver(_) => None,
        });
        for (i, (ident, ty, kind)) in typed.enumerate() {
            let (part, lookup) = match kind {
                ParamKind::Ref(elem) => (
                    quote!(<#elem as ::std::borrow::ToOwned>::Owned),
                    quote!(#ident),
                ),
                ParamKind::OptionRef(elem) => (
                    quote!(::core::option::Option<<#elem as ::std::borrow::ToOwned>::Owned>),
                    quote!(&#rt::OptionRef(#ident)),
                ),
                ParamKind::Owned => {
                    // The body may consume the argument, so the key is a clone made first.
                    let copy = format_ident!("__ttl_cached_key{}", i, span = Span::mixed_site());
                    setup.push(quote!(let #copy = ::core::clone::Clone::clone(&#ident);));
                    (quote!(#ty), quote!(&#copy))
                }
            };
            parts.push((part, ty.span()));
            lookups.push(lookup);
        }
        let (ty, lookup) = match parts.as_slice() {
            [] => (quote!(()), quote!(&())),
            [(part, _)] => (part.clone(), lookups.remove(0)),
            _ => {
                let types = parts.iter().map(|(t, _)| t);
                (
                    quote!((#(#types,)*)),
                    quote!(&#rt::TupleRef((#(#lookups,)*))),
                )
            }
        };
        Key {
            ty,
            setup,
            lookup,
            parts,
        }
    }
}

fn build_map(options: &Options<'_>) -> TokenStream {
    let rt = &options.runtime;
    let ttl = duration(&options.ttl, rt);
    let mut calls = vec![quote!(.ttl(#ttl))];
    if options.fixed {
        calls.push(quote!(.expiry(#rt::Expiry::Fixed)));
    }
    if let Some(sweep) = &options.sweep {
        let sweep = duration(sweep, rt);
        calls.push(quote!(.sweep_every(#sweep)));
    }
    if let Some(capacity) = options.capacity {
        calls.push(quote_spanned!(capacity.span()=> .capacity({
            let capacity: usize = #capacity;
            capacity
        })));
    }
    if let Some(clock) = options.clock {
        calls.push(quote!(.clock(#clock)));
    }
    quote!(#rt::TtlMap::builder() #(#calls)* .build())
}

fn duration(arg: &DurationArg<'_>, rt: &syn::Path) -> TokenStream {
    match arg {
        DurationArg::Literal(d, span) => {
            let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
            quote_spanned!(*span=> #rt::__private::Duration::new(#secs, #nanos))
        }
        DurationArg::Expr(expr) => quote_spanned!(expr.span()=> {
            let duration: #rt::__private::Duration = #expr;
            duration
        }),
    }
}

/// Checks whose errors point at the user's types rather than into generated code.
fn assertions(function: &Function<'_>, key: &Key, rt: &syn::Path) -> TokenStream {
    let keys = key
        .parts
        .iter()
        .map(|(ty, span)| quote_spanned!(*span=> let _ = #rt::__private::assert_key::<#ty>;));
    let value = function
        .output
        .cached()
        .map(|ty: &Type| quote_spanned!(ty.span()=> let _ = #rt::__private::assert_clone::<#ty>;));
    quote!(#(#keys)* #value)
}

fn call(
    function: &Function<'_>,
    handle: &TokenStream,
    lookup: &TokenStream,
    rt: &syn::Path,
) -> TokenStream {
    let body = &function.item.block;
    let ret = function.output.declared().map(|ty| quote!(-> #ty));
    let declared = function
        .output
        .declared()
        .map_or_else(|| quote!(()), |ty| quote!(#ty));
    if function.is_async() {
        // Pinning the block's output type lets `?` in the body infer its error conversion.
        let future = quote!(#rt::__private::typed_future::<#declared, _>(async move #body));
        match function.output {
            Output::Plain(_) => quote!(#handle.get_or_insert_with_async(#lookup, #future).await),
            Output::Result { .. } => {
                quote!(#handle.try_get_or_insert_with_async(#lookup, #future).await)
            }
            Output::Option { .. } => quote! {
                #handle
                    .try_get_or_insert_with_async(#lookup, #rt::__private::some_or_skip_async(#future))
                    .await
                    .ok()
            },
        }
    } else {
        let closure = quote!(move || #ret #body);
        match function.output {
            Output::Plain(_) => quote!(#handle.get_or_insert_with(#lookup, #closure)),
            Output::Result { .. } => quote!(#handle.try_get_or_insert_with(#lookup, #closure)),
            Output::Option { .. } => quote! {
                #handle.try_get_or_insert_with(#lookup, #rt::__private::some_or_skip(#closure)).ok()
            },
        }
    }
}
