//! Parsing the attribute's arguments: `ttl = "1h", sweep = "5m", key: String = expr, ...`.
//!
//! Parsing only records what was written, with its span; whether it makes sense is
//! `valid.rs`'s job. Unknown and repeated options are collected, not fatal, so that one build
//! reports every mistake.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Path, Token, Type};

/// The options, in the order the user is told about them.
pub(crate) const OPTIONS: &[&str] = &[
    "ttl", "sweep", "expiry", "capacity", "key", "cache", "clock", "crate",
];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) ttl: Option<Expr>,
    pub(crate) sweep: Option<Expr>,
    pub(crate) expiry: Option<Expr>,
    pub(crate) capacity: Option<Expr>,
    pub(crate) key: Option<CustomKey>,
    pub(crate) cache: Option<Path>,
    pub(crate) clock: Option<Expr>,
    pub(crate) krate: Option<Expr>,
    /// Unknown or repeated options, reported with the rest by validation.
    pub(crate) errors: Vec<syn::Error>,
}

/// `key: Type = expr`.
pub(crate) struct CustomKey {
    pub(crate) ty: Type,
    pub(crate) expr: Expr,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let name = input.call(Ident::parse_any)?;
            let option = name.to_string();
            match option.as_str() {
                "ttl" => args.set(&name, |a| &mut a.ttl, input.call(value)?),
                "sweep" => args.set(&name, |a| &mut a.sweep, input.call(value)?),
                "expiry" => args.set(&name, |a| &mut a.expiry, input.call(value)?),
                "capacity" => args.set(&name, |a| &mut a.capacity, input.call(value)?),
                "clock" => args.set(&name, |a| &mut a.clock, input.call(value)?),
                "crate" => args.set(&name, |a| &mut a.krate, input.call(value)?),
                "cache" => {
                    input.parse::<Token![=]>()?;
                    let path = input.call(Path::parse_mod_style)?;
                    args.set(&name, |a| &mut a.cache, path);
                }
                "key" => {
                    input.parse::<Token![:]>()?;
                    let ty = input.parse()?;
                    input.parse::<Token![=]>()?;
                    let expr = input.parse()?;
                    args.set(&name, |a| &mut a.key, CustomKey { ty, expr });
                }
                _ => {
                    args.errors.push(syn::Error::new(
                        name.span(),
                        format!(
                            "unknown option `{option}`; expected one of: {}",
                            OPTIONS.join(", ")
                        ),
                    ));
                    // Skip its value so the options after it are still checked.
                    while !input.is_empty() && !input.peek(Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

impl Args {
    /// Records an option's value; a repeated option is reported at its second occurrence.
    fn set<T>(&mut self, name: &Ident, slot: impl FnOnce(&mut Self) -> &mut Option<T>, value: T) {
        let slot = slot(self);
        if slot.is_some() {
            let error = syn::Error::new(
                name.span(),
                format!("option `{name}` is given twice; keep one"),
            );
            self.errors.push(error);
        } else {
            *slot = Some(value);
        }
    }
}

fn value(input: ParseStream<'_>) -> syn::Result<Expr> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// The literal string in `expr`, if it is one.
pub(crate) fn lit_str(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// The span to blame when a required option is missing: the whole attribute.
pub(crate) fn attribute_span() -> Span {
    Span::call_site()
}
