//! The attribute against inputs built from a grammar of realistic fragments and their
//! mutations: whatever the user writes, `try_expand` must not panic (a proc-macro panic shows
//! "proc macro panicked" with no span), must answer with tokens that parse as items (the
//! expansion, or `compile_error!`s), must answer the same twice, and, when it accepts a
//! function, must keep its signature token for token.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::{Group, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use quote::ToTokens;

use crate::{compile_errors, try_expand};

/// Besides every option's name (`args::OPTIONS`): misspellings, peers' names, keywords and raw
/// identifiers.
const OTHER_NAMES: &[&str] = &[
    "tll",
    "TTL",
    "capcity",
    "sweeep",
    "time",
    "time_refresh",
    "result",
    "option",
    "convert",
    "ty",
    "type",
    "create",
    "size",
    "max_size",
    "SecondsToLive",
    "TimeToLive",
    "Ignore",
    "sync_writes",
    "in_impl",
    "redis",
    "self",
    "Self",
    "r#ttl",
    "r#type",
    "_",
];

/// Every name the fuzzer tries as an option.
fn option_names() -> Vec<&'static str> {
    crate::args::OPTIONS
        .iter()
        .chain(OTHER_NAMES)
        .copied()
        .collect()
}

/// Option values: every literal kind, durations good and bad, expressions, closures, macros.
const VALUES: &[&str] = &[
    "\"1h\"",
    "\"90s\"",
    "\"1h 30m\"",
    "\"250ms\"",
    "\"0s\"",
    "\"0\"",
    "\"off\"",
    "\"OFF\"",
    "\"fixed\"",
    "\"sliding\"",
    "\"lru\"",
    "\"1M\"",
    "\"2 months\"",
    "\"1y\"",
    "\"\"",
    "\"abc\"",
    "\"99999999999999999999999h\"",
    "\"18446744073709551615s\"",
    "\"584942417355y\"",
    "\"1.5h\"",
    "\"1ns\"",
    "\"{x}\"",
    "\"::cache_core\"",
    "\"cache_core\"",
    "\"::a::(\"",
    "\"a b\"",
    "\"::\"",
    "\"r#type\"",
    "\"Self::x\"",
    "\"{ SizedCache::with_size(100) }\"",
    "\"SizedCache<String, u8>\"",
    "r#\"{ x.to_string() }\"#",
    "1",
    "0",
    "0usize",
    "18446744073709551616",
    "1.5",
    "1e3",
    "-1",
    "-\"1h\"",
    "true",
    "'c'",
    "b\"1h\"",
    "b'1'",
    "c\"1h\"",
    "Duration::from_secs(1)",
    "std::time::Duration::from_secs(x as u64)",
    "TTL",
    "Self::TTL",
    "x",
    "r#type",
    "(x)",
    "{ x }",
    "{ let x = 1; x }",
    "(1 << 10)",
    "|k, v| None",
    "|k: &u8, v: &u8| Some(Duration::from_secs(u64::from(*k)))",
    "move |_, _| x",
    "format!(\"{x}\")",
    "format!(\"{r#type}\")",
    "format!(\"{}\", r#type)",
    "format!(\"{:>w$}\", 1)",
    "format!(\"{{x}}\")",
    "foo!(=> x)",
    "foo!(=> r#type)",
    "foo!(x = 1, y: x)",
    "matches!(x, Some(y) if y > 1)",
    "stringify!(x)",
    "tracing::info!(?x, \"{x}\")",
    "CLOCK.clone()",
    "&CLOCK",
    "clients",
    "Self::clients",
    "::a::b",
    "self::x",
    "x::y",
    "a.b",
    "if x { 1 } else { 2 }",
    "match x { y => y }",
    "for y in x {}",
    "async { 1 }",
    "unsafe { x }",
    "[x; 2]",
    "(x, 1)",
    "x?",
    "return",
    "..",
    "_",
    // `PARAM` is replaced by a parameter of the function.
    "PARAM",
    "{ PARAM }",
    "Duration::from_secs(PARAM as u64)",
    "format!(\"{PARAM}\")",
    "format!(\"{:>PARAM$}\", 1)",
    "foo!(=> PARAM)",
    "foo!(PARAM: 1, PARAM = 2, a.PARAM, PARAM::a)",
    "|PARAM, v| None",
    "|k, v| { let _ = PARAM; None }",
    "matches!(1, PARAM if PARAM > 0)",
    "stringify!(PARAM)",
    "Self::PARAM",
    "PARAM.clone()",
];

/// `key: ...` options and their mistakes.
const KEYS: &[&str] = &[
    "key: String = x.to_owned()",
    "key: u32 = 1",
    "key: (String, u8) = (a.clone(), 1)",
    "key: &str = x",
    "key: &'static str = \"a\"",
    "key: Cow<'_, str> = x.into()",
    "key: impl Hash = x",
    "key: Self = x",
    "key: Vec<Self> = x",
    "key: T = x",
    "key: dyn Hash = x",
    "key: String",
    "key: = x",
    "key = \"String\"",
    "key = x",
    "key: ty!() = x",
    "key: u8 = r#type",
    "key: String = format!(\"{r#type}\")",
    "key: u8 = foo!(=> r#type)",
    "key: _ = x",
    "key: fn(&str) -> &str = f",
    "key",
    "key:",
    "key: u8 = PARAM",
    "key: String = format!(\"{PARAM}\")",
    "key: u8 = foo!(=> PARAM)",
];

/// Attributes on the function.
const ATTRS: &[&str] = &[
    "#[doc = \"a\"]",
    "/// docs",
    "#[doc(hidden)]",
    "#[deprecated(note = \"old\")]",
    "#[must_use]",
    "#[inline]",
    "#[cfg(test)]",
    "#[cfg_attr(test, inline)]",
    "#[expect(unused_variables)]",
    "#[expect(unused_variables, clippy::ptr_arg, reason = \"r\")]",
    "#[expect(dead_code, reason = \"r\")]",
    "#[expect]",
    "#[expect = 1]",
    "#[expect(unused_variables = 1)]",
    "#[allow(clippy::all)]",
    "#[ttl_cached(ttl = \"1h\")]",
    "#[cache_core::ttl_cached]",
    "#[track_caller]",
    "#[unsafe(no_mangle)]",
    "#[tracing::instrument]",
    "#[async_trait]",
];

/// Qualifiers before `fn`.
const QUALIFIERS: &[&str] = &[
    "",
    "pub",
    "pub(crate)",
    "pub(super)",
    "pub(in crate::a)",
    "async",
    "pub async",
    "const",
    "unsafe",
    "async unsafe",
    "const unsafe",
    "extern \"C\"",
    "unsafe extern \"C\"",
    "extern \"C-unwind\"",
    "extern",
    "safe",
    "default",
    "pub const async",
];

const NAMES: &[&str] = &[
    "f",
    "lookup",
    "r#type",
    "r#fn",
    "_f",
    "get_or_create",
    "F",
    "clients",
];

const GENERICS: &[&str] = &[
    "",
    "<>",
    "<'a>",
    "<'a, 'b: 'a>",
    "<'async_trait>",
    "<'life0, 'async_trait>",
    "<T>",
    "<T: Clone>",
    "<const N: usize>",
    "<'a, T>",
    "<impl Trait>",
];

/// Parameters of every shape: types the README supports and the ones it rejects.
const PARAMS: &[&str] = &[
    "x: u8",
    "x: &str",
    "a: String",
    "b: &[u8]",
    "p: &Path",
    "r#type: &str",
    "r#type: u8",
    "_x: u8",
    "_y: &str",
    "mut m: String",
    "ref r: String",
    "ref mut r: String",
    "x @ 1..=2: u8",
    "_: u8",
    "(a, b): (u8, u8)",
    "Pair(a, b): Pair",
    "S { a, .. }: S",
    "&n: &u8",
    "#[cfg(test)] c: u8",
    "#[cfg_attr(test, allow(unused))] c: u8",
    "#[allow(unused)] d: u8",
    "self",
    "&self",
    "&mut self",
    "&'a self",
    "mut self",
    "self: Box<Self>",
    "self: &Self",
    "self: Pin<&mut Self>",
    "x: impl Trait",
    "x: &impl Trait",
    "x: Box<impl Trait>",
    "x: &dyn Trait",
    "x: Box<dyn Trait + Send>",
    "x: &'a str",
    "x: &'static str",
    "x: Option<&'a str>",
    "x: Option<&str>",
    "x: Option<&mut str>",
    "x: std::option::Option<&Path>",
    "x: Cow<'_, str>",
    "x: Cow<'static, str>",
    "x: Self",
    "x: &Self",
    "x: Self::Key",
    "x: <Self as Trait>::Key",
    "x: (u8, String)",
    "x: ()",
    "x: (&str)",
    "x: [u8; 4]",
    "x: [u8; N]",
    "x: &[&str]",
    "x: &&str",
    "x: fn(u8) -> u8",
    "x: for<'b> fn(&'b str) -> &'b str",
    "x: unsafe extern \"C\" fn()",
    "x: *const u8",
    "x: &mut u8",
    "x: Vec<&'a mut u8>",
    "x: T",
    "x: &T",
    "x: Vec<T>",
    "x: T::Output",
    "x: ty!()",
    "x: &ty!()",
    "x: _",
    "x: !",
    "x: dyn Trait",
    "x: [u8]",
    "x: str",
    "x: impl Fn(u8) -> u8",
    "x: Box<dyn Fn(&str) -> bool>",
    "x: HashMap<String, u8>",
    "x: RefCell<u8>",
    "x: f64",
    "x: &'a Foo<'a>",
    "x: Foo<'_>",
    "...",
    "x: ...",
    "args: ...",
];

/// Return types, including `#[async_trait]`'s rewritten one.
const RETURNS: &[&str] = &[
    "",
    "-> ()",
    "-> u8",
    "-> String",
    "-> Result<u8, String>",
    "-> Result<u8, Box<dyn Error>>",
    "-> Option<String>",
    "-> Res<u8>",
    "-> io::Result<Vec<u8>>",
    "-> Arc<Client>",
    "-> &'static str",
    "-> &str",
    "-> &'a str",
    "-> Cow<'static, str>",
    "-> Cow<'a, str>",
    "-> Option<&'static str>",
    "-> impl Future<Output = u8>",
    "-> impl Display",
    "-> Box<impl Display>",
    "-> !",
    "-> dyn Display",
    "-> [u8]",
    "-> str",
    "-> [u8; 32]",
    "-> (u8)",
    "-> (u8, String)",
    "-> Self",
    "-> Vec<Self>",
    "-> T",
    "-> Vec<T>",
    "-> T::Output",
    "-> ty!()",
    "-> _",
    "-> fn(u8) -> u8",
    "-> fn(&str) -> &str",
    "-> Pin<Box<dyn Future<Output = u8> + Send + 'async_trait>>",
    "-> Pin<Box<dyn Future<Output = Result<u8, String>> + Send + 'async_trait>>",
    "-> Pin<Box<dyn Future<Output = &'a str> + Send + 'async_trait>>",
    "-> Pin<Box<dyn Future>>",
    "-> Pin<Box<dyn Future<Output = impl Display> + 'async_trait>>",
];

const WHERES: &[&str] = &[
    "",
    "where",
    "where u8: Copy",
    "where Self: Sized",
    "where Self: ?Sized",
    "where Self: Sized + Send",
    "where T: Clone",
    "where for<'b> &'b u8: Copy,",
    "where 'a: 'static",
];

const BODIES: &[&str] = &[
    "{ 1 }",
    "{}",
    "{ x }",
    "{ return 1; }",
    "{ #![allow(unused)] 1 }",
    "{ Box::pin(async move { 1 }) }",
    "{ ::std::boxed::Box::pin(async move { Ok(1) }) }",
    "{ Box::pin(async move { 1 }, 2) }",
    "{ let f = async { 1 }; Box::pin(f) }",
    "{ panic!(\"a macro call as the whole body\") }",
    "{ x?; Ok(1) }",
    "{ unsafe { *x } }",
    "{ fn inner(x: u8) -> u8 { x } inner(1) }",
    "{ struct Config; 1 }",
];

/// Loose tokens for mutations and token soup.
const SOUP: &[&str] = &[
    "fn", "async", "const", "unsafe", "extern", "pub", "self", "Self", "crate", "super", "ttl",
    "key", "cache", "x", "r#type", "=", "==", ":", "::", ",", ";", "&", "&&", "'a", "'static",
    "->", "=>", "#", "!", "?", "...", "..", "*", "+", "<", ">", "|", "_", "1", "0", "\"1h\"",
    "\"\"", "b\"x\"", "'c'", "1.5", "-", "()", "[]", "{}", "(x)", "[u8]", "{ 1 }", "<T>", "impl",
    "dyn", "where", "for", "mut", "ref", "move", "return", "r#fn", "$", "@", "~",
];

/// A mutation of a token stream: where and what.
#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Insert(usize, &'static str),
    Swap(usize, usize),
    /// Mutate inside the n-th group.
    Inside(usize, Box<Mutation>),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let leaf = prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), select(SOUP)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| {
        (any::<usize>(), inner).prop_map(|(i, m)| Mutation::Inside(i, Box::new(m)))
    })
}

fn lex(text: &str) -> TokenStream {
    text.parse()
        .unwrap_or_else(|e| panic!("fragment {text:?}: {e}"))
}

fn mutate(tokens: TokenStream, mutation: &Mutation) -> TokenStream {
    let mut tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match mutation {
        Mutation::Delete(i) if !tokens.is_empty() => {
            tokens.remove(at(*i, tokens.len()));
        }
        Mutation::Duplicate(i) if !tokens.is_empty() => {
            let i = at(*i, tokens.len());
            tokens.insert(i, tokens[i].clone());
        }
        Mutation::Insert(i, text) => {
            let i = at(*i, tokens.len() + 1);
            let new: Vec<TokenTree> = lex(text).into_iter().collect();
            tokens.splice(i..i, new);
        }
        Mutation::Swap(i, j) if !tokens.is_empty() => {
            let (i, j) = (at(*i, tokens.len()), at(*j, tokens.len()));
            tokens.swap(i, j);
        }
        Mutation::Truncate(i) => {
            tokens.truncate(at(*i, tokens.len() + 1));
        }
        Mutation::Inside(n, inner) => {
            let groups: Vec<usize> = (0..tokens.len())
                .filter(|&i| matches!(tokens[i], TokenTree::Group(_)))
                .collect();
            if !groups.is_empty() {
                let i = groups[n % groups.len()];
                if let TokenTree::Group(group) = &tokens[i] {
                    let mut new = Group::new(group.delimiter(), mutate(group.stream(), inner));
                    new.set_span(group.span());
                    tokens[i] = new.into();
                }
            }
        }
        _ => {}
    }
    tokens.into_iter().collect()
}

/// The attribute's arguments: options joined by commas (sometimes not).
fn attribute() -> impl Strategy<Value = String> {
    let option = prop_oneof![
        4 => (select(option_names()), select(VALUES)).prop_map(|(n, v)| format!("{n} = {v}")),
        2 => select(KEYS).prop_map(str::to_owned),
        1 => select(option_names()).prop_map(str::to_owned),
        1 => (select(option_names()), select(VALUES)).prop_map(|(n, v)| format!("{n}: {v}")),
        1 => select(VALUES).prop_map(str::to_owned),
    ];
    let ttl = select(&["ttl = \"1h\", ", "ttl = \"1h\"", "", "ttl = \"5m\", "][..]);
    let separator = select(&[", ", ", ", ", ", " ", ",, ", "; "][..]);
    (
        ttl,
        prop::collection::vec((option, separator), 0..5),
        any::<bool>(),
    )
        .prop_map(|(ttl, options, trailing)| {
            let mut text = ttl.to_owned();
            for (i, (option, separator)) in options.iter().enumerate() {
                if i > 0 {
                    text.push_str(separator);
                }
                text.push_str(option);
            }
            if trailing {
                text.push(',');
            }
            text
        })
}

/// The names a parameter fragment binds (roughly: its identifiers before the `:`).
fn bound_names(param: &str) -> Vec<String> {
    let pattern = param.split(':').next().unwrap_or_default();
    let pattern = pattern.rsplit(']').next().unwrap_or_default();
    (pattern.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#')))
        .filter(|w| {
            !w.is_empty()
                && !["mut", "ref", "self", "Self", "Pair", "S", "_"].contains(w)
                && !w.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_owned)
        .collect()
}

/// A function item (or something near one), and the names its parameters bind.
fn function() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        prop::collection::vec(select(ATTRS), 0..3),
        select(QUALIFIERS),
        select(NAMES),
        select(GENERICS),
        prop::collection::vec(select(PARAMS), 0..5),
        select(RETURNS),
        select(WHERES),
        select(BODIES),
    )
        .prop_map(
            |(attrs, qualifiers, name, generics, params, ret, wheres, body)| {
                let text = format!(
                    "{} {qualifiers} fn {name}{generics}({}) {ret} {wheres} {body}",
                    attrs.join(" "),
                    params.join(", ")
                );
                (text, params.iter().flat_map(|p| bound_names(p)).collect())
            },
        )
}

/// Options a user writes beside `ttl`, right or nearly so.
const GOOD_OPTIONS: &[&str] = &[
    "sweep = \"5m\"",
    "sweep = \"off\"",
    "expiry = \"fixed\"",
    "expiry = \"sliding\"",
    "capacity = 100",
    "capacity = CAP",
    "capacity = (1 << 10)",
    "max_lifetime = \"1d\"",
    "refresh_after = \"10m\"",
    "stale_if_error = \"1m\"",
    "name = \"clients\"",
    "cache = clients_cache",
    "cache = Self::clients_cache",
    "clock = CLOCK.clone()",
    "crate = \"::cache_core\"",
    "expire_after = |_k, _v| None",
    "shared = tier()",
    "key: String = PARAM.to_string()",
    // Mistakes about a parameter, in several shapes.
    "capacity = PARAM",
    "name = foo!(=> PARAM)",
    "clock = foo!(PARAM: 1, PARAM)",
    "max_lifetime = Duration::from_secs(format!(\"{PARAM}\").len() as u64)",
];

/// Parameters of the shapes the README supports.
const GOOD_PARAMS: &[&str] = &[
    "x: u8",
    "s: &str",
    "a: String",
    "b: &[u8]",
    "p: &Path",
    "r#type: &str",
    "r#type: u8",
    "_x: u8",
    "_y: &str",
    "mut m: String",
    "#[allow(unused)] d: u8",
    "l: &'a str",
    "o: Option<&'a str>",
    "q: Option<&str>",
    "t: (u8, String)",
    "arr: [u8; 4]",
    "fp: fn(u8) -> u8",
    "tm: ty!()",
    "c: Cow<'static, str>",
    "st: &'static str",
    "h: HashMap<String, u8>",
];

const GOOD_RETURNS: &[&str] = &[
    "",
    "-> u8",
    "-> String",
    "-> Result<u8, String>",
    "-> Option<String>",
    "-> Res<u8>",
    "-> Arc<Client>",
    "-> Vec<&'static str>",
    "-> [u8; 32]",
    "-> (u8, String)",
    "-> fn(u8) -> u8",
    "-> ty!()",
];

const GOOD_QUALIFIERS: &[&str] = &[
    "",
    "pub",
    "pub(crate)",
    "async",
    "pub async",
    "unsafe",
    "extern \"C\"",
    "unsafe extern \"C\"",
];

const GOOD_ATTRS: &[&str] = &[
    "/// docs",
    "#[deprecated(note = \"old\")]",
    "#[must_use]",
    "#[inline]",
    "#[cfg_attr(test, inline)]",
    "#[expect(unused_variables, dead_code, reason = \"r\")]",
];

/// A plausible use of the attribute: `ttl` and a few options on a function of supported
/// shapes, and the names its parameters bind.
fn plausible() -> impl Strategy<Value = (String, String, Vec<String>)> {
    (
        prop::collection::vec(select(GOOD_OPTIONS), 0..3),
        prop::collection::vec(select(GOOD_ATTRS), 0..2),
        select(GOOD_QUALIFIERS),
        select(&["", "<'a>", "<'a, 'b: 'a>"][..]),
        prop::collection::vec(select(GOOD_PARAMS), 0..4),
        select(GOOD_RETURNS),
        select(&["", "where u8: Copy", "where Self: Sized"][..]),
    )
        .prop_map(
            |(options, attrs, qualifiers, generics, params, ret, wheres)| {
                let mut args = String::from("ttl = \"1h\"");
                for option in options {
                    args.push_str(", ");
                    args.push_str(option);
                }
                let item = format!(
                    "{} {qualifiers} fn lookup{generics}({}) {ret} {wheres} {{ panic!(\"never compiled: only expanded\") }}",
                    attrs.join(" "),
                    params.join(", ")
                );
                (
                    args,
                    item,
                    params.iter().flat_map(|p| bound_names(p)).collect(),
                )
            },
        )
}

/// One case: the attribute's tokens and the item's, plausible, or built from every fragment
/// and perhaps mutated.
fn case() -> impl Strategy<Value = (TokenStream, TokenStream)> {
    prop_oneof![
        1 => (plausible(), any::<usize>()).prop_map(|((args, item, names), pick)| {
            let name = match names.len() {
                0 => "x".to_owned(),
                n => names[pick % n].clone(),
            };
            (lex(&args.replace("PARAM", &name)), lex(&item))
        }),
        2 => adversarial(),
    ]
}

/// The attribute's tokens and the item's from every fragment, each perhaps mutated.
fn adversarial() -> impl Strategy<Value = (TokenStream, TokenStream)> {
    let soup =
        || prop::collection::vec(select(SOUP), 0..30).prop_map(|tokens| lex(&tokens.join(" ")));
    let args = prop_oneof![
        8 => attribute().prop_map(Some),
        1 => Just(None),
    ];
    let item = prop_oneof![
        8 => function().prop_map(|(text, names)| (lex(&text), names)),
        1 => soup().prop_map(|soup| (soup, Vec::new())),
        1 => select(&["", "struct S;", "impl S {}", "fn f();", "extern \"C\" { fn f(); }",
            "trait T { fn f(x: u8) -> u8; }", "mod m {}", "fn", "fn f", "fn f()"][..])
            .prop_map(|text| (lex(text), Vec::new())),
    ];
    (
        args,
        soup(),
        any::<usize>(),
        prop::collection::vec(mutation(), 0..3),
        item,
        prop::collection::vec(mutation(), 0..3),
    )
        .prop_map(
            |(args, soup, pick, args_mutations, (mut item, names), item_mutations)| {
                // A value that names a parameter names one of this function's.
                let name = match names.len() {
                    0 => "x".to_owned(),
                    n => names[pick % n].clone(),
                };
                let mut args = args.map_or(soup, |text| lex(&text.replace("PARAM", &name)));
                for mutation in &args_mutations {
                    args = mutate(args, mutation);
                }
                for mutation in &item_mutations {
                    item = mutate(item, mutation);
                }
                (args, item)
            },
        )
}

/// What the attribute answers, `(accepted, tokens)`: its expansion, or the `compile_error!`s
/// it adds.
fn answer(args: &TokenStream, item: &TokenStream) -> Result<(bool, String), String> {
    let result = catch_unwind(AssertUnwindSafe(|| try_expand(args.clone(), item.clone())));
    let result = match result {
        Ok(result) => result,
        Err(payload) => {
            let text = (payload.downcast_ref::<String>().cloned())
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Err(format!("panicked: {text}"));
        }
    };
    let (tokens, ok) = match result {
        Ok(tokens) => (tokens, true),
        Err(error) => (compile_errors(error), false),
    };
    let text = tokens.to_string();
    let file: syn::File = syn::parse2(tokens)
        .map_err(|e| format!("the answer does not parse as items ({e}): {text}"))?;
    if ok {
        // The function keeps its visibility and signature, token for token.
        let before: syn::ItemFn = syn::parse2(item.clone()).map_err(|e| e.to_string())?;
        let after = (file.items.iter().rev())
            .find_map(|item| match item {
                syn::Item::Fn(f) if f.sig.ident == before.sig.ident => Some(f),
                _ => None,
            })
            .ok_or_else(|| format!("the function is gone: {text}"))?;
        let shown =
            |f: &syn::ItemFn| format!("{} {}", f.vis.to_token_stream(), f.sig.to_token_stream());
        if shown(&before) != shown(after) {
            return Err(format!(
                "the signature changed: {} became {}",
                shown(&before),
                shown(after)
            ));
        }
    } else if file.items.is_empty() {
        return Err("an error with no message".to_owned());
    }
    Ok((ok, text))
}

/// Checks one case; `Ok(true)` if the attribute accepted the function.
fn check(args: &TokenStream, item: &TokenStream) -> Result<bool, TestCaseError> {
    let first = answer(args, item)
        .map_err(|e| TestCaseError::fail(format!("#[ttl_cached({args})] {item}\n{e}")))?;
    let second = answer(args, item).map_err(TestCaseError::fail)?;
    prop_assert_eq!(
        &first,
        &second,
        "not deterministic: #[ttl_cached({})] {}",
        args,
        item
    );
    Ok(first.0)
}

/// The number of cases: `PROPTEST_CASES` if set, else a count that runs in about a second.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn no_input_makes_the_attribute_panic_or_answer_garbage() {
    let cases = cases();
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let accepted = Cell::new(0u32);
    let outcome = runner.run(&case(), |(args, item)| {
        if check(&args, &item)? {
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    if let Err(error) = outcome {
        panic!("{error}");
    }
    // The grammar must reach the expansion often enough for its checks to mean something.
    eprintln!("{} of {cases} cases accepted", accepted.get());
    assert!(
        accepted.get() * 10 >= cases,
        "only {} of {cases} cases were accepted",
        accepted.get()
    );
}

/// Inputs far larger than anyone writes: every option many times, hundreds of parameters.
#[test]
fn huge_inputs_are_answered() {
    let options = "ttl = \"1h\", capacity = 1, ".repeat(500);
    let params = (0..300).map(|i| format!("p{i}: &str")).collect::<Vec<_>>();
    let item = format!("fn f({}) -> u8 {{ 1 }}", params.join(", "));
    let body = "x + ".repeat(2000) + "1";
    for (args, item) in [
        (options.as_str(), "fn f(x: u8) -> u8 { x }".to_owned()),
        ("ttl = \"1h\"", item),
        ("ttl = \"1h\"", format!("fn f(x: u8) -> u8 {{ {body} }}")),
        ("", String::new()),
    ] {
        check(&lex(args), &lex(&item)).unwrap();
    }
}

/// A parameter with a raw name (`r#type`) read by an option through a macro's tokens or a
/// format string: `Ident::new("r#type")` panicked, and the user saw "proc macro panicked".
#[test]
fn an_option_reading_a_raw_named_parameter_is_an_error_not_a_panic() {
    for option in [
        "name = foo!(=> r#type)",
        "clock = foo!(r#type: 1, r#type)",
        "capacity = format!(\"{r#type}\").len()",
    ] {
        let args = lex(&format!("ttl = \"1h\", {option}"));
        let item = lex("fn lookup(r#type: &str) -> u8 { 1 }");
        let answer = catch_unwind(|| try_expand(args.clone(), item.clone()));
        let error = match answer {
            Ok(Err(error)) => error.to_string(),
            Ok(Ok(_)) => panic!("{option}: accepted"),
            Err(_) => panic!("{option}: the attribute panicked"),
        };
        assert!(
            error.contains("cannot use the parameter `r#type`"),
            "{option}: {error}"
        );
    }
}
