//! A typed model of the annotated function, borrowing the syntax it came from so that errors
//! can point at exactly what the user wrote.

use crate::tokens;
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

pub(crate) struct Function<'a> {
    pub(crate) item: &'a ItemFn,
    /// The function's visibility and signature, the user's tokens as they came. Re-emitted
    /// as they are: syn would print a `macro_rules!` fragment's invisible group as a new one,
    /// which rustc reads as if it were not there (`&$t` with `$t` = `dyn A + Send` became
    /// `&dyn A + Send`, which does not parse).
    pub(crate) head: TokenStream,
    /// The signature [`ungrouped`], which the model reads (`params`, `output`).
    pub(crate) sig: &'a syn::Signature,
    /// The body in its braces, the user's tokens as they came, less the inner attributes at
    /// its top (the function carries those: syn reads them into `item.attrs`). Re-emitted as
    /// it is, for the reason [`head`](Self::head) is: printed by syn, `k + $e * 2` with `$e`
    /// = `1 + 1` is `k + 1 + 1 * 2`. `item.block` is what the model reads of it.
    pub(crate) body: Group,
    pub(crate) params: Vec<Param<'a>>,
    /// For a [`boxed`](Self::boxed) function, its future's output.
    pub(crate) output: Output<'a>,
    /// A method that `#[async_trait]` (on its trait or `impl`, expanded first) has rewritten
    /// from `async fn f(..) -> R` into `fn f<'life0, 'async_trait>(..) -> Pin<Box<dyn
    /// Future<Output = R> + Send + 'async_trait>>` whose body makes that future.
    pub(crate) boxed: Option<Boxed>,
}

/// How the body of a [`boxed`](Function::boxed) function makes its future.
pub(crate) enum Boxed {
    /// `Box::pin(async move { .. })`, as `#[async_trait]` writes it (also after
    /// `#[tracing::instrument]` rewrote it): the async block, as the tokens that came.
    Async(TokenStream),
    /// Any other body, written by hand in that shape.
    Body,
}

pub(crate) enum Param<'a> {
    /// `self`, `&self`, ...: rejected by validation.
    Receiver(&'a syn::Receiver),
    Typed {
        original: &'a syn::PatType,
        /// The binding, when the pattern is a plain (possibly `mut`) identifier.
        ident: Option<&'a Ident>,
        ty: &'a Type,
        kind: ParamKind<'a>,
    },
}

/// How a parameter becomes (part of) the key.
#[derive(Clone, Copy)]
pub(crate) enum ParamKind<'a> {
    /// `&T`: keyed by `T::Owned`, looked up by the borrow itself.
    Ref(&'a Type),
    /// `Option<&T>`: keyed by `Option<T::Owned>`.
    OptionRef(&'a Type),
    /// `T`: keyed by a clone of it.
    Owned,
}

/// The declared return type; `None` for `()`. Whether it is a `Result` or an `Option` is
/// decided by the compiler from the type itself (see `cache_core::__private::Returns`), not
/// here from its name, so aliases behave like the types they stand for.
pub(crate) struct Output<'a>(pub(crate) Option<&'a Type>);

impl<'a> Function<'a> {
    /// `input` is the tokens `item` was parsed from, and `sig` its signature [`ungrouped`].
    pub(crate) fn from_syn(item: &'a ItemFn, input: &TokenStream, sig: &'a syn::Signature) -> Self {
        let params = sig.inputs.iter().map(Param::from_syn).collect();
        let body = body(input, &item.block);
        let (output, boxed) = match &sig.output {
            ReturnType::Default => (Output(None), None),
            ReturnType::Type(_, ty) => match async_trait_output(sig, ty) {
                Some(output) => {
                    let boxed = match boxed_async_block(&item.block) {
                        Some(future) => Boxed::Async(boxed_future(&body, future)),
                        None => Boxed::Body,
                    };
                    (Output(Some(output)), Some(boxed))
                }
                None => (Output(Some(ty)), None),
            },
        };
        Function {
            item,
            head: head(input),
            sig,
            body,
            params,
            output,
            boxed,
        }
    }

    /// Whether the function makes a future: an `async fn`, or one `#[async_trait]` rewrote.
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some() || self.boxed.is_some()
    }
}

impl<'a> Param<'a> {
    fn from_syn(arg: &'a FnArg) -> Self {
        let typed = match arg {
            FnArg::Receiver(receiver) => return Param::Receiver(receiver),
            FnArg::Typed(typed) => typed,
        };
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(&p.ident),
            _ => None,
        };
        Param::Typed {
            original: typed,
            ident,
            ty: &typed.ty,
            kind: ParamKind::of(&typed.ty),
        }
    }
}

impl<'a> ParamKind<'a> {
    fn of(ty: &'a Type) -> Self {
        match ty {
            Type::Reference(r) if r.mutability.is_none() => ParamKind::Ref(&r.elem),
            _ => match generic_of(ty, "Option") {
                Some(Type::Reference(r)) if r.mutability.is_none() => ParamKind::OptionRef(&r.elem),
                _ => ParamKind::Owned,
            },
        }
    }
}

/// The tokens of a function between its outer attributes and its body: its visibility and
/// signature. Only the top level is taken apart: a group kept whole keeps what it holds as it
/// came (a rebuilt one would hold new invisible groups).
fn head(input: &TokenStream) -> TokenStream {
    let mut tokens: Vec<TokenTree> = input.clone().into_iter().collect();
    tokens.pop();
    let attribute = |tokens: &[TokenTree]| match tokens {
        [TokenTree::Punct(pound), TokenTree::Group(group), ..] => {
            pound.as_char() == '#' && group.delimiter() == Delimiter::Bracket
        }
        _ => false,
    };
    let mut start = 0;
    while attribute(&tokens[start..]) {
        start += 2;
    }
    tokens.drain(start..).collect()
}

/// The function's body as it came (see [`Function::body`]): the braces `input` ends with,
/// whole, or, with inner attributes at their top, rebuilt without them around the rest of
/// their tokens ([`tokens::rejoin`]ed: `block` is their reading).
fn body(input: &TokenStream, block: &syn::Block) -> Group {
    let Some(TokenTree::Group(body)) = input.clone().into_iter().last() else {
        unreachable!("a function's tokens end with its body");
    };
    let mut tokens: Vec<TokenTree> = body.stream().into_iter().collect();
    let mut start = 0;
    while let [
        TokenTree::Punct(pound),
        TokenTree::Punct(bang),
        TokenTree::Group(group),
        ..,
    ] = &tokens[start..]
        && pound.as_char() == '#'
        && bang.as_char() == '!'
        && group.delimiter() == Delimiter::Bracket
    {
        start += 3;
    }
    if start == 0 {
        return body;
    }
    let rest = tokens::rejoin(tokens.drain(start..), &tokens::Operands::of_block(block));
    let mut rest = Group::new(Delimiter::Brace, rest);
    rest.set_span(body.span());
    rest
}

/// The tokens of `future`, the async block in `body`'s `Box::pin(..)`, as they came: what
/// the call's parentheses hold (a trailing comma aside). syn's printing of `future` should
/// they not be found so.
fn boxed_future(body: &Group, future: &syn::ExprAsync) -> TokenStream {
    if let Some(TokenTree::Group(call)) = body.stream().into_iter().last()
        && call.delimiter() == Delimiter::Parenthesis
    {
        let mut tokens: Vec<TokenTree> = call.stream().into_iter().collect();
        if matches!(tokens.last(), Some(TokenTree::Punct(comma)) if comma.as_char() == ',') {
            tokens.pop();
        }
        return tokens.into_iter().collect();
    }
    quote::ToTokens::to_token_stream(future)
}

/// A copy of `sig` whose parameter and return types are out of the invisible groups a
/// `macro_rules!` fragment (`$t:ty`) arrives in, so that `&str` passed through a macro is still
/// seen as a reference. A copy: the function keeps its own signature, where `&$t` with `$t` =
/// `dyn Display + Send` is one type, and its tokens without the group would not parse.
pub(crate) fn ungrouped(sig: &syn::Signature) -> syn::Signature {
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            ungroup(&mut typed.ty);
        }
    }
    if let ReturnType::Type(_, ty) = &mut sig.output {
        ungroup(ty);
    }
    sig
}

fn ungroup(ty: &mut Type) {
    while let Type::Group(group) = ty {
        *ty = (*group.elem).clone();
    }
    match ty {
        Type::Reference(r) => ungroup_referent(&mut r.elem),
        Type::Slice(s) => ungroup(&mut s.elem),
        Type::Array(a) => ungroup(&mut a.elem),
        Type::Paren(p) => ungroup(&mut p.elem),
        Type::Tuple(t) => t.elems.iter_mut().for_each(ungroup),
        Type::Path(p) => {
            for segment in &mut p.path.segments {
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        if let GenericArgument::Type(t) = arg {
                            ungroup(t);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// The type behind a `&`. A group's `dyn A + B` (or `impl A + B`) goes into parentheses: the
/// expansion names these types again (`Option<&'static $t>` as the value's type), and bare,
/// `&dyn A + B` is rustc's "ambiguous `+` in a type".
fn ungroup_referent(ty: &mut Type) {
    let grouped = matches!(ty, Type::Group(_));
    ungroup(ty);
    let bounds = match ty {
        Type::TraitObject(t) => t.bounds.len(),
        Type::ImplTrait(t) => t.bounds.len(),
        _ => 0,
    };
    if grouped && bounds > 1 {
        let span = syn::spanned::Spanned::span(&*ty);
        *ty = Type::Paren(syn::TypeParen {
            paren_token: syn::token::Paren(span),
            elem: Box::new(ty.clone()),
        });
    }
}

/// `R` of `Pin<Box<dyn Future<Output = R> + ..>>`, the return type of a method that
/// `#[async_trait]` rewrote: no longer `async`, with a lifetime `'async_trait`.
fn async_trait_output<'a>(sig: &syn::Signature, ty: &'a Type) -> Option<&'a Type> {
    if sig.asyncness.is_some()
        || !(sig.generics.lifetimes()).any(|l| l.lifetime.ident == "async_trait")
    {
        return None;
    }
    let boxed = generic_of(generic_of(ty, "Pin")?, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let future = bound.path.segments.last()?;
        let PathArguments::AngleBracketed(args) = &future.arguments else {
            return None;
        };
        match args.args.first()? {
            GenericArgument::AssocType(output)
                if future.ident == "Future" && output.ident == "Output" =>
            {
                Some(&output.ty)
            }
            _ => None,
        }
    })
}

/// The async block of `Box::pin(async move { .. })`, the one statement of a body
/// `#[async_trait]` wrote.
fn boxed_async_block(block: &syn::Block) -> Option<&syn::ExprAsync> {
    let [syn::Stmt::Expr(syn::Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let syn::Expr::Path(func) = &*call.func else {
        return None;
    };
    let mut path = func.path.segments.iter().rev().map(|s| &s.ident);
    let is_box_pin =
        path.next().is_some_and(|i| i == "pin") && path.next().is_some_and(|i| i == "Box");
    match call.args.first() {
        Some(syn::Expr::Async(future)) if is_box_pin && call.args.len() == 1 => Some(future),
        _ => None,
    }
}

/// `T` in `...::Name<T, ..>`, by the last segment: for `Option<&T>` parameters, whose borrow
/// is visible in the syntax, and `#[async_trait]`'s `Pin<Box<..>>`.
fn generic_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
