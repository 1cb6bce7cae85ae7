//! Semantic checks: every mistake in the options or the function becomes a `syn::Error`
//! spanned on the tokens at fault, and all of them are reported together.

use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::Parser;
use syn::visit::{self, Visit};
use syn::{Expr, GenericParam, Pat, Path, Token, Type};

use crate::args::{self, Args, CustomKey, SharedTier, Value};
use crate::ast::{Function, Output, Param};
use crate::types::{find, first_lifetime, is_future, mentions_self, shown, type_parameter};

/// The options, checked and resolved; expansion reads only this and the function.
pub(crate) struct Options<'a> {
    pub(crate) ttl: DurationArg<'a>,
    pub(crate) sweep: Option<DurationArg<'a>>,
    pub(crate) fixed: bool,
    pub(crate) max_lifetime: Option<DurationArg<'a>>,
    pub(crate) expire_after: Option<&'a Value>,
    pub(crate) refresh_after: Option<DurationArg<'a>>,
    pub(crate) stale_if_error: Option<DurationArg<'a>>,
    pub(crate) capacity: Option<&'a Value>,
    /// `name = "..."`: the map's name, for `cache_core::caches()` and the fleet tier.
    pub(crate) name: Option<&'a Value>,
    pub(crate) key: Option<&'a CustomKey>,
    pub(crate) cache: Option<Handle<'a>>,
    /// `shared = tier`: the map is a `cache_core::redis::Shared`, in front of Redis.
    pub(crate) shared: Option<&'a SharedTier>,
    pub(crate) clock: Option<&'a Value>,
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
    Expr(&'a Value),
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
    check_signature(function, args.key.as_ref(), &mut errors);
    check_options_use_no_parameter(args, function, &mut errors);
    match (errors.0, options) {
        (None, Some(options)) => Ok(options),
        (Some(error), _) => Err(error),
        (None, None) => unreachable!("a missing option is always reported"),
    }
}

fn check_options<'a>(args: &'a Args, errors: &mut Errors) -> Option<Options<'a>> {
    let ttl = match &args.ttl {
        Some(expr) => duration(expr, "ttl", errors),
        None if args.attempted.iter().any(|m| m == "ttl") => None,
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
    })) = args.capacity.as_deref()
        && n.base10_parse::<usize>().is_ok_and(|n| n == 0)
    {
        errors.at(
            n,
            "`capacity = 0` would cache nothing; give a positive number, or remove it for no limit",
        );
    }
    if let Some(name) = args.map_name.as_deref().and_then(args::lit_str)
        && name.value().is_empty()
    {
        errors.at(
            name,
            "`name` must not be empty: it tells the map apart in `cache_core::caches()` (and in \
             Redis, with `shared`); leave it out for the function's path",
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
        name: args.map_name.as_ref(),
        key: args.key.as_ref(),
        cache,
        shared: args.shared.as_ref(),
        clock: args.clock.as_ref(),
        runtime,
    })
}

/// Options are evaluated once, when the cache is first built: one that names a parameter
/// would take the first call's argument for good (or, in a `cache = name` handle, not compile).
fn check_options_use_no_parameter(args: &Args, function: &Function<'_>, errors: &mut Errors) {
    let params: Vec<String> = (function.params.iter())
        .filter_map(|p| match p {
            Param::Typed { original, .. } => Some(bindings(&original.pat)),
            Param::Receiver(_) => None,
        })
        .flatten()
        .collect();
    let options = [
        ("ttl", args.ttl.as_ref()),
        ("sweep", args.sweep.as_ref()),
        ("max_lifetime", args.max_lifetime.as_ref()),
        ("refresh_after", args.refresh_after.as_ref()),
        ("stale_if_error", args.stale_if_error.as_ref()),
        ("capacity", args.capacity.as_ref()),
        ("expire_after", args.expire_after.as_ref()),
        ("name", args.map_name.as_ref()),
        ("clock", args.clock.as_ref()),
        ("shared", args.shared.as_ref().map(|s| &s.tier)),
    ];
    // `cache = Self::name` is called by its path, which no parameter hides.
    if let Some(call) = &args.cache
        && let Some(name) = call.get_ident()
        && params.iter().any(|param| name == param)
    {
        errors.at(
            call,
            format!(
                "the handle `{name}` has the name of a parameter, which hides it inside the \
                 function: name the handle differently, e.g. `cache = {name}_cache`"
            ),
        );
    }
    for (option, expr) in options {
        let Some(expr) = expr else { continue };
        if let Some(param) = named_variable(expr, &params) {
            errors.at(
                &param,
                format!(
                    "`{option}` is evaluated once, when the cache is built, so it cannot use the \
                     parameter `{param}` (the first call's value would hold for good): use a \
                     constant, a `static` or a function of no arguments"
                ),
            );
        }
    }
}

/// The names a parameter's pattern binds: its name, or each one a destructuring pattern
/// (`(id, secs)`, `Limits { cap, .. }`, `ref name`) binds.
fn bindings(pat: &Pat) -> Vec<String> {
    struct Bindings(Vec<String>);
    impl<'ast> Visit<'ast> for Bindings {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.push(pat.ident.to_string());
            visit::visit_pat_ident(self, pat);
        }
    }
    let mut found = Bindings(Vec::new());
    found.visit_pat(pat);
    found.0
}

/// The first variable in `expr` among `names`: a path of one segment, not a field, method,
/// module or struct member, nor a name the expression binds itself where it is bound (a
/// closure's parameter, a `let` in a block, a `match` arm's pattern). In a macro's arguments,
/// which are only tokens, an identifier counts unless it is a member (`.x`), a path segment
/// (`x::`, `::x`), a named argument or field (`x = `, `x: `) or a macro's name, and so does a
/// format string's `{x}` or `{:w$}`.
fn named_variable(expr: &Expr, names: &[String]) -> Option<syn::Ident> {
    struct Uses<'a> {
        names: &'a [String],
        bound: Vec<String>,
        found: Option<syn::Ident>,
    }
    impl<'ast> Visit<'ast> for Uses<'_> {
        fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
            if let Some(ident) = expr.path.get_ident()
                && expr.qself.is_none()
                && self.found.is_none()
                && self.unbound(&ident.to_string())
            {
                self.found = Some(ident.clone());
            }
        }
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.bound.push(pat.ident.to_string());
            visit::visit_pat_ident(self, pat);
        }
        // A nested `fn` cannot read the function's parameters.
        fn visit_item_fn(&mut self, _: &'ast syn::ItemFn) {}
        // Bindings hold in their own scope only.
        fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
            let outer = self.bound.len();
            visit::visit_expr_closure(self, closure);
            self.bound.truncate(outer);
        }
        fn visit_block(&mut self, block: &'ast syn::Block) {
            let outer = self.bound.len();
            visit::visit_block(self, block);
            self.bound.truncate(outer);
        }
        fn visit_arm(&mut self, arm: &'ast syn::Arm) {
            let outer = self.bound.len();
            visit::visit_arm(self, arm);
            self.bound.truncate(outer);
        }
        fn visit_expr_if(&mut self, expr: &'ast syn::ExprIf) {
            let outer = self.bound.len();
            self.visit_expr(&expr.cond);
            self.visit_block(&expr.then_branch);
            self.bound.truncate(outer);
            if let Some((_, otherwise)) = &expr.else_branch {
                self.visit_expr(otherwise);
            }
        }
        fn visit_expr_while(&mut self, expr: &'ast syn::ExprWhile) {
            let outer = self.bound.len();
            visit::visit_expr_while(self, expr);
            self.bound.truncate(outer);
        }
        fn visit_expr_for_loop(&mut self, expr: &'ast syn::ExprForLoop) {
            self.visit_expr(&expr.expr);
            let outer = self.bound.len();
            self.visit_pat(&expr.pat);
            self.visit_block(&expr.body);
            self.bound.truncate(outer);
        }
        // `if let x = x`, `let x = x;`: the value is read before the pattern binds.
        fn visit_expr_let(&mut self, expr: &'ast syn::ExprLet) {
            self.visit_expr(&expr.expr);
            self.visit_pat(&expr.pat);
        }
        fn visit_local(&mut self, local: &'ast syn::Local) {
            if let Some(init) = &local.init {
                self.visit_local_init(init);
            }
            self.visit_pat(&local.pat);
        }
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            let name = mac.path.segments.last().map(|s| s.ident.to_string());
            self.in_macro(name.as_deref().unwrap_or_default(), mac.tokens.clone());
        }
    }
    impl Uses<'_> {
        fn unbound(&self, name: &str) -> bool {
            self.names.iter().any(|n| n == name) && !self.bound.iter().any(|n| n == name)
        }
        fn found_at(&mut self, name: &str, span: Span) {
            if self.found.is_none() {
                // A raw name (`r#type`) is made as one: `Ident::new` panics on it.
                self.found = Some(match name.strip_prefix("r#") {
                    Some(raw) => syn::Ident::new_raw(raw, span),
                    None => syn::Ident::new(name, span),
                });
            }
        }
        /// A macro's arguments, each on its own: `name =`, `a.b =` and `name:` before one
        /// (a named argument, a tracing field, `target:`) are no reads, nor a tracing sigil
        /// (`?`, `%`); the rest is read as an expression if it parses as one, else as tokens.
        /// A formatting macro's format string (its first literal argument after the operands
        /// of `assert!`-like and `write!`-like macros) counts its captures.
        fn in_macro(&mut self, name: &str, tokens: TokenStream) {
            if self.found.is_some() || QUOTING.contains(&name) || self.in_matches(name, &tokens) {
                return;
            }
            let operands = match name {
                "assert" | "debug_assert" | "write" | "writeln" => 1,
                "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => 2,
                _ => 0,
            };
            let mut format = None;
            let mut named = Vec::new();
            for (i, argument) in arguments(tokens).iter().enumerate() {
                let (label, value) = labelled(argument);
                if let [TokenTree::Literal(lit)] = value
                    && label.is_none()
                    && format.is_none()
                    && i >= operands
                    && FORMATTING.contains(&name)
                    && lit.to_string().starts_with(['"', 'r'])
                {
                    format = Some(lit.clone());
                    continue;
                }
                if format.is_some()
                    && let Some(label) = label
                {
                    named.push(label);
                }
                let value = match value {
                    [TokenTree::Punct(p), rest @ ..] if matches!(p.as_char(), '?' | '%') => rest,
                    value => value,
                };
                let value: TokenStream = value.iter().cloned().collect();
                match syn::parse2::<Expr>(value.clone()) {
                    Ok(expr) => self.visit_expr(&expr),
                    Err(_) => self.in_tokens(value),
                }
            }
            if let Some(lit) = format {
                let text = lit.to_string();
                let captured = (format_arguments(&text).into_iter())
                    .find(|name| self.unbound(name) && !named.iter().any(|n| n == name));
                if let Some(name) = captured {
                    self.found_at(name, lit.span());
                }
            }
        }
        /// `matches!(value, pattern if guard)`: the pattern binds for the guard only.
        fn in_matches(&mut self, name: &str, tokens: &TokenStream) -> bool {
            let parse = |input: syn::parse::ParseStream<'_>| {
                let value: Expr = input.parse()?;
                input.parse::<Token![,]>()?;
                let pattern = Pat::parse_multi_with_leading_vert(input)?;
                let guard = match input.parse::<Option<Token![if]>>()? {
                    Some(_) => Some(input.parse::<Expr>()?),
                    None => None,
                };
                input.parse::<Option<Token![,]>>()?;
                Ok((value, pattern, guard))
            };
            let Some((value, pattern, guard)) = (name == "matches")
                .then(|| parse.parse2(tokens.clone()).ok())
                .flatten()
            else {
                return false;
            };
            self.visit_expr(&value);
            let outer = self.bound.len();
            self.visit_pat(&pattern);
            if let Some(guard) = &guard {
                self.visit_expr(guard);
            }
            self.bound.truncate(outer);
            true
        }
        /// An argument that is no expression, as tokens: an identifier is a read unless it is
        /// a member (`.x`), a path segment (`x::`, `::x`), a field (`x: `, `x = `) or a
        /// macro's name; a macro in it is read as a macro.
        fn in_tokens(&mut self, tokens: TokenStream) {
            let tokens: Vec<TokenTree> = tokens.into_iter().collect();
            let punct = |i: Option<usize>, c: char| {
                let token = i.and_then(|i| tokens.get(i));
                matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == c)
            };
            let before = |i: usize, n: usize| i.checked_sub(n);
            let names_itself = |i: usize| {
                (punct(Some(i + 1), '=') && !punct(Some(i + 2), '='))
                    || (punct(Some(i + 1), ':') && !punct(Some(i + 2), ':'))
            };
            let mut i = 0;
            while i < tokens.len() && self.found.is_none() {
                match &tokens[i] {
                    TokenTree::Ident(ident)
                        if punct(Some(i + 1), '!')
                            && matches!(tokens.get(i + 2), Some(TokenTree::Group(_))) =>
                    {
                        if let Some(TokenTree::Group(group)) = tokens.get(i + 2) {
                            self.in_macro(&ident.to_string(), group.stream());
                        }
                        i += 2;
                    }
                    TokenTree::Ident(ident) => {
                        let member = punct(before(i, 1), '.') && !punct(before(i, 2), '.');
                        let path = (punct(before(i, 1), ':') && punct(before(i, 2), ':'))
                            || (punct(Some(i + 1), ':') && punct(Some(i + 2), ':'));
                        let name = ident.to_string();
                        if !member && !path && !names_itself(i) && self.unbound(&name) {
                            self.found_at(&name, ident.span());
                        }
                    }
                    TokenTree::Group(group) => self.in_tokens(group.stream()),
                    TokenTree::Literal(_) | TokenTree::Punct(_) => {}
                }
                i += 1;
            }
        }
    }
    let mut uses = Uses {
        names,
        bound: Vec::new(),
        found: None,
    };
    uses.visit_expr(expr);
    uses.found
}

/// A macro's arguments: its tokens split at the commas outside any group.
fn arguments(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut arguments = vec![Vec::new()];
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => arguments.push(Vec::new()),
            _ => arguments.last_mut().expect("one at least").push(token),
        }
    }
    arguments.retain(|argument| !argument.is_empty());
    arguments
}

/// An argument's label (`name =`, `a.b =`, `name:`), if any, and what follows it.
fn labelled(argument: &[TokenTree]) -> (Option<String>, &[TokenTree]) {
    let punct = |i: usize, c: char| matches!(argument.get(i), Some(TokenTree::Punct(p)) if p.as_char() == c);
    let mut i = 0;
    while matches!(argument.get(i), Some(TokenTree::Ident(_))) {
        if punct(i + 1, '.') {
            i += 2;
            continue;
        }
        let label = (argument[..=i].iter()).map(ToString::to_string).collect();
        if (punct(i + 1, '=') && !punct(i + 2, '=')) || (punct(i + 1, ':') && !punct(i + 2, ':')) {
            return (Some(label), &argument[i + 2..]);
        }
        break;
    }
    (None, argument)
}

/// Macros whose first string literal is a format string, which may capture variables.
const FORMATTING: &[&str] = &[
    "format",
    "format_args",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "unreachable",
    "todo",
    "unimplemented",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "event",
    "log",
    "anyhow",
    "bail",
    "ensure",
    "eyre",
    "format_err",
];

/// Macros whose arguments are text, not expressions: nothing in them reads a variable.
const QUOTING: &[&str] = &[
    "stringify",
    "concat",
    "include",
    "include_str",
    "include_bytes",
    "env",
    "option_env",
    "compile_error",
];

/// The arguments a string literal's text (quotes included) names as a format string: `x` in
/// `"{x}"` and `"{x:?}"`, `w` in `"{:>w$}"`; not `x` in `"{{x}}"`.
fn format_arguments(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    if !(text.starts_with('"') || text.starts_with('r')) {
        return names;
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = rest.find('}') else { break };
        let (argument, spec) = rest[..close]
            .split_once(':')
            .unwrap_or((&rest[..close], ""));
        names.push(argument.trim());
        // Each `$` ends the name of a width or precision argument.
        let dollars = spec.matches('$').count();
        for piece in spec.split('$').take(dollars) {
            let start = (piece.char_indices().rev())
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |(i, c)| i + c.len_utf8());
            names.push(&piece[start..]);
        }
        rest = &rest[close + 1..];
    }
    names.retain(|name| name.starts_with(|c: char| c.is_alphabetic() || c == '_'));
    names
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
    let snake = (name.strip_prefix("r#").unwrap_or(&name))
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (last.arguments.is_none() && snake).then_some(&last.ident)
}

fn duration<'a>(value: &'a Value, option: &str, errors: &mut Errors) -> Option<DurationArg<'a>> {
    let expr: &Expr = value;
    if let Expr::Lit(syn::ExprLit { lit, .. }) = expr {
        let number = match lit {
            syn::Lit::Int(n) => Some((n.base10_digits(), n.suffix())),
            syn::Lit::Float(n) => Some((n.base10_digits(), n.suffix())),
            _ => None,
        };
        if let Some((digits, suffix)) = number {
            // `1h` lexes as the number 1 with the suffix `h`: the unit the user meant, which
            // the string takes as written. Any other suffix (`3600u64`) is no unit.
            let written = format!("{digits}{suffix}");
            let unit = !suffix.is_empty()
                && humantime::parse_duration(&written).is_ok()
                && calendar_unit(&written).is_none();
            let message = if unit {
                format!("a duration is a string: write `{option} = \"{written}\"`")
            } else {
                format!(
                    "a bare number has no unit: write `{option} = \"{digits}s\"` for seconds, \
                     or another unit"
                )
            };
            errors.at(lit, message);
            return None;
        }
    }
    if let Expr::Unary(syn::ExprUnary {
        op: syn::UnOp::Neg(_),
        ..
    }) = expr
    {
        errors.at(
            expr,
            format!("`{option}` cannot be negative: write e.g. `{option} = \"5m\"`"),
        );
        return None;
    }
    let Some(lit) = args::lit_str(expr) else {
        return Some(DurationArg::Expr(value));
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
                     \"250ms\" or \"1h 30m\"{}",
                    lit.value(),
                    // `"OFF"`, `"never"`, `"none"`: what `sweep` says for no background sweep.
                    if option == "sweep" {
                        ", or \"off\" for no background sweep"
                    } else {
                        ""
                    }
                ),
            );
            None
        }
    }
}

fn check_signature(function: &Function<'_>, key: Option<&CustomKey>, errors: &mut Errors) {
    let custom_key = key.is_some();
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
    if let Some(again) = function.item.attrs.iter().find(|attr| {
        let last = attr.path().segments.last();
        last.is_some_and(|segment| segment.ident == "ttl_cached")
    }) {
        errors.at(
            again,
            "`#[ttl_cached]` is given twice: one cache per function; keep one attribute",
        );
    }
    if let Some(track) = (function.item.attrs.iter()).find(|a| a.path().is_ident("track_caller")) {
        errors.at(
            track,
            "`#[track_caller]` cannot reach a memoized body: it runs once per key, as the \
             cache's constructor, not in each call, so `Location::caller()` and its panics would \
             name the body; remove the attribute",
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
                if !custom_key
                    && let Some(cfg) = original
                        .attrs
                        .iter()
                        .find(|attr| attr.path().is_ident("cfg"))
                {
                    errors.at(
                        cfg,
                        "a parameter under `#[cfg]` cannot be part of the key, which is built \
                         before the attribute takes it away: give the key with \
                         `key: Type = expr` over the other parameters",
                    );
                }
                let by_ref = matches!(&*original.pat, Pat::Ident(p) if p.by_ref.is_some());
                if ident.is_none() && !custom_key {
                    if by_ref {
                        errors.at(
                            &original.pat,
                            "a `ref` binding cannot be part of the key: take the parameter by \
                             value (`name: String`) or by reference (`name: &String`), or \
                             choose the key with `key: Type = expr`",
                        );
                    } else if matches!(&*original.pat, Pat::Wild(_)) {
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
                // A parameter that cannot be taken at all is not also judged as a key.
                if check_param_type(ty, custom_key, errors) && !custom_key {
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
    if let Some(key) = key {
        check_custom_key(key, errors);
    }
    check_output(&function.output, sig, generic, errors);
}

/// Whether the parameter's type is one a memoized function can take (else reported).
/// `custom_key`: the parameter is not part of the key.
fn check_param_type(ty: &Type, custom_key: bool, errors: &mut Errors) -> bool {
    let mutable = |t: &Type| matches!(t, Type::Reference(r) if r.mutability.is_some());
    if let Some(mutable) = find(ty, &mut |t| mutable(t)) {
        errors.at(
            mutable,
            "`&mut` parameters are not supported: a cached call does not run the body, so it \
             could not mutate through them; take `&T` instead",
        );
    } else if let Some(opaque) = find(ty, &mut |t| matches!(t, Type::ImplTrait(_))) {
        let why = if custom_key {
            // Not a key part: the reason is the function's own genericity.
            "they make the function generic, and its cache is one static; take a concrete type \
             or a `&dyn Trait` instead"
        } else {
            "the key needs one concrete type; take a concrete type instead"
        };
        errors.at(
            opaque,
            format!("`impl Trait` parameters are not supported: {why}"),
        );
    } else {
        return true;
    }
    false
}

/// `key: Type = expr`: what the cache keeps must own its data and be one concrete type.
fn check_custom_key(key: &CustomKey, errors: &mut Errors) {
    let ty = &key.ty;
    if let Some(lifetime) = first_lifetime(ty) {
        errors.at(
            ty,
            format!(
                "`{}` borrows (`{lifetime}`), so it cannot be the key the cache keeps after the \
                 call: use an owned type, e.g. `key: String = name.to_owned()`",
                shown(ty)
            ),
        );
    } else if find(ty, &mut |t| matches!(t, Type::ImplTrait(_))).is_some() {
        errors.at(
            ty,
            "`impl Trait` cannot be a key type: name a concrete type",
        );
    } else if mentions_self(ty) {
        errors.at(
            ty,
            "`Self` cannot appear in a key type: the cache is a static item; write the type's \
             name instead",
        );
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
        Type::Never(_) => errors.at(
            ty,
            "a function that never returns has no value to cache; remove `#[ttl_cached]`",
        ),
        Type::TraitObject(_) => errors.at(
            ty,
            format!(
                "`{}` has no size known at compile time, so it cannot be returned, nor cached: \
                 return `Arc<{0}>` (or `Box<{0}>`)",
                shown(ty)
            ),
        ),
        Type::Slice(_) => errors.at(
            ty,
            "a slice has no size known at compile time, so it cannot be returned, nor cached: \
             return `Vec<T>` or `Arc<[T]>`",
        ),
        Type::Path(p) if p.path.is_ident("str") => errors.at(
            ty,
            "`str` has no size known at compile time, so it cannot be returned, nor cached: \
             return `String` or `Arc<str>`",
        ),
        _ if find(ty, &mut |t| matches!(t, Type::ImplTrait(_))).is_some() => errors.at(
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
            errors.at(param, type_parameter_message(param, "return"));
        }
        _ if mentions_self(ty) => errors.at(
            ty,
            "`Self` cannot appear in a cached return type: the cache is a static item; write \
             the type's name instead",
        ),
        _ => {}
    }
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
    // Only a key names the parameter's type in the static: with `key: Type = expr` a `Self`
    // parameter is taken as any other.
    if mentions_self(ty) {
        errors.at(
            ty,
            "`Self` cannot appear in a key type: the cache is a static item; write the type's \
             name instead, or leave the parameter out of the key with `key: Type = expr`",
        );
    } else if let Some(lifetime) = first_lifetime(owned) {
        errors.at(
            ty,
            format!(
                "`{}` borrows (`{lifetime}`), so it cannot be part of a key the cache keeps \
                 after the call: take `&str`, `&[T]` or `&T` (keyed by their owned form) or an \
                 owned type, or give the key with `key: Type = expr`",
                shown(ty)
            ),
        );
    } else if let Some(object) = find(owned, &mut |t| matches!(t, Type::TraitObject(_))) {
        errors.at(
            object,
            format!(
                "a trait object (`{}`) cannot be part of a key: the key must be one concrete \
                 `Hash + Eq + Clone` type; take a concrete type, or give the key with \
                 `key: Type = expr`",
                shown(object)
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
        syn::GenericArgument::Type(Type::Reference(r))
            if last.ident == "Option" && r.mutability.is_none() =>
        {
            Some(&r.elem)
        }
        _ => None,
    }
}

fn type_parameter_message(param: &syn::Ident, what: &str) -> String {
    format!(
        "`{param}` looks like a type or const parameter of the enclosing `impl` or trait: the cache is \
         one static per instantiation, typed once, so its {what} type cannot depend on `{param}`; \
         name concrete types (a value can be an `Arc<dyn Any + Send + Sync>`), or move the \
         cached work into a function over concrete types (if `{param}` is a type or module of \
         yours, write its path as `self::{param}`)"
    )
}

/// The first month or year unit in a duration literal (`"1M"`, `"2 months"`, `"1y"`).
fn calendar_unit(text: &str) -> Option<String> {
    const CALENDAR: &[&str] = &["M", "month", "months", "y", "year", "years"];
    text.split(|c: char| c.is_ascii_digit() || c.is_whitespace())
        .find(|unit| CALENDAR.contains(unit))
        .map(str::to_string)
}
