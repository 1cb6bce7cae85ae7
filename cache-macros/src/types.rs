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
/// `&` without one, or the `'_` a standard type with a lifetime parameter hides when written
/// without it (`Cow<str>`). Within the signature of `Fn(&str) -> bool` or `fn(&str)`, elided
/// lifetimes are each call's own, not borrows, nor are those a `for<'a>` binds; a lifetime
/// named from outside still is.
pub(crate) fn first_lifetime(ty: &Type) -> Option<String> {
    Borrows::default().in_type(ty)
}

/// Standard types that always have a lifetime parameter, so that writing one without it
/// (`Cow<str>`, allowed in a signature) borrows. The expansion names the key and value types
/// in a `type` alias, where an elided lifetime is rustc's "missing lifetime specifier" with
/// the suggestion to write `#[ttl_cached(..)]<'a>`. Only these names: a user's type with a
/// lifetime (`Token<'a>` written `Token`) cannot be told from the syntax, and a user's type
/// of another name is rustc's business.
const HIDE_A_LIFETIME: &[&str] = &[
    "Cow",
    "Chars",
    "CharIndices",
    "MutexGuard",
    "RwLockReadGuard",
    "RwLockWriteGuard",
];

/// What [`first_lifetime`] knows where it looks: the lifetimes bound by a `for<..>` around,
/// and whether it is within a function signature.
#[derive(Clone, Default)]
struct Borrows {
    bound: Vec<String>,
    in_signature: bool,
}

impl Borrows {
    fn lifetime(&self, lifetime: &syn::Lifetime) -> Option<String> {
        let name = lifetime.ident.to_string();
        let elided = name == "_" && self.in_signature;
        let borrow = name != "static" && !elided && !self.bound.contains(&name);
        borrow.then(|| format!("'{name}"))
    }

    /// Within `for<'a ..>` (if any) and, if `signature`, a function signature.
    fn within(&self, hrtb: Option<&syn::BoundLifetimes>, signature: bool) -> Borrows {
        let mut inner = self.clone();
        inner.in_signature |= signature;
        if let Some(hrtb) = hrtb {
            inner
                .bound
                .extend(hrtb.lifetimes.iter().filter_map(|p| match p {
                    syn::GenericParam::Lifetime(l) => Some(l.lifetime.ident.to_string()),
                    _ => None,
                }));
        }
        inner
    }

    fn in_signature<'a>(
        &self,
        inputs: impl IntoIterator<Item = &'a Type>,
        output: &'a syn::ReturnType,
    ) -> Option<String> {
        let output = match output {
            syn::ReturnType::Type(_, ty) => Some(&**ty),
            syn::ReturnType::Default => None,
        };
        inputs
            .into_iter()
            .chain(output)
            .find_map(|t| self.in_type(t))
    }

    fn in_path(&self, path: &syn::Path) -> Option<String> {
        if let Some(last) = path.segments.last()
            && HIDE_A_LIFETIME.contains(&last.ident.to_string().as_str())
            && !self.in_signature
            && !matches!(&last.arguments, syn::PathArguments::AngleBracketed(args)
                if args.args.iter().any(|a| matches!(a, syn::GenericArgument::Lifetime(_))))
        {
            return Some("'_".to_string());
        }
        path.segments
            .iter()
            .find_map(|segment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|arg| match arg {
                        syn::GenericArgument::Lifetime(l) => self.lifetime(l),
                        syn::GenericArgument::Type(t) => self.in_type(t),
                        syn::GenericArgument::AssocType(a) => self.in_type(&a.ty),
                        _ => None,
                    })
                }
                syn::PathArguments::Parenthesized(f) => {
                    self.within(None, true).in_signature(&f.inputs, &f.output)
                }
                syn::PathArguments::None => None,
            })
    }

    fn in_bounds<'a>(
        &self,
        bounds: impl IntoIterator<Item = &'a syn::TypeParamBound>,
    ) -> Option<String> {
        bounds.into_iter().find_map(|b| match b {
            syn::TypeParamBound::Lifetime(l) => self.lifetime(l),
            syn::TypeParamBound::Trait(t) => {
                self.within(t.lifetimes.as_ref(), false).in_path(&t.path)
            }
            _ => None,
        })
    }

    fn in_type(&self, ty: &Type) -> Option<String> {
        match ty {
            Type::Reference(r) => match &r.lifetime {
                None if self.in_signature => self.in_type(&r.elem),
                None => Some("&".to_string()),
                Some(l) => self.lifetime(l).or_else(|| self.in_type(&r.elem)),
            },
            Type::Path(p) => {
                let qself = p.qself.as_ref().and_then(|q| self.in_type(&q.ty));
                qself.or_else(|| self.in_path(&p.path))
            }
            Type::BareFn(f) => {
                let inputs = f.inputs.iter().map(|arg| &arg.ty);
                (self.within(f.lifetimes.as_ref(), true)).in_signature(inputs, &f.output)
            }
            Type::TraitObject(t) => self.in_bounds(&t.bounds),
            Type::ImplTrait(t) => self.in_bounds(&t.bounds),
            Type::Slice(t) => self.in_type(&t.elem),
            Type::Array(t) => self.in_type(&t.elem),
            Type::Ptr(t) => self.in_type(&t.elem),
            Type::Paren(t) => self.in_type(&t.elem),
            Type::Group(t) => self.in_type(&t.elem),
            Type::Tuple(t) => t.elems.iter().find_map(|e| self.in_type(e)),
            _ => None,
        }
    }
}

/// A single capital letter (`T`, `K`), the way type parameters are named, or a path from one
/// (`C::Error`, an associated type, or `<C as Connection>::Error`): in a `#[ttl_cached]` signature it can only come from the
/// enclosing `impl` or trait, since the function itself cannot be generic. Only that exact
/// shape: `H256`, `U256` or `V2` are ordinary types. (A module or type of the user's with
/// such a name is named through `self::`, as the message says.)
pub(crate) fn type_parameter(ty: &Type) -> Option<&syn::Ident> {
    let mut found = None;
    visit_paths(ty, &mut |path| {
        // `T`, or `T::Output`: a parameter's associated type.
        if found.is_none()
            && path.qself.is_none()
            && path.path.leading_colon.is_none()
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
            // `<C as Connection>::Error`: the qualified form of `C::Error`.
            if let Some(qself) = &path.qself {
                visit_paths(&qself.ty, f);
            }
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
            "for<'x> fn(&'x str) -> &'x str",
            "Box<dyn Fn(Cow<'_, str>) -> bool>",
            "Cow<'static, str>",
            "Arc<dyn Fn(Cow<str>) -> bool + Send + Sync>",
            "fn(Cow<str>) -> usize",
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
            ("Box<dyn Fn(&'a str) -> bool + Send + Sync>", "'a"),
            ("fn() -> &'a str", "'a"),
            ("Box<dyn Fn(&str) -> Cow<'b, str>>", "'b"),
            ("Cow<str>", "'_"),
            ("std::borrow::Cow<[u8]>", "'_"),
            ("Option<Cow<str>>", "'_"),
            ("std::str::Chars", "'_"),
        ] {
            assert_eq!(borrow(borrowed).as_deref(), Some(found), "{borrowed}");
        }
    }
}
