//! The user's tokens, emitted as they came.
//!
//! A `macro_rules!` fragment (`$e:expr`) reaches the attribute in an invisible group, which
//! rustc reads as one operand: `k + $e * 2` with `$e` = `1 + 1` is `k + 4`. An invisible group
//! a proc macro makes, syn's printing of the parsed syntax included, rustc reads as if it
//! were not there (`k + 1 + 1 * 2`, `k + 3`). So the body, the key's expression and the
//! options' values are emitted as the tokens that came, each group whole: a group kept whole
//! keeps what it holds as it came. Only the top level of a stream taken apart (the body
//! without its inner attributes, a value out of the attribute's arguments) comes back as new
//! tokens: an invisible group there that syn read as an expression goes into parentheses,
//! which rustc reads alike.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// The invisible groups that syn read as an expression in a syntax tree, by their span.
#[derive(Default)]
pub(crate) struct Operands(Vec<String>);

impl Operands {
    pub(crate) fn of_block(block: &syn::Block) -> Self {
        let mut operands = Operands::default();
        operands.visit_block(block);
        operands
    }

    pub(crate) fn of_expr(expr: &syn::Expr) -> Self {
        let mut operands = Operands::default();
        operands.visit_expr(expr);
        operands
    }

    fn contains(&self, group: &Group) -> bool {
        self.0.contains(&key(group.span()))
    }
}

impl<'ast> Visit<'ast> for Operands {
    fn visit_expr_group(&mut self, group: &'ast syn::ExprGroup) {
        self.0.push(key(group.group_token.span));
        visit::visit_expr_group(self, group);
    }
}

/// A span's identity: its location and hygiene, as rustc's `Debug` writes them
/// (proc-macro2 compares spans only with its semver-exempt API). Two groups at one place are
/// one fragment, of one kind.
fn key(span: Span) -> String {
    format!("{span:?}")
}

/// `trees`, the top level of a stream taken apart, as one stream again: groups whole, and an
/// invisible group that is one of `operands` in parentheses (spanned like it).
pub(crate) fn rejoin(
    trees: impl IntoIterator<Item = TokenTree>,
    operands: &Operands,
) -> TokenStream {
    trees
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group)
                if group.delimiter() == Delimiter::None && operands.contains(&group) =>
            {
                let mut parenthesized = Group::new(Delimiter::Parenthesis, group.stream());
                parenthesized.set_span(group.span());
                TokenTree::Group(parenthesized)
            }
            tree => tree,
        })
        .collect()
}
