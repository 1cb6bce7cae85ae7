//! Semantic checks: every mistake in the options or the function becomes a `syn::Error`
//! spanned on the tokens at fault, and all of them are reported together.

use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Expr, GenericParam, Pat, Path, Type};

use crate::args::{self, Args, CustomKey, SharedTier};
use crate::ast::{Function, Output, Param};

/// The options, checked and resolved; expansion reads only this and the function.
pub(crate) struct Options<'a> {
    pub(crate) ttl: DurationArg<'a>,
    pub(crate) sweep: Option<DurationArg<'a>>,
    pub(crate) fixed: bool,
    pub(crate) max_lifetime: Option<DurationArg<'a>>,
    pub(crate) expire_after: Option<&'a Expr>,
    pub(crate) refresh_after: Option<DurationArg<'a>>,
    pub(crate) stale_if_error: Option<DurationArg<'a>>,
    pub(crate) capacity: Option<&'a Expr>,
    pub(crate) key: Option<&'a CustomKey>,
    pub(crate) cache: Option<Handle<'a>>,
    /// `shared = tier`: the map is a `cache_core::redis::Shared`, in front of Redis.
    pub(crate) shared: Option<&'a SharedTier>,
    pub(crate) clock: Option<&'a Expr>,
    pub(crate) runtime: Path,
}

/// `cache = name` or `cache = Self::name`: the handle function to generate, and how the
/// memoized function calls it.
pub(crate) struct Handle<'a> {
    pub(crate) call: &'a Path,
    pub(crate) name: &'a syn::Ident,
}

pub(crate) enum DurationArg<'a> {
    /// A literal such as `"1h 30m"`, parsed at compile time.
    Literal(Duration, Span),
    /// An expression of type `Duration`, evaluated once, when the cache is first used.
    Expr(&'a Expr),
}

/// Keys are tuples of at most this many parameters (cache-core's `TupleRef` arities).
const MAX_KEY_PARAMS: usize = 12;

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }
}

pub(crate) fn validate<'a>(args: &'a Args, function: &Function<'_>) -> syn::Result<Options<'a>> {
    let mut errors = Errors::default();
    args.errors.iter().cloned().for_each(|e| errors.push(e));
    let options = check_options(args, &mut errors);
    if let Some(handle) = options.as_ref().and_then(|o| o.cache.as_ref())
        && *handle.name == function.item.sig.ident
    {
        errors.at(
            handle.call,
            format!(
                "`cache = {0}` names the function itself: the handle is a second function and \
                 needs its own name, e.g. `cache = {0}_cache`",
                handle.name
            ),
        );
    }
    if let Some(shared) = &args.shared
        && !function.is_async()
    {
        errors.at(
            shared,
            "`shared` needs an `async fn`: values are fetched from Redis, and a call may wait \
             for another process to build one; make the function `async`, or remove `shared` \
             to cache in this process only",
        );
    }
    check_signature(function, args.key.is_some(), &mut errors);
    match (errors.0, options) {
        (None, Some(options)) => Ok(options),
        (Some(error), _) => Err(error),
        (None, None) => unreachable!("a missing option is always reported"),
    }
}

fn check_options<'a>(args: &'a Args, errors: &mut Errors) -> Option<Options<'a>> {
    let ttl = match &args.ttl {
        Some(expr) => duration(expr, "ttl", errors),
        None => {
            errors.push(syn::Error::new(
                args::attribute_span(),
                "missing `ttl`: add e.g. `ttl = \"1h\"` (durations such as \"90s\", \"250ms\", \
                 \"1h 30m\", or an expression of type `Duration`)",
            ));
            None
        }
    };
    let sweep = match &args.sweep {
        Some(expr) if args::lit_str(expr).is_some_and(|s| s.value() == "off") => None,
        Some(expr) => Some(duration(expr, "sweep", errors)),
        None => None,
    };
    let fixed = match &args.expiry {
        None => false,
        Some(expr) => match args::lit_str(expr).map(|s| s.value()).as_deref() {
            Some("sliding") => false,
            Some("fixed") => true,
            _ => {
                errors.at(
                    expr,
                    "`expiry` must be \"sliding\" (every hit extends the entry's life) or \
                     \"fixed\" (entries expire a ttl after they were stored)",
                );
                false
            }
        },
    };
    let max_lifetime = (args.max_lifetime.as_ref()).map(|e| duration(e, "max_lifetime", errors));
    let refresh_after = (args.refresh_after.as_ref()).map(|e| duration(e, "refresh_after", errors));
    let stale_if_error =
        (args.stale_if_error.as_ref()).map(|e| duration(e, "stale_if_error", errors));
    if let Some(Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(n),
        ..
    })) = &args.capacity
        && n.base10_parse::<usize>().is_ok_and(|n| n == 0)
    {
        errors.at(
            n,
            "`capacity = 0` would cache nothing; give a positive number, or remove it for no limit",
        );
    }
    let cache = args
        .cache
        .as_ref()
        .and_then(|call| match handle_name(call) {
            Some(name) => Some(Handle { call, name }),
            None => {
                errors.at(
                call,
                "`cache` names the handle function to generate: a snake_case identifier such as \
                 `cache = clients` (or `cache = Self::clients` inside an `impl` block)",
            );
                None
            }
        });
    if let Some(shared) = &args.shared
        && let Some(text) = args::lit_str(&shared.tier)
    {
        errors.at(
            text,
            "`shared` takes a `cache_core::redis::RedisTier`, not a string: e.g. \
             `shared = TIER.clone()` with a `static TIER: LazyLock<RedisTier>` made by \
             `RedisTier::new(url)`",
        );
    }
    let runtime = match &args.krate {
        None => syn::parse_quote!(::cache_core),
        Some(expr) => match args::lit_str(expr).map(|s| s.parse::<Path>()) {
            Some(Ok(path)) => path,
            _ => {
                errors.at(
                    expr,
                    "`crate` must be a string holding a path, e.g. `crate = \"::my_crate::cache\"`",
                );
                syn::parse_quote!(::cache_core)
            }
        },
    };
    Some(Options {
        ttl: ttl?,
        sweep: sweep.flatten(),
        fixed,
        max_lifetime: max_lifetime.flatten(),
        expire_after: args.expire_after.as_ref(),
        refresh_after: refresh_after.flatten(),
        stale_if_error: stale_if_error.flatten(),
        capacity: args.capacity.as_ref(),
        key: args.key.as_ref(),
        cache,
        shared: args.shared.as_ref(),
        clock: args.clock.as_ref(),
        runtime,
    })
}

/// `name` in `cache = name` or `cache = Self::name`.
fn handle_name(path: &Path) -> Option<&syn::Ident> {
    let segments: Vec<_> = path.segments.iter().collect();
    let last = match segments.as_slice() {
        [only] => only,
        [first, last] if first.ident == "Self" && path.leading_colon.is_none() => last,
        _ => return None,
    };
    let name = last.ident.to_string();
    let snake = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (last.arguments.is_none() && snake).then_some(&last.ident)
}

fn duration<'a>(expr: &'a Expr, option: &str, errors: &mut Errors) -> Option<DurationArg<'a>> {
    if let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(n),
        ..
    }) = expr
    {
        let message = format!(
            "a bare number has no unit: write `{option} = \"{}s\"` for seconds, or another unit",
            n.base10_digits()
        );
        errors.at(n, message);
        return None;
    }
    let Some(lit) = args::lit_str(expr) else {
        return Some(DurationArg::Expr(expr));
    };
    if let Some(unit) = calendar_unit(&lit.value()) {
        errors.at(
            lit,
            format!(
                "`{unit}` is a calendar unit, which a duration cannot be exactly (a month is \
                 taken as 30.44 days, a year as 365.25){}: write days instead, e.g. \
                 `{option} = \"30d\"`",
                if unit == "M" {
                    ", and `M` reads like `m`, minutes"
                } else {
                    ""
                }
            ),
        );
        return None;
    }
    match humantime::parse_duration(&lit.value()) {
        Ok(d) if d.is_zero() => {
            let hint = if option == "sweep" {
                "; use \"off\" for no background sweep"
            } else {
                ": entries would expire as soon as they are stored"
            };
            errors.at(lit, format!("`{option}` must be longer than zero{hint}"));
            None
        }
        Ok(d) => Some(DurationArg::Literal(d, lit.span())),
        Err(e) => {
            errors.at(
                lit,
                format!(
                    "invalid duration {:?} for `{option}` ({e}); write e.g. \"1h\", \"90s\", \
                     \"250ms\" or \"1h 30m\"",
                    lit.value()
                ),
            );
            None
        }
    }
}

fn check_signature(function: &Function<'_>, custom_key: bool, errors: &mut Errors) {
    let sig = &function.item.sig;
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "`#[ttl_cached]` cannot memoize a `const fn`: its cache lives at run time; remove \
             `const`",
        );
    }
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(_) | GenericParam::Const(_) => errors.at(
                param,
                "`#[ttl_cached]` functions cannot be generic over types or consts: the cache is \
                 one static map with one key and value type; use concrete types",
            ),
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(
            variadic,
            "`#[ttl_cached]` cannot memoize a variadic function",
        );
    }
    let mut key_params = 0;
    let generic = sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, GenericParam::Lifetime(_)));
    for param in &function.params {
        match param {
            Param::Receiver(receiver) => errors.at(
                receiver,
                "`#[ttl_cached]` cannot take `self`: one cache serves every call; make it an \
                 associated function that takes what identifies the value as parameters",
            ),
            Param::Typed {
                original,
                ident,
                ty,
                ..
            } => {
                key_params += 1;
                if ident.is_none() && !custom_key {
                    if matches!(&*original.pat, Pat::Wild(_)) {
                        errors.at(
                            &original.pat,
                            "an unnamed parameter (`_`) cannot be part of the key: give it a \
                             name (`_name` if the body does not use it), or choose the key \
                             with `key: Type = expr`",
                        );
                    } else {
                        errors.at(
                            &original.pat,
                            "destructuring patterns cannot form a key: bind the parameter to a \
                             name (`pair: (u8, u8)`) and destructure it in the body",
                        );
                    }
                }
                check_param_type(ty, errors);
                if !custom_key {
                    check_key_type(ty, generic, errors);
                }
            }
        }
    }
    if key_params > MAX_KEY_PARAMS && !custom_key {
        errors.at(
            &sig.inputs,
            format!(
                "at most {MAX_KEY_PARAMS} parameters can form a key; give one explicitly with \
                 `key: Type = expr`"
            ),
        );
    }
    check_output(&function.output, sig, generic, errors);
}

fn check_param_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => errors.at(
            ty,
            "`&mut` parameters are not supported: a cached call does not run the body, so it \
             could not mutate through them; take `&T` instead",
        ),
        Type::Reference(r) => check_param_type(&r.elem, errors),
        Type::ImplTrait(_) => errors.at(
            ty,
            "`impl Trait` parameters are not supported: the key needs one concrete type; take \
             a concrete type instead",
        ),
        _ if mentions_self(ty) => errors.at(
            ty,
            "`Self` cannot appear in a key type: the cache is a static item; write the type's \
             name instead",
        ),
        _ => {}
    }
}

fn check_output(output: &Output<'_>, sig: &syn::Signature, generic: bool, errors: &mut Errors) {
    let Some(ty) = output.0 else { return };
    match ty {
        Type::Reference(_) => errors.at(
            ty,
            "a cached function must return an owned value, not a reference: return e.g. \
             `String` or `Arc<T>`",
        ),
        Type::ImplTrait(t) if sig.asyncness.is_none() && is_future(t) => errors.at(
            ty,
            "`-> impl Future` is not supported: write an `async fn` instead, and the cache \
             coalesces concurrent calls",
        ),
        Type::ImplTrait(_) => errors.at(
            ty,
            "`impl Trait` return types are not supported: the cache stores one concrete type; \
             name it",
        ),
        _ if first_lifetime(ty).is_some() => errors.at(
            ty,
            format!(
                "`{}` borrows, so it cannot be a cached value, which outlives the call: return \
                 an owned type (`String`, `Arc<T>`, ...)",
                shown(ty)
            ),
        ),
        _ if !generic && type_parameter(ty).is_some() => {
            let param = type_parameter(ty).expect("just found");
            errors.at(param, type_parameter_message(param, "value"));
        }
        _ if mentions_self(ty) => errors.at(
            ty,
            "`Self` cannot appear in a cached return type: the cache is a static item; write \
             the type's name instead",
        ),
        _ => {}
    }
}

fn is_future(t: &syn::TypeImplTrait) -> bool {
    t.bounds.iter().any(|b| match b {
        syn::TypeParamBound::Trait(t) => {
            t.path.segments.last().is_some_and(|s| s.ident == "Future")
        }
        _ => false,
    })
}

fn mentions_self(ty: &Type) -> bool {
    fn any_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "Self",
            TokenTree::Group(g) => any_self(g.stream()),
            _ => false,
        })
    }
    any_self(ty.to_token_stream())
}

/// A key part the cache keeps: it must own its data and be one concrete type.
/// `generic`: the function declares type parameters itself (reported on their own).
fn check_key_type(ty: &Type, generic: bool, errors: &mut Errors) {
    let owned = match ty {
        Type::Reference(r) => &*r.elem,
        _ => ty,
    };
    // `&T` and `Option<&T>` are keyed by `T::Owned`; any other borrow would be kept.
    let inner = match owned {
        Type::Path(_) if !matches!(ty, Type::Reference(_)) => option_ref_inner(owned),
        _ => None,
    };
    let owned = inner.unwrap_or(owned);
    if let Some(lifetime) = first_lifetime(owned) {
        errors.at(
            ty,
            format!(
                "`{}` borrows (`{lifetime}`), so it cannot be part of a key the cache keeps \
                 after the call: take `&str`, `&[T]` or `&T` (keyed by their owned form) or an \
                 owned type, or give the key with `key: Type = expr`",
                shown(ty)
            ),
        );
    } else if let Some(param) = type_parameter(owned).filter(|_| !generic) {
        errors.at(param, type_parameter_message(param, "key"));
    }
}

/// `T` in `Option<&T>`, whose borrow the key replaces by `T::Owned`.
fn option_ref_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(Type::Reference(r)) if last.ident == "Option" => Some(&r.elem),
        _ => None,
    }
}

/// The first borrow written in `ty`, if any: a lifetime other than `'static` (`'_`, `'a`) or a
/// `&` without one. The elided lifetimes of `Fn(&str) -> bool` and `fn(&str)` are not borrows
/// (each call gets its own), nor are those a `for<'a>` binds.
fn first_lifetime(ty: &Type) -> Option<String> {
    fn lifetime(lifetime: &syn::Lifetime, bound: &[String]) -> Option<String> {
        let name = lifetime.ident.to_string();
        (name != "static" && !bound.contains(&name)).then(|| format!("'{name}"))
    }
    fn path(path: &syn::Path, bound: &[String]) -> Option<String> {
        path.segments
            .iter()
            .find_map(|segment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|arg| match arg {
                        syn::GenericArgument::Lifetime(l) => lifetime(l, bound),
                        syn::GenericArgument::Type(t) => walk(t, bound),
                        syn::GenericArgument::AssocType(a) => walk(&a.ty, bound),
                        _ => None,
                    })
                }
                // `Fn(&str) -> bool`: lifetimes of each call.
                syn::PathArguments::Parenthesized(_) | syn::PathArguments::None => None,
            })
    }
    fn bounds<'a>(
        bounds: impl IntoIterator<Item = &'a syn::TypeParamBound>,
        bound: &[String],
    ) -> Option<String> {
        bounds.into_iter().find_map(|b| match b {
            syn::TypeParamBound::Lifetime(l) => lifetime(l, bound),
            syn::TypeParamBound::Trait(t) => {
                let mut bound = bound.to_vec();
                if let Some(hrtb) = &t.lifetimes {
                    bound.extend(hrtb.lifetimes.iter().filter_map(|p| match p {
                        syn::GenericParam::Lifetime(l) => Some(l.lifetime.ident.to_string()),
                        _ => None,
                    }));
                }
                path(&t.path, &bound)
            }
            _ => None,
        })
    }
    fn walk(ty: &Type, bound: &[String]) -> Option<String> {
        match ty {
            Type::Reference(r) => match &r.lifetime {
                None => Some("&".to_string()),
                Some(l) => lifetime(l, bound).or_else(|| walk(&r.elem, bound)),
            },
            Type::Path(p) => {
                let qself = p.qself.as_ref().and_then(|q| walk(&q.ty, bound));
                qself.or_else(|| path(&p.path, bound))
            }
            Type::TraitObject(t) => bounds(&t.bounds, bound),
            Type::ImplTrait(t) => bounds(&t.bounds, bound),
            Type::Slice(t) => walk(&t.elem, bound),
            Type::Array(t) => walk(&t.elem, bound),
            Type::Ptr(t) => walk(&t.elem, bound),
            Type::Paren(t) => walk(&t.elem, bound),
            Type::Group(t) => walk(&t.elem, bound),
            Type::Tuple(t) => t.elems.iter().find_map(|e| walk(e, bound)),
            // `fn(&str) -> &str`: lifetimes of each call, as for `Fn`.
            _ => None,
        }
    }
    walk(ty, &[])
}

/// A single capital letter (`T`, `K`), the way type parameters are named: in a `#[ttl_cached]`
/// signature it can only come from the enclosing `impl` or trait, since the function itself
/// cannot be generic. Only that exact shape: `H256`, `U256` or `V2` are ordinary types.
fn type_parameter(ty: &Type) -> Option<&syn::Ident> {
    let mut found = None;
    visit_paths(ty, &mut |path| {
        if found.is_none()
            && path.qself.is_none()
            && path.path.leading_colon.is_none()
            && path.path.segments.len() == 1
            && path.path.segments[0].arguments.is_none()
        {
            let ident = &path.path.segments[0].ident;
            let name = ident.to_string();
            let mut chars = name.chars();
            if chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.next().is_none() {
                found = Some(ident);
            }
        }
    });
    found
}

fn visit_paths<'a>(ty: &'a Type, f: &mut dyn FnMut(&'a syn::TypePath)) {
    match ty {
        Type::Path(path) => {
            f(path);
            for segment in &path.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let syn::GenericArgument::Type(t) = arg {
                            visit_paths(t, f);
                        }
                    }
                }
            }
        }
        Type::Reference(r) => visit_paths(&r.elem, f),
        Type::Slice(s) => visit_paths(&s.elem, f),
        Type::Array(a) => visit_paths(&a.elem, f),
        Type::Tuple(t) => t.elems.iter().for_each(|e| visit_paths(e, f)),
        Type::Paren(p) => visit_paths(&p.elem, f),
        Type::Group(g) => visit_paths(&g.elem, f),
        _ => {}
    }
}

fn type_parameter_message(param: &syn::Ident, what: &str) -> String {
    format!(
        "`{param}` looks like a type parameter of the enclosing `impl` or trait: the cache is \
         one static per instantiation, typed once, so its {what} type cannot depend on `{param}`; \
         use a concrete type (e.g. `Arc<dyn Any + Send + Sync>`), or move the cached work into \
         a function over concrete types"
    )
}

/// A type as the user wrote it, spaced as rustfmt would for short types.
fn shown(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace("' _", "'_")
}

/// The first month or year unit in a duration literal (`"1M"`, `"2 months"`, `"1y"`).
fn calendar_unit(text: &str) -> Option<String> {
    const CALENDAR: &[&str] = &["M", "month", "months", "y", "year", "years"];
    text.split(|c: char| c.is_ascii_digit() || c.is_whitespace())
        .find(|unit| CALENDAR.contains(unit))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::first_lifetime;

    fn borrow(ty: &str) -> Option<String> {
        first_lifetime(&syn::parse_str(ty).expect("a type"))
    }

    #[test]
    fn static_references_and_the_lifetimes_of_each_call_are_not_borrows() {
        for owned in [
            "&'static str",
            "Result<u16, &'static str>",
            "Option<&'static str>",
            "Vec<&'static str>",
            "Result<Vec<String>, &'static dyn std::error::Error>",
            "Arc<dyn Fn(&str) -> bool + Send + Sync>",
            "Box<dyn for<'a> Tokenize<'a> + Send>",
            "fn(&str) -> &str",
            "Cow<'static, str>",
            "<Vec<u8> as IntoIterator>::Item",
        ] {
            assert_eq!(borrow(owned), None, "{owned}");
        }
    }

    #[test]
    fn other_lifetimes_and_elided_references_are() {
        for (borrowed, found) in [
            ("&str", "&"),
            ("Cow<'_, str>", "'_"),
            ("Result<u8, &'a str>", "'a"),
            ("Box<dyn Error + 'a>", "'a"),
            ("Vec<(u8, &[u8])>", "&"),
            ("&'static Foo<'b>", "'b"),
            ("Iter<Item = &'a u8>", "'a"),
        ] {
            assert_eq!(borrow(borrowed).as_deref(), Some(found), "{borrowed}");
        }
    }
}
