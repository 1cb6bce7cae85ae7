//! The `#[ttl_cached]` attribute. Use it through `cache_core::ttl_cached`, whose
//! documentation describes the options.
//!
//! The pipeline follows thiserror's: parse the options (`args`), model the function (`ast`),
//! check both and collect every error (`valid`), then generate (`expand`, which cannot fail).

#![warn(unreachable_pub)]

mod args;
mod ast;
mod expand;
#[cfg(test)]
mod fuzz_tests;
mod lints;
mod peers;
mod tokens;
mod types;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

/// Memoizes a function with a TTL, keeping its signature. Use it as `cache_core::ttl_cached`,
/// whose documentation lists the options; the generated code needs `cache-core`.
///
/// # Facade crates and renamed dependencies
///
/// The generated code names the runtime `::cache_core`. Where the crate is reached another
/// way (a facade that does `pub use cache_core;`, or a dependency renamed in `Cargo.toml`),
/// say so with `crate = "..."`, or the expansion fails with "could not find `cache_core`":
///
/// ```text
/// #[my_facade::ttl_cached(ttl = "1h", crate = "::my_facade::cache_core")]
/// fn lookup(key: &str) -> String { key.to_uppercase() }
/// ```
#[proc_macro_attribute]
pub fn ttl_cached(args: TokenStream, input: TokenStream) -> TokenStream {
    let input = TokenStream2::from(input);
    match try_expand(args.into(), input.clone()) {
        Ok(output) => output.into(),
        // The function is still emitted, as written, so one mistake does not also break
        // every caller.
        Err(error) => {
            let mut output = input;
            output.extend(compile_errors(error));
            output.into()
        }
    }
}

/// syn's `::core::compile_error!(..)` for each message, as `::std::compile_error!(..)`: syn
/// writes the path with the user's spans, and in an edition 2015 crate `::core` is then the
/// crate root's `core`, which is not there (`std` is), so every message became "cannot find
/// `core` in the crate root". The generated code needs `std` anyway.
fn compile_errors(error: syn::Error) -> TokenStream2 {
    (error.into_compile_error().into_iter())
        .map(|token| match token {
            proc_macro2::TokenTree::Ident(ident) if ident == "core" => {
                proc_macro2::Ident::new("std", ident.span()).into()
            }
            token => token,
        })
        .collect()
}

fn try_expand(args: TokenStream2, input: TokenStream2) -> syn::Result<TokenStream2> {
    let item: syn::ItemFn =
        syn::parse2(input.clone()).map_err(|_| not_a_function(input.clone()))?;
    let args: args::Args = syn::parse2(args)?;
    let sig = ast::ungrouped(&item.sig);
    let function = ast::Function::from_syn(&item, &input, &sig);
    let options = valid::validate(&args, &function)?;
    Ok(expand::expand(&function, &options))
}

/// The error for an item that is not a function with a body.
fn not_a_function(input: TokenStream2) -> syn::Error {
    // A declaration (a trait method's, or an `extern` block's): a function with no body to run.
    let declared = matches!(input.clone().into_iter().last(),
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ';');
    let head: TokenStream2 = input.into_iter().take(3).collect();
    if declared {
        return syn::Error::new_spanned(
            head,
            "`#[ttl_cached]` needs the function's body: put it on a function that has one (a \
             trait method's default body, the method in each `impl`, or a Rust function that \
             calls the foreign one)",
        );
    }
    syn::Error::new_spanned(
        head,
        "`#[ttl_cached]` goes on a function (`fn` or `async fn`) whose result to memoize",
    )
}

#[cfg(test)]
mod tests {
    use super::try_expand;
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The README's "What the macro generates" shows the seed's function expanded; this keeps
    /// it true.
    #[test]
    fn readme_shows_the_true_expansion() {
        // `README.md` beside this crate's manifest links to the workspace's, and `cargo
        // package` copies it in: the check runs in the packaged crate too.
        let readme = include_str!("../README.md");
        let block = readme
            .split("<!-- expansion:begin -->\n```rust\n")
            .nth(1)
            .and_then(|rest| rest.split("```\n<!-- expansion:end -->").next())
            .expect("README has the expansion block");
        let shown: TokenStream = block.parse().expect("the block is Rust tokens");
        let expanded = try_expand(
            quote!(ttl = "1h", sweep = "5m"),
            quote! {
                pub fn get_or_create_openai_client(api_key: &str) -> Client<OpenAIConfig> {
                    Client::with_config(OpenAIConfig::new().with_api_key(api_key))
                }
            },
        )
        .unwrap();
        // Token for token; spacing is the formatter's business.
        let squeeze = |tokens: TokenStream| tokens.to_string().replace(char::is_whitespace, "");
        assert_eq!(squeeze(shown), squeeze(expanded));
    }

    /// In an `impl` or a trait the handle's documentation links `Self::f`: a bare `f` is no
    /// intra-doc link there, and rustdoc emitted it as the dead relative URL `f`.
    #[test]
    fn an_associated_handle_links_its_function_through_self() {
        let doc = |cache: TokenStream| {
            let expanded = try_expand(
                quote!(ttl = "1h", cache = #cache),
                quote!(
                    pub fn lookup(key: u32) -> u32 {
                        key
                    }
                ),
            )
            .unwrap()
            .to_string();
            expanded[..expanded.find("pub fn lookup").unwrap()].to_owned()
        };
        assert!(doc(quote!(Self::lookups)).contains("[`lookup`](Self::lookup)"));
        assert!(doc(quote!(lookups)).contains("[`lookup`](lookup)"));
    }

    /// A raw-named function's map is named by its path as `type_name` writes it:
    /// `module::match`, not `module::r#match`.
    #[test]
    fn a_raw_named_function_names_its_map_without_the_prefix() {
        let expanded = try_expand(
            quote!(ttl = "1h"),
            quote!(
                pub fn r#match(key: u32) -> u32 {
                    key
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(expanded.contains("stringify ! (match)"), "{expanded}");
        assert!(!expanded.contains("stringify ! (r#match)"), "{expanded}");
    }

    /// The handle of a hidden or deprecated function is hidden or deprecated with it, and
    /// its keys are named as rustdoc readers know them.
    #[test]
    fn the_handle_keeps_hidden_and_deprecated_and_names_owned_keys() {
        let expanded = try_expand(
            quote!(ttl = "1h", cache = paths),
            quote! {
                #[doc(hidden)]
                #[deprecated(note = "old")]
                pub fn f(a: &str, b: &[u8], c: &Path) -> u8 { 1 }
            },
        )
        .unwrap();
        let handle = expanded.to_string();
        let handle = &handle[..handle.find("pub fn f").unwrap()];
        assert!(handle.contains("# [doc (hidden)]"), "{handle}");
        assert!(
            handle.contains("# [deprecated (note = \"old\")]"),
            "{handle}"
        );
        assert!(
            handle.contains(
                "(:: std :: string :: String , :: std :: vec :: Vec < u8 > , :: std :: path :: PathBuf ,)"
            ),
            "{handle}"
        );
    }
}
