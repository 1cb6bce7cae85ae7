//! Parsing the attribute's arguments: `ttl = "1h", sweep = "5m", key: String = expr, ...`.
//!
//! Parsing only records what was written, with its span; whether it makes sense is
//! `valid.rs`'s job. Unknown and repeated options are collected, not fatal, so that one build
//! reports every mistake.

use std::ops::Deref;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Path, Token, Type};

use crate::{peers, tokens};

/// The options, in the order the user is told about them.
pub(crate) const OPTIONS: &[&str] = &[
    "ttl",
    "sweep",
    "expiry",
    "max_lifetime",
    "expire_after",
    "refresh_after",
    "stale_if_error",
    "capacity",
    "name",
    "key",
    "cache",
    "shared",
    "clock",
    "crate",
];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) ttl: Option<Value>,
    pub(crate) sweep: Option<Value>,
    pub(crate) expiry: Option<Value>,
    pub(crate) max_lifetime: Option<Value>,
    pub(crate) expire_after: Option<Value>,
    pub(crate) refresh_after: Option<Value>,
    pub(crate) stale_if_error: Option<Value>,
    pub(crate) capacity: Option<Value>,
    /// `name = "..."`: the map's name.
    pub(crate) map_name: Option<Value>,
    pub(crate) key: Option<CustomKey>,
    pub(crate) cache: Option<Path>,
    pub(crate) shared: Option<SharedTier>,
    pub(crate) clock: Option<Value>,
    pub(crate) krate: Option<Value>,
    /// Unknown, repeated or malformed options, reported with the rest by validation.
    pub(crate) errors: Vec<syn::Error>,
    /// Options the user meant to give but wrote wrong (already in `errors`): not also
    /// reported as missing.
    pub(crate) attempted: Vec<String>,
    /// The options say cached's `time_refresh = true`, which changes what its `time` means.
    time_refreshed: bool,
}

/// `shared = expr`: the option's name is kept, so that an error can point at the whole option.
pub(crate) struct SharedTier {
    pub(crate) name: Ident,
    pub(crate) tier: Value,
}

impl ToTokens for SharedTier {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.name.to_tokens(tokens);
        self.tier.to_tokens(tokens);
    }
}

/// `key: Type = expr`.
pub(crate) struct CustomKey {
    pub(crate) ty: Type,
    pub(crate) expr: Value,
}

/// An option's value (or a custom key's expression): the expression the checks read, which
/// the expansion emits as the tokens it came as. Printed by syn, a `macro_rules!` fragment
/// in it would lose its invisible group (rustc reads one a proc macro makes anew as if it
/// were not there): `capacity = $n * 2` with `$n` = `1 + 1` would be `1 + 1 * 2`.
pub(crate) struct Value {
    expr: Expr,
    tokens: TokenStream,
}

impl Deref for Value {
    type Target = Expr;

    fn deref(&self) -> &Expr {
        &self.expr
    }
}

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.tokens.clone());
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        if input.peek(Token![=]) || input.peek(syn::Lit) {
            // `#[ttl_cached("1h")]`, or `#[ttl_cached = "1h"]` (whose form rustc reports, and
            // passes the value alone).
            let form = "options are named, in parentheses: write `#[ttl_cached(ttl = \"1h\")]`";
            args.errors.push(input.error(form));
            args.attempted.push("ttl".to_owned());
            input.parse::<TokenStream>()?;
            return Ok(args);
        }
        args.time_refreshed = time_refreshed(input);
        while !input.is_empty() {
            // A malformed option is reported and skipped up to the next separator, so the
            // options after it are still checked. Every token is read: tokens left over would
            // make `syn::parse2` replace all these errors by its bare "unexpected token".
            if let Err(error) = args.option(input) {
                args.errors.push(error);
                skip_option(input)?;
            } else if !(input.is_empty() || input.peek(Token![,]) || input.peek(Token![;])) {
                // More after a whole option: most likely a missing comma (`ttl = "1h" sweep =
                // "5m"`).
                let error = input.error("expected `,`: options are separated by commas");
                args.errors.push(error);
                skip_option(input)?;
            }
            if input.is_empty() {
                break;
            }
            // `;` is taken as the comma it stands for, so the options after it are checked.
            if let Some(semicolon) = input.parse::<Option<Token![;]>>()? {
                args.errors.push(syn::Error::new(
                    semicolon.span,
                    "options are separated by commas: write `,` in place of `;`",
                ));
            } else {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// Skips the rest of a malformed option: up to the next `,` or `;` (which separate options; a
/// value's own are within its brackets) or the end.
fn skip_option(input: ParseStream<'_>) -> syn::Result<()> {
    while !(input.is_empty() || input.peek(Token![,]) || input.peek(Token![;])) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

impl Args {
    /// Parses one `name = value` (or `key: Type = expr`).
    fn option(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let name = input.call(Ident::parse_any)?;
        let option = name.to_string();
        if OPTIONS.contains(&option.as_str()) && option != "key" && !input.peek(Token![=]) {
            self.attempted.push(option.clone());
            return Err(syn::Error::new(
                name.span(),
                format!("`{option}` needs a value: write `{option} = ...`"),
            ));
        }
        match option.as_str() {
            "ttl" => self.set(&name, |a| &mut a.ttl, input.call(value)?),
            "sweep" => self.set(&name, |a| &mut a.sweep, input.call(value)?),
            "expiry" => self.set(&name, |a| &mut a.expiry, input.call(value)?),
            "max_lifetime" => self.set(&name, |a| &mut a.max_lifetime, input.call(value)?),
            "expire_after" => self.set(&name, |a| &mut a.expire_after, input.call(value)?),
            "refresh_after" => self.set(&name, |a| &mut a.refresh_after, input.call(value)?),
            "stale_if_error" => self.set(&name, |a| &mut a.stale_if_error, input.call(value)?),
            "capacity" => self.set(&name, |a| &mut a.capacity, input.call(value)?),
            "name" => self.set(&name, |a| &mut a.map_name, input.call(value)?),
            "clock" => self.set(&name, |a| &mut a.clock, input.call(value)?),
            "crate" => self.set(&name, |a| &mut a.krate, input.call(value)?),
            "shared" => {
                let tier = input.call(value)?;
                let option = SharedTier {
                    name: name.clone(),
                    tier,
                };
                self.set(&name, |a| &mut a.shared, option);
            }
            "cache" => {
                input.parse::<Token![=]>()?;
                if let Ok(text) = input.fork().parse::<LitStr>() {
                    return Err(syn::Error::new(
                        text.span(),
                        format!(
                            "`cache` takes an identifier, not a string: write \
                             `cache = {}`",
                            text.value()
                        ),
                    ));
                }
                let path = input.call(Path::parse_mod_style)?;
                if input.peek(syn::token::Paren) {
                    // `cache = clients()`: the handle is generated, not called here.
                    let call: TokenTree = input.parse()?;
                    let named = (path.segments.iter())
                        .map(|segment| segment.ident.to_string())
                        .collect::<Vec<_>>()
                        .join("::");
                    let named = match path.leading_colon {
                        Some(_) => format!("::{named}"),
                        None => named,
                    };
                    return Err(syn::Error::new(
                        call.span(),
                        format!(
                            "`cache` takes the handle's name: write `cache = {named}` (the \
                             attribute generates that function)"
                        ),
                    ));
                }
                self.set(&name, |a| &mut a.cache, path);
            }
            "key" => {
                if input.peek(Token![=]) {
                    // cached's `key = "String", convert = "{ .. }"`: the type is known.
                    let peer = input.fork();
                    peer.parse::<Token![=]>()?;
                    let message = match peer.parse::<LitStr>() {
                        Ok(ty) => format!(
                            "`key` needs the key's type and expression together: write \
                             `key: {} = expr` (cached's `key` and `convert` are one option \
                             here)",
                            ty.value()
                        ),
                        Err(_) => "`key` needs the key's type: write `key: Type = expr`, e.g. \
                                   `key: String = name.to_lowercase()`"
                            .to_owned(),
                    };
                    return Err(syn::Error::new(name.span(), message));
                }
                input.parse::<Token![:]>()?;
                let ty: Type = input.parse()?;
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new_spanned(
                        &ty,
                        format!(
                            "`key` needs the expression that makes it: write `key: {} = expr`",
                            ty.to_token_stream()
                        ),
                    ));
                }
                input.parse::<Token![=]>()?;
                let expr = input.call(received)?;
                self.set(&name, |a| &mut a.key, CustomKey { ty, expr });
            }
            _ => {
                if let Some(advice) =
                    peers::advice(&option, peer_value(input).as_ref(), self.time_refreshed)
                {
                    self.attempted.extend(advice.stands_for.map(str::to_owned));
                    return Err(syn::Error::new(
                        name.span(),
                        format!("unknown option `{option}`; {}", advice.message),
                    ));
                }
                let hint = match closest(&option) {
                    Some(known) => {
                        // A misspelt option is not also reported as missing.
                        self.attempted.push(known.to_owned());
                        format!("did you mean `{known}`? ")
                    }
                    None => String::new(),
                };
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "unknown option `{option}`; {hint}expected one of: {}",
                        OPTIONS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

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

/// Whether the options, not yet parsed, include `time_refresh = true`.
fn time_refreshed(input: ParseStream<'_>) -> bool {
    let tokens: Vec<TokenTree> = match input.fork().parse::<TokenStream>() {
        Ok(tokens) => tokens.into_iter().collect(),
        Err(_) => return false,
    };
    tokens.windows(3).any(|option| match option {
        [
            TokenTree::Ident(name),
            TokenTree::Punct(eq),
            TokenTree::Ident(value),
        ] => name == "time_refresh" && eq.as_char() == '=' && value == "true",
        _ => false,
    })
}

/// The value after a peer's option (`= value`, or memoize's `: value`), if it is an
/// expression; the input is not advanced (the option is skipped as malformed).
fn peer_value(input: ParseStream<'_>) -> Option<Expr> {
    let fork = input.fork();
    if fork.parse::<Token![=]>().is_err() {
        fork.parse::<Token![:]>().ok()?;
    }
    fork.parse().ok().map(ungroup)
}

fn value(input: ParseStream<'_>) -> syn::Result<Value> {
    input.parse::<Token![=]>()?;
    input.call(received)
}

/// An expression [`ungroup`]ed, with the tokens it was read from, as they came (less what
/// `ungroup` took off): every group whole, so that a fragment's invisible group within one is
/// still the one rustc made. (syn's printing should the tokens not be found so.)
fn received(input: ParseStream<'_>) -> syn::Result<Value> {
    let start = input.cursor();
    let mut expr: Expr = input.parse()?;
    let end = input.cursor();
    let mut trees = Vec::new();
    let mut cursor = start;
    while cursor < end
        && let Some((tree, next)) = cursor.token_tree()
    {
        trees.push(tree);
        cursor = next;
    }
    if cursor != end {
        let expr = ungroup(expr);
        let tokens = expr.to_token_stream();
        return Ok(Value { expr, tokens });
    }
    // `ungroup`, on the tokens too: the group around the whole value is taken off.
    let operands = tokens::Operands::of_expr(&expr);
    while let [TokenTree::Group(group)] = trees.as_slice() {
        let inner = match (&expr, group.delimiter()) {
            (Expr::Group(inner), Delimiter::None) => &inner.expr,
            (Expr::Paren(inner), Delimiter::Parenthesis) if inner.attrs.is_empty() => &inner.expr,
            _ => break,
        };
        expr = (**inner).clone();
        trees = group.stream().into_iter().collect();
    }
    let tokens = tokens::rejoin(trees, &operands);
    let expr = ungroup(expr);
    Ok(Value { expr, tokens })
}

/// `expr` without the invisible group a `macro_rules!` fragment (`$ttl:expr`, `$ttl:literal`)
/// arrives in, so that `"1h"` passed through a macro is still a literal; and without
/// parentheses around the whole value (`capacity = (1 << 10)`, `expire_after = (|k, v| ..)`),
/// which belong to the attribute's syntax: the expansion puts every value alone in a `let`
/// or an argument, where kept parentheses would be the user's `unused_parens` warning.
fn ungroup(expr: Expr) -> Expr {
    match expr {
        Expr::Group(group) => ungroup(*group.expr),
        Expr::Paren(paren) if paren.attrs.is_empty() => ungroup(*paren.expr),
        expr => expr,
    }
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

/// What peers (`cached`, moka, memoize) call some of the options.
const PEER_NAMES: &[(&str, &str)] = &[
    ("time", "ttl"),
    ("time_to_live", "ttl"),
    ("time_to_idle", "ttl"),
    ("timetolive", "ttl"),
    ("size", "capacity"),
    ("max_size", "capacity"),
    ("max_capacity", "capacity"),
    ("capacity_limit", "capacity"),
];

/// The known option `unknown` stands for: a peer's name for it, or one it is a plausible typo
/// of.
fn closest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.to_lowercase();
    if let Some((_, known)) = PEER_NAMES.iter().find(|(peer, _)| *peer == unknown) {
        return Some(known);
    }
    OPTIONS
        .iter()
        .map(|known| (distance(&unknown, known), *known))
        .filter(|(d, known)| *d <= 2.min(known.len() / 2).max(1))
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{Args, closest};
    use quote::quote;

    fn errors(args: proc_macro2::TokenStream) -> Vec<String> {
        let args: Args = syn::parse2(args).expect("every token is read");
        args.errors.iter().map(ToString::to_string).collect()
    }

    /// A mistake between options is reported with the others, not as syn's bare "unexpected
    /// token" in place of them all.
    #[test]
    fn a_wrong_separator_or_a_called_handle_is_reported_with_the_other_mistakes() {
        let found = errors(quote!(ttl = 1h; tll = "1h", cache = clients(), sweep = "5m" x));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("in place of `;`"), "{found:#?}");
        assert!(found[1].contains("unknown option `tll`"), "{found:#?}");
        assert!(found[2].contains("write `cache = clients`"), "{found:#?}");
        assert!(found[3].contains("separated by commas"), "{found:#?}");
    }

    #[test]
    fn typos_get_a_suggestion_and_strangers_do_not() {
        assert_eq!(closest("tll"), Some("ttl"));
        assert_eq!(closest("time"), Some("ttl"), "cached's name");
        assert_eq!(closest("max_size"), Some("capacity"), "cached's name");
        assert_eq!(closest("TTL"), Some("ttl"));
        assert_eq!(closest("nmae"), Some("name"));
        assert_eq!(closest("capcity"), Some("capacity"));
        assert_eq!(closest("cach"), Some("cache"));
        assert_eq!(closest("sweeep"), Some("sweep"));
        assert_eq!(closest("hasher"), None);
    }
}
