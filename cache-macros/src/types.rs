//! What a type written in the signature says, read from its syntax: whether it borrows, names
//! `Self` or a type parameter, holds a trait object or `impl Trait`. The compiler checks the
//! rest (`Hash`, `Clone`, `Send`, ...) through `cache_core::__private`'s assertions.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::Type;

/// The first type within `ty` (itself included) for which `found` holds: through references,
/// pointers, slices, arrays, tuples and generic arguments, not into `Fn(..)` or `fn(..)`
/// signatures.
pub(crate) fn find<'a>(ty: &'a Type, found: &mut dyn FnMut(&Type) -> bool) -> Option<&'a Type> {
    if found(ty) {
        return Some(ty);
    }
    match ty {
        Type::Reference(r) => find(&r.elem, found),
        Type::Ptr(p) => find(&p.elem, found),
        Type::Slice(s) => find(&s.elem, found),
        Type::Array(a) => find(&a.elem, found),
        Type::Paren(p) => find(&p.elem, found),
        Type::Group(g) => find(&g.elem, found),
        Type::Tuple(t) => t.elems.iter().find_map(|e| find(e, found)),
        Type::Path(p) => p.path.segments.iter().find_map(|segment| {
            let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                syn::GenericArgument::Type(t) => find(t, found),
                syn::GenericArgument::AssocType(a) => find(&a.ty, found),
                _ => None,
            })
        }),
        _ => None,
    }
}

pub(crate) fn is_future(t: &syn::TypeImplTrait) -> bool {
    t.bounds.iter().any(|b| match b {
        syn::TypeParamBound::Trait(t) => {
            t.path.segments.last().is_some_and(|s| s.ident == "Future")
        }
        _ => false,
    })
}

pub(crate) fn mentions_self(ty: &Type) -> bool {
    fn any_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "Self",
            TokenTree::Group(g) => any_self(g.stream()),
            _ => false,
        })
    }
    any_self(ty.to_token_stream())
}

/// The first borrow written in `ty`, if any: a lifetime other than `'static` (`'_`, `'a`) or a
/// `&` without one. The elided lifetimes of `Fn(&str) -> bool` and `fn(&str)` are not borrows
/// (each call gets its own), nor are those a `for<'a>` binds.
pub(crate) fn first_lifetime(ty: &Type) -> Option<String> {
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
pub(crate) fn type_parameter(ty: &Type) -> Option<&syn::Ident> {
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

/// A type as the user wrote it, spaced as rustfmt would for short types.
pub(crate) fn shown(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace("' _", "'_")
        .replace(" :: ", "::")
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
