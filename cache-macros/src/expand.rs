//! Generating the memoized function. Everything here was validated: expansion cannot fail.
//!
//! For `fn f(a: &str, n: u32) -> R { body }` the output is, in outline (`P` is
//! `cache_core::__private`, `V` the cached value type `<R as P::Returns<KIND>>::Value`):
//!
//! ```text
//! fn f(a: &str, n: u32) -> R {
//!     const KIND: u8 = /* P::PLAIN, RESULT, OPTION or RESULT_SHARED, from R's type */;
//!     const OK: bool = /* whether (String, u32) and V can make a cache */;
//!     static CACHE: <((String, u32), V) as P::Store<OK>>::Static = ..::NEW;
//!     let _ = P::assert_key::<String>; // errors on the user's types, not in generated code
//!     let __ttl_cached_key1 = P::KeyPart::<OK>::of(&n);
//!     let map = P::Store::map(&CACHE, P::instance_of(&|| ()), || TtlMap::<K, V>::builder()...);
//!     return <((String, u32), R) as P::Memo<KIND, OK, _>>::memo(map, &TupleRef((a, &__ttl_cached_key1)), move || -> R body);
//! }
//! ```
//!
//! `instance_of(&|| ())` tells the instantiations of a function that is generic through its
//! `impl` or trait apart; when `OK` is false an assertion has reported why and `Store` and
//! `Memo` pick impls that ask nothing more, so each mistake is reported once. A parameter
//! `&T` of another type than `str` or `[T]` keys by `<T as P::Owned<{ P::Owns::<T>::OK }>>::Owned`:
//! `T::Owned`, or `T` itself when `T` is not `ToOwned`, which its assertion then reports alone.
//!
//! With `shared = tier` (async only) the pairs are `P::Fleet<(K, V)>` and `P::Fleet<(K, R)>`,
//! whose impls make a `cache_core::redis::Shared` map from `P::share(builder, tier)`, named by
//! `P::fleet_name` (the function's path with its `impl`'s type, so each instantiation has its
//! own values in Redis). `P::assert_shared_key`/`assert_shared_value` come first, and
//! `P::Local::<{ P::Serde::<T>::KEY }>` makes the local check of a type only once it can
//! travel, so each mistake is still one error; `P::assert_redis` is that error when cache-core
//! lacks feature `redis`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, Type};

use crate::ast::{Boxed, Function, Param, ParamKind};
use crate::lints;
use crate::valid::{DurationArg, Handle, Options};

/// The name of the constant that says whether the key and value types can make a cache.
const OK: &str = "__TTL_CACHED_OK";

pub(crate) fn expand(function: &Function<'_>, options: &Options<'_>) -> TokenStream {
    let rt = &options.runtime;
    let p = quote!(#rt::__private);
    let item = function.item;
    let (vis, sig) = (&item.vis, &item.sig);
    // `#![allow(..)]` at the top of the body stays there: it is about the body.
    let (inner, attrs): (Vec<_>, Vec<_>) =
        (item.attrs.iter()).partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let key = Key::of(function, options);
    let key_ty = &key.ty;
    let ret = match function.output.0 {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let kind = Ident::new("__TTL_CACHED_KIND", Span::mixed_site());
    let ok = Ident::new(OK, Span::mixed_site());
    let value_ty = Ident::new("__TtlCachedValue", Span::mixed_site());
    let entry = Ident::new("__TtlCachedEntry", Span::mixed_site());
    let call_ty = Ident::new("__TtlCachedCall", Span::mixed_site());
    // A shared function's pairs are wrapped in `Fleet`, whose impls ask for Redis's bounds too.
    // A plain function's (sync, without a handle, whose type is `TtlMap<K, V>`, not shared),
    // in a debug build, in `Erased`: its map is then the engine compiled once in cache-core
    // for every such function, which builds in a fraction of the time; a release build
    // instantiates the map for its types, whose hits and misses are faster.
    let plain = !function.is_async()
        && function.boxed.is_none()
        && options.cache.is_none()
        && options.shared.is_none();
    let (entries, calls) = match options.shared {
        Some(_) => (
            quote!(type #entry = #p::Fleet<(#key_ty, #value_ty)>;),
            quote!(#p::Fleet<(#key_ty, #ret)>),
        ),
        None if plain => (
            quote! {
                #[cfg(debug_assertions)]
                type #entry = #p::Erased<(#key_ty, #value_ty)>;
                #[cfg(not(debug_assertions))]
                type #entry = (#key_ty, #value_ty);
            },
            quote!(#call_ty),
        ),
        None => (
            quote!(type #entry = (#key_ty, #value_ty);),
            quote!((#key_ty, #ret)),
        ),
    };
    let serde_fails = options.shared.map(|_| quote!(, SerdeFails as _));
    let consts = quote! {
        use #p::{CheckFails as _, OwnsNot as _, ProbePlain as _, ProbeUnshared as _ #serde_fails};
        const #kind: u8 = #p::Probe::<#ret>::KIND + #p::ProbeShared::<#ret>::SHARED;
        type #value_ty = <#ret as #p::Returns<#kind>>::Value;
        #entries
        const #ok: bool = #p::Check::<#entry>::OK;
    };
    let store = quote!(<#entry as #p::Store<#ok>>);
    let cache = Ident::new("__TTL_CACHED", Span::mixed_site());
    let build = build_map(options, &item.sig.ident, key_ty, &value_ty);
    let static_item = quote!(static #cache: #store::Static = #store::NEW;);
    let get_map = quote!(#store::map(&#cache, #p::instance_of(&|| ()), || #build));

    // The map lives in the function's body, or in the handle function `cache = name` asks
    // for (whose own closure tells the instantiations apart just as the function's would).
    let map = Ident::new("__ttl_cached_map", Span::mixed_site());
    let (outer_handle, get_map) = match &options.cache {
        Some(Handle { call, name }) => {
            let kept = attrs.iter().filter(|a| {
                a.path().is_ident("cfg") || a.path().is_ident("deprecated") || is_doc_hidden(a)
            });
            const SHARED: &str =
                " Shared through Redis: `remove` and `clear_async` reach Redis and every process.";
            let shared = if options.shared.is_some() { SHARED } else { "" };
            // In an `impl` or a trait (`cache = Self::name`) the function is `Self::f`: a
            // bare `f` there is no intra-doc link, and rustdoc would emit it as the relative
            // URL `f`, which leads nowhere.
            let target = match call.segments.len() {
                1 => sig.ident.to_string(),
                _ => format!("Self::{}", sig.ident),
            };
            let doc = format!(
                "The cache behind [`{0}`]({3}): read its stats, invalidate a key or clear it. \
                 Its keys are `{1}`; its values are what `{0}` returns (the `Ok` or `Some` value \
                 for a `Result` or an `Option`).{2}",
                sig.ident, key.shown, shared, target
            );
            // The signature cannot see the body's items: the kind is computed in place.
            let handle_kind = quote!({
                use #p::{ProbePlain as _, ProbeUnshared as _};
                #p::Probe::<#ret>::KIND + #p::ProbeShared::<#ret>::SHARED
            });
            let value = quote!(<#ret as #p::Returns<#handle_kind>>::Value);
            // `__private::Shared` is `cache_core::redis::Shared` (rustdoc shows it so), or a
            // stand-in without feature `redis`, which then reports one error, not two.
            let map_ty = |key: &TokenStream| match options.shared {
                Some(_) => quote!(#p::Shared<#key, #value>),
                None => quote!(#rt::TtlMap<#key, #value>),
            };
            // A trait's method kept off its trait objects (`where Self: Sized`, as with a
            // dyn-compatible `#[async_trait]` trait) keeps its handle off them too.
            let sized = sized_self(sig).then(|| quote!(where Self: ::core::marker::Sized));
            let handle = |key: &TokenStream, cfg: TokenStream, body: TokenStream| {
                let map_ty = map_ty(key);
                let kept = kept.clone();
                quote! {
                    #[doc = #doc]
                    #cfg
                    #(#kept)*
                    #vis fn #name() -> &'static #map_ty #sized { #body }
                }
            };
            let body = quote!(#consts #static_item #get_map);
            let outer = match &key.exact {
                None => handle(&key.named, TokenStream::new(), body),
                // A key named `PathBuf` for `&Path` is what rustdoc shows, but only the
                // standard library's `Path` owns as a `PathBuf`: a user's type of that name
                // (`object_store::path::Path`) keys by its own `ToOwned::Owned`, which the
                // compiled signature names. (rustdoc does not check bodies.)
                Some(exact) => {
                    let documented = handle(
                        &key.named,
                        quote!(#[cfg(doc)]),
                        quote!(::core::unreachable!()),
                    );
                    let compiled = handle(exact, quote!(#[cfg(not(doc))]), body);
                    quote!(#documented #compiled)
                }
            };
            // A deprecated function's handle is deprecated too, but not for the function. The
            // `allow` only then: under `#![forbid(deprecated)]` it would be an error.
            let deprecated = attrs.iter().any(|a| a.path().is_ident("deprecated"));
            let allow = deprecated.then(|| quote!(#[allow(deprecated)]));
            (outer, quote!(#allow let #map = #call();))
        }
        None => (
            TokenStream::new(),
            quote!(#static_item let #map = #get_map;),
        ),
    };

    let assertions = assertions(function, options, &key, &p, &value_ty);
    let setup = &key.setup;
    let call = call(function, &map, &key.lookup, &p, &kind, &ok, &calls, &ret);
    let call_pairs = plain.then(|| {
        quote! {
            #[cfg(debug_assertions)]
            type #call_ty = #p::Erased<(#key_ty, #ret)>;
            #[cfg(not(debug_assertions))]
            type #call_ty = (#key_ty, #ret);
        }
    });
    let mut memoized = quote! {
        #consts
        #call_pairs
        #assertions
        #get_map
        #(#setup)*
    };
    // A `return`, not a tail: clippy's `implicit_return` reported a tail of ours at the
    // attribute, where no `return` could be added.
    if function.boxed.is_some() {
        // The function returns a boxed future (`#[async_trait]`): so does the memoized one.
        memoized = quote!(return ::std::boxed::Box::pin(async move { #memoized #call });)
    } else {
        memoized.extend(quote!(return #call;));
    }
    // In the body's own braces: the function then spans only the user's tokens, so that
    // lints of its signature and body (clippy's, `dead_code`) judge it as the user's code.
    let mut body = TokenStream::new();
    let inner = inner.into_iter().flat_map(lints::attribute);
    (item.block.brace_token).surround(&mut body, |body| body.extend(quote!(#(#inner)* #memoized)));
    let attrs = attrs.into_iter().flat_map(lints::attribute);
    // The signature as written; with a parameter's expectation judged as the function's,
    // printed from the model's reading, whose types need no invisible group to parse.
    let head = match lints::signature(function.sig) {
        Some(sig) => quote!(#vis #sig),
        None => function.head.clone(),
    };
    quote! {
        #outer_handle
        #(#attrs)*
        #head #body
    }
}

/// Whether the `where` clause has `Self: Sized`.
fn sized_self(sig: &syn::Signature) -> bool {
    let predicates = sig.generics.where_clause.iter().flat_map(|c| &c.predicates);
    predicates
        .filter_map(|predicate| match predicate {
            syn::WherePredicate::Type(p) => Some(p),
            _ => None,
        })
        .filter(|p| matches!(&p.bounded_ty, Type::Path(t) if t.qself.is_none() && t.path.is_ident("Self")))
        .flat_map(|p| &p.bounds)
        .any(|bound| {
            matches!(bound, syn::TypeParamBound::Trait(t)
                if matches!(t.modifier, syn::TraitBoundModifier::None)
                    && t.path.segments.last().is_some_and(|s| s.ident == "Sized"))
        })
}

/// `#[doc(hidden)]`: the handle of a hidden function is hidden too.
fn is_doc_hidden(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("doc")
        && matches!(&attr.meta, syn::Meta::List(list) if list.tokens.to_string() == "hidden")
}

/// The key's type, the statements that prepare it and the expression that looks it up.
struct Key {
    ty: TokenStream,
    /// The same type as the handle's documented signature names it: `PathBuf` for `<Path as
    /// ToOwned>::Owned`, so that rustdoc shows it so.
    named: TokenStream,
    /// The same type as the handle's compiled signature names it, when it is not `named`:
    /// `<Path as ToOwned>::Owned`, which a user's type named `Path` may also be.
    exact: Option<TokenStream>,
    /// The key's type as the handle's documentation shows it.
    shown: String,
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
                named: quote!(#ty),
                exact: None,
                shown: shown(quote!(#ty)),
                setup: vec![quote!(let #name: #ty = #expr;)],
                lookup: quote!(&#name),
                parts: vec![(quote!(#ty), ty.span())],
            };
        }
        let mut setup = Vec::new();
        let mut parts = Vec::new();
        let mut named = Vec::new();
        let mut exact = Vec::new();
        let mut by_std_name = false;
        let mut lookups = Vec::new();
        let typed = function.params.iter().filter_map(|p| match p {
            Param::Typed {
                ident, ty, kind, ..
            } => Some((ident.expect("validated"), *ty, *kind)),
            Param::Receiver(_) => None,
        });
        for (i, (ident, ty, kind)) in typed.enumerate() {
            // A parameter named `_name` is read by the key: clippy's `used_underscore_binding`
            // would report the read at the user's parameter, which the user cannot change.
            let underscored = ident.to_string().starts_with('_');
            let allow = underscored.then(|| quote!(#[allow(clippy::used_underscore_binding)]));
            let ident = match kind {
                ParamKind::Ref(_) | ParamKind::OptionRef(_) if underscored => {
                    let alias = format_ident!("__ttl_cached_arg{}", i, span = Span::mixed_site());
                    setup.push(quote!(#allow let #alias = #ident;));
                    alias
                }
                _ => ident.clone(),
            };
            let (part, lookup) = match kind {
                ParamKind::Ref(elem) => {
                    let std = std_owned(elem);
                    by_std_name |= std.is_some();
                    named.push(std.unwrap_or_else(|| owned(elem)));
                    exact.push(owned(elem));
                    (keyed(elem, rt), quote!(#ident))
                }
                ParamKind::OptionRef(elem) => {
                    let std = std_owned(elem);
                    by_std_name |= std.is_some();
                    let std = std.unwrap_or_else(|| owned(elem));
                    let own = owned(elem);
                    named.push(quote!(::core::option::Option<#std>));
                    exact.push(quote!(::core::option::Option<#own>));
                    // Located at its parameter, so that what is wrong with it (not `Hash`,
                    // say) is reported there.
                    let owned = keyed(elem, rt);
                    (
                        respan(quote!(::core::option::Option<#owned>), ty.span()),
                        quote!(&#rt::OptionRef(#ident)),
                    )
                }
                ParamKind::Owned => {
                    // The body may consume the argument, so the key is a clone made first;
                    // through `KeyPart`, which asks nothing of a type already reported.
                    let copy = format_ident!("__ttl_cached_key{}", i, span = Span::mixed_site());
                    let ok = Ident::new(OK, Span::mixed_site());
                    setup.push(
                        quote!(#allow let #copy = #rt::__private::KeyPart::<#ok>::of(&#ident);),
                    );
                    named.push(quote!(#ty));
                    exact.push(quote!(#ty));
                    (quote!(#ty), quote!(&#copy))
                }
            };
            parts.push((part, ty.span()));
            lookups.push(lookup);
        }
        let (ty, named, exact, lookup) = match parts.as_slice() {
            [] => (quote!(()), quote!(()), quote!(()), quote!(&())),
            [(part, _)] => (
                part.clone(),
                named.remove(0),
                exact.remove(0),
                lookups.remove(0),
            ),
            _ => {
                let types = parts.iter().map(|(t, _)| t);
                (
                    quote!((#(#types,)*)),
                    quote!((#(#named,)*)),
                    quote!((#(#exact,)*)),
                    quote!(&#rt::TupleRef((#(#lookups,)*))),
                )
            }
        };
        Key {
            shown: shown(named.clone()),
            ty,
            named,
            exact: by_std_name.then_some(exact),
            setup,
            lookup,
            parts,
        }
    }
}

/// The owned form of a borrowed `T`: `String` for `str` and `Vec<T>` for `[T]`, else
/// `<T as ToOwned>::Owned`, which is also right for a type of the user's named `Path`.
fn owned(elem: &Type) -> TokenStream {
    match elem {
        Type::Slice(slice) => {
            let item = &slice.elem;
            quote!(::std::vec::Vec<#item>)
        }
        Type::Path(path) if path.path.is_ident("str") => quote!(::std::string::String),
        _ => quote!(<#elem as ::std::borrow::ToOwned>::Owned),
    }
}

/// [`owned`] as the map keys it: through `__private::Owned`, which asks nothing more of a `T`
/// that is not `ToOwned` (its assertion says so, once).
fn keyed(elem: &Type, rt: &syn::Path) -> TokenStream {
    match elem {
        Type::Slice(_) => owned(elem),
        Type::Path(path) if path.path.is_ident("str") => owned(elem),
        _ => {
            let p = quote!(#rt::__private);
            quote!(<#elem as #p::Owned<{ #p::Owns::<#elem>::OK }>>::Owned)
        }
    }
}

/// [`owned`] as a handle's documentation shows it: `PathBuf`, `OsString` and `CString` by
/// name for the standard library's borrowed forms (`None` for any other type). A user type
/// that shadows one of those names is documented so too, but compiled as what it is (see
/// [`Key::exact`]).
fn std_owned(elem: &Type) -> Option<TokenStream> {
    let Type::Path(path) = elem else { return None };
    if path.qself.is_some() || path.path.segments.iter().any(|s| !s.arguments.is_none()) {
        return None;
    }
    let names: Vec<String> = (path.path.segments.iter())
        .map(|s| s.ident.to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // As imported (`use std::path::Path`), or written from the standard library's root.
    match (path.path.leading_colon.is_some(), names.as_slice()) {
        (false, ["Path"]) | (_, ["std", "path", "Path"]) => Some(quote!(::std::path::PathBuf)),
        (false, ["OsStr"]) | (_, ["std", "ffi", "OsStr"]) => Some(quote!(::std::ffi::OsString)),
        (false, ["CStr"]) | (_, ["std" | "core", "ffi", "CStr"]) => {
            Some(quote!(::std::ffi::CString))
        }
        _ => None,
    }
}

/// A type as a reader would write it: `String`, not `::std::string::String`.
fn shown(ty: TokenStream) -> String {
    ty.to_string()
        .replace(":: std :: string :: ", "")
        .replace(":: std :: vec :: ", "")
        .replace(":: std :: path :: ", "")
        .replace(":: std :: ffi :: ", "")
        .replace(":: core :: option :: ", "")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace("& ", "&")
}

/// The map's builder, named after the function's path (`cache_core::caches()` lists it so).
fn build_map(
    options: &Options<'_>,
    function: &syn::Ident,
    key_ty: &TokenStream,
    value_ty: &Ident,
) -> TokenStream {
    let rt = &options.runtime;
    let ttl = duration(&options.ttl, rt);
    // `r#match` is `match` in its path, as `type_name` writes the closure's path beside it.
    let function = &function.unraw();
    // Typed, so that a name that is not a `&'static str` is reported on itself.
    let given = options.name.map(|name| {
        quote_spanned!(name.span()=> {
            let name: &'static str = #name;
            name
        })
    });
    let name = match (given, options.shared) {
        // Each instantiation of a generic `impl` keeps its own values in Redis.
        (Some(given), Some(_)) => quote!(#rt::__private::fleet_named(
            #given,
            #rt::__private::type_name_of(&|| ()),
            ::core::stringify!(#function)
        )),
        (Some(given), None) => given,
        // The function's path with its `impl`'s type and generic arguments (see
        // `fleet_name`): two methods of one name in one module keep apart in `caches()`, and
        // a shared map's name is its identity in Redis.
        (None, _) => quote!(#rt::__private::fleet_name(
            #rt::__private::type_name_of(&|| ()),
            ::core::stringify!(#function)
        )),
    };
    let mut calls = vec![quote!(.ttl(#ttl)), quote!(.name(#name))];
    if options.fixed {
        calls.push(quote!(.expiry(#rt::Expiry::Fixed)));
    }
    if let Some(max_lifetime) = &options.max_lifetime {
        let max_lifetime = duration(max_lifetime, rt);
        calls.push(quote!(.max_lifetime(#max_lifetime)));
    }
    if let Some(refresh_after) = &options.refresh_after {
        let refresh_after = duration(refresh_after, rt);
        calls.push(quote!(.refresh_after(#refresh_after)));
    }
    if let Some(window) = &options.stale_if_error {
        let window = duration(window, rt);
        calls.push(quote!(.stale_if_error(#window)));
    }
    if let Some(expire_after) = options.expire_after {
        calls.push(quote_spanned!(expire_after.span()=> .expire_after(#expire_after)));
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
    // Typed, so that an `expire_after` closure of the wrong shape is reported on itself.
    let builder = quote!(#rt::TtlMap::<#key_ty, #value_ty>::builder() #(#calls)*);
    match options.shared {
        // Spanned at the tier, so that a tier of another type is reported there.
        Some(shared) => {
            let tier = &shared.tier;
            quote_spanned!(tier.span()=> #rt::__private::share(#builder, #tier))
        }
        None => builder,
    }
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
///
/// A shared function's types must also travel through Redis; when one cannot, that is the
/// one error about it (`Local` then skips the local check of the same type).
fn assertions(
    function: &Function<'_>,
    options: &Options<'_>,
    key: &Key,
    p: &TokenStream,
    value_ty: &Ident,
) -> TokenStream {
    let shared = options.shared.is_some();
    let keys = key.parts.iter().map(|(ty, span)| {
        // Every token located at the parameter (`<T as ToOwned>::Owned` is written here), so
        // the error is too.
        let ty = respan(ty.clone(), *span);
        if shared {
            quote_spanned! {*span=>
                let _ = #p::assert_shared_key::<#ty>;
                let _ = #p::Local::<{ #p::Serde::<#ty>::KEY }>::assert_key::<#ty>;
            }
        } else {
            quote_spanned!(*span=> let _ = #p::assert_key::<#ty>;)
        }
    });
    let span = function
        .output
        .0
        .map_or_else(Span::call_site, Spanned::span);
    // Every token of the projection is located at the return type, so the error is too.
    let value_ty = respan(quote!(#value_ty), span);
    let value = if shared {
        quote_spanned! {span=>
            let _ = #p::assert_shared_value::<#value_ty>;
            let _ = #p::Local::<{ #p::Serde::<#value_ty>::VALUE }>::assert_value::<#value_ty>;
        }
    } else {
        quote_spanned!(span=> let _ = #p::assert_value::<#value_ty>;)
    };
    // Without feature `redis`, the one error, at the option.
    let feature = options.shared.map(|shared| {
        let assert = respan(
            quote!(#p::assert_redis::<#p::FeatureRedis>),
            shared.name.span(),
        );
        quote!(let _ = #assert;)
    });
    quote!(#feature #(#keys)* #value)
}

#[allow(clippy::too_many_arguments)]
fn call(
    function: &Function<'_>,
    map: &Ident,
    lookup: &TokenStream,
    p: &TokenStream,
    kind: &Ident,
    ok: &Ident,
    memo: &TokenStream,
    ret: &TokenStream,
) -> TokenStream {
    // The body as it came, not as syn prints it (see `Function::body`).
    let body = &function.body;
    if let Some(boxed) = &function.boxed {
        // The body makes the boxed future: it is the constructor. `#[async_trait]`'s
        // `Box::pin(async move { .. })` goes in as its async block, unboxed: a hit then
        // allocates one box, the one the signature returns (ours, in place of
        // `#[async_trait]`'s). Any other body (written by hand) runs only on a miss too, as a
        // closure of the declared type, so that its `return`s and branches still coerce to it.
        let future = match boxed {
            Boxed::Async(future) => future.clone(),
            Boxed::Body => {
                let declared = &function.item.sig.output;
                let closure = quote_spanned!(body.span() => move ||);
                quote!(async move { (#closure #declared #body)().await })
            }
        };
        quote! {
            <#memo as #p::MemoAsync<#kind, #ok, _>>::memo_async(#map, #lookup, #future).await
        }
    } else if function.is_async() {
        // The first `return` fixes the block's output type (see `never`), so that the body's
        // tail coerces to it. The body keeps its own block, so that its items (`struct
        // Config`, `use io::Error`) do not shadow the names in `#ret`, and its own braces,
        // whose edition (the user's crate's, where ours are 2024) decides when its tail's
        // temporaries drop: after its locals before 2024, as without the attribute. As a
        // match arm, a one-line body is not the user's `unused_braces`.
        let future = quote!(async move {
            if false { return #p::never::<#ret>(); }
            match () { () => #body }
        });
        quote! {
            <#memo as #p::MemoAsync<#kind, #ok, _>>::memo_async(#map, #lookup, #future).await
        }
    } else {
        // The closure is the body, located so: lints of the body (`needless_return`, ...)
        // judge it as the user's code.
        let closure = quote_spanned!(body.span() => move || ->);
        quote! {
            <#memo as #p::Memo<#kind, #ok, _>>::memo(#map, #lookup, #closure #ret #body)
        }
    }
}

/// `tokens`, each located at `span` (keeping its hygiene).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(group.span().located_at(span));
                token = proc_macro2::TokenTree::Group(inner);
            } else {
                token.set_span(token.span().located_at(span));
            }
            token
        })
        .collect()
}
