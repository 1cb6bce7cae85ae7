//! What to write instead of another memoization crate's option: code ported from `cached`
//! (`#[cached]`, `#[once]`, `#[io_cached]`) or `memoize` keeps its attribute's options, and
//! "unknown option" alone does not say that `result = true` is implied, or that cached's
//! `time` counts from the store while our `ttl` slides.

use syn::Expr;

use crate::args;

/// The advice for a peer's option, and the option of ours it stands for (which is then not
/// also reported as missing).
pub(crate) struct Advice {
    pub(crate) message: String,
    pub(crate) stands_for: Option<&'static str>,
}

/// Advice for `option` (as written, with `value` if it has one), if it is a peer's;
/// `refreshed`: the attribute also says cached's `time_refresh = true`.
pub(crate) fn advice(option: &str, value: Option<&Expr>, refreshed: bool) -> Option<Advice> {
    let (message, stands_for) = match option.to_lowercase().as_str() {
        // cached's `time` with `time_refresh` restarts at every hit: our default.
        "time" if refreshed => (
            format!(
                "write `{}`: with `time_refresh = true`, `time` restarts at every hit, as \
                 `ttl` does with the default sliding expiry",
                ttl(value)
            ),
            Some("ttl"),
        ),
        // cached's `time` and memoize's `SecondsToLive`/`TimeToLive` count from the store.
        "time" | "secondstolive" | "timetolive" => (fixed_ttl(option, value), Some("ttl")),
        "result" | "option" => (
            "not needed: a function returning `Result` (or `Option`) caches only its `Ok` \
             (or `Some`) values, decided by the return type; remove it"
                .to_owned(),
            None,
        ),
        "sync_writes" => (
            "not needed: concurrent first calls for one key always run the body once, the \
             others wait for its value; remove it"
                .to_owned(),
            None,
        ),
        "sharedcache" => (
            "not needed: one cache serves every thread; remove it".to_owned(),
            None,
        ),
        "time_refresh" => (
            "not needed: `expiry = \"sliding\"`, the default, extends an entry's life at every \
             hit; remove it"
                .to_owned(),
            None,
        ),
        "convert" => (
            format!(
                "the key's type and the expression that makes it are one option here: write \
                 `key: Type = {}`",
                value.map_or_else(|| "expr".to_owned(), shown_expr)
            ),
            Some("key"),
        ),
        "ignore" => (
            "to leave arguments out of the key, give the key over the others: \
             `key: Type = expr`, e.g. `key: (String, u32) = (name.clone(), id)`"
                .to_owned(),
            Some("key"),
        ),
        "with_cached_flag" => (
            "no equivalent: the function keeps its return type; read hits and misses from \
             `cache = name` (`name().stats()`)"
                .to_owned(),
            None,
        ),
        "in_impl" => (
            "not needed in an `impl` block, where associated functions (no `self`) can be \
             cached as they are"
                .to_owned(),
            None,
        ),
        // `#[cached]`'s own store type, and the expression that builds it.
        "ty" | "type" | "create" => (store(value), Some("capacity")),
        "disk" | "redis" | "map_error" | "cache_prefix_block" => (
            "`#[io_cached]`'s stores have no equivalent: values live in this process, and \
             `shared = tier` (feature `redis`, `async fn` only) also keeps them in Redis; \
             remove it"
                .to_owned(),
            None,
        ),
        _ => return None,
    };
    Some(Advice {
        message,
        stands_for,
    })
}

/// `time = 30` is `ttl = "30s", expiry = "fixed"`: cached's and memoize's entries expire that
/// long after they were stored, however often they are read, and ours slide by default.
fn fixed_ttl(option: &str, value: Option<&Expr>) -> String {
    format!(
        "write `{}, expiry = \"fixed\"`: `{option}` counts from when the value was stored, \
         and a `ttl` alone slides (every hit extends the entry, so a value read more often \
         than its ttl is never rebuilt)",
        ttl(value)
    )
}

/// Our `ttl` for a peer's time `value`: seconds (`30`, `"30"`) as a duration literal, any
/// other expression (memoize's `Duration::from_secs(2)`) as it is, which `ttl` accepts too.
fn ttl(value: Option<&Expr>) -> String {
    let Some(value) = value else {
        return "ttl = \"...\"".to_owned();
    };
    let seconds = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(n),
            ..
        }) => Some(n.base10_digits().to_owned()),
        _ => args::lit_str(value)
            .map(|s| s.value())
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
    };
    match seconds {
        Some(n) => format!("ttl = \"{n}s\""),
        None if args::lit_str(value).is_none() => format!("ttl = {}", code(value)),
        None => "ttl = \"...\"".to_owned(),
    }
}

/// cached's store (`ty = "SizedCache<K, V>"`, `create = "{ SizedCache::with_size(100) }"`):
/// the store is built in, and its size is `capacity`.
fn store(value: Option<&Expr>) -> String {
    let text = value
        .and_then(args::lit_str)
        .map(|s| s.value())
        .unwrap_or_default();
    let size = text.split_once("with_size(").and_then(|(_, rest)| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty() && rest[digits.len()..].starts_with(')')).then_some(digits)
    });
    match size {
        Some(n) => format!(
            "the store is built in: write `capacity = {n}` for `SizedCache::with_size({n})`; \
             remove it"
        ),
        None => "the store is built in: a `SizedCache` is `capacity = n`, a `TimedCache` \
                 `ttl = \"...\", expiry = \"fixed\"`, a `TimedSizedCache` both; remove it"
            .to_owned(),
    }
}

/// An expression as code, without the spaces tokens print with (`Duration::from_secs(2)`).
fn code(value: &Expr) -> String {
    let text = quote::ToTokens::to_token_stream(value).to_string();
    let mut shown = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = shown.chars().last();
        let glued = c == ' '
            && (matches!(next, Some(':' | '(' | ')' | '.' | ',' | '>' | '<'))
                || matches!(last, Some(':' | '(' | '.' | '<' | '&')));
        if !glued {
            shown.push(c);
        }
    }
    shown
}

/// The expression a peer wrote as a string (`convert = r#"{ id.to_string() }"#`), as code.
fn shown_expr(value: &Expr) -> String {
    let text = match args::lit_str(value) {
        Some(s) => s.value(),
        None => quote::ToTokens::to_token_stream(value).to_string(),
    };
    let text = text.trim();
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .map(str::trim);
    match inner {
        // `{ a; b }` stays a block; `{ expr }` is the expression.
        Some(inner) if !inner.contains(';') && !inner.is_empty() => inner.to_owned(),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::advice;

    fn message(option: &str, value: &str) -> String {
        let value: syn::Expr = syn::parse_str(value).expect("an expression");
        advice(option, Some(&value), false)
            .expect("a peer's option")
            .message
    }

    #[test]
    fn time_is_a_fixed_ttl_with_its_value() {
        assert!(message("time", "30").starts_with("write `ttl = \"30s\", expiry = \"fixed\"`"));
        assert!(message("time", "\"60\"").starts_with("write `ttl = \"60s\""));
        assert!(message("SecondsToLive", "1").contains("`SecondsToLive` counts from"));
        assert!(
            message("TimeToLive", "Duration::from_secs(2)")
                .starts_with("write `ttl = Duration::from_secs(2), expiry = \"fixed\"`")
        );
        assert_eq!(advice("time", None, false).unwrap().stands_for, Some("ttl"));
        let value: syn::Expr = syn::parse_str("60").expect("an expression");
        let refreshed = advice("time", Some(&value), true).expect("a peer's option");
        assert!(
            refreshed
                .message
                .starts_with("write `ttl = \"60s\"`: with `time_refresh")
        );
    }

    #[test]
    fn convert_shows_its_expression_as_code() {
        let expected = "write `key: Type = obj_id.to_string()`";
        assert!(message("convert", "r##\"{ obj_id.to_string() }\"##").ends_with(expected));
        assert!(message("convert", "\"{hash}\"").ends_with("`key: Type = hash`"));
        let block = message("convert", "r#\"{ let k = id; k }\"#");
        assert!(
            block.ends_with("`key: Type = { let k = id; k }`"),
            "{block}"
        );
    }

    #[test]
    fn our_own_names_and_strangers_get_no_advice() {
        for option in ["ttl", "capacity", "key", "hasher", "name"] {
            assert!(advice(option, None, false).is_none(), "{option}");
        }
    }
}
