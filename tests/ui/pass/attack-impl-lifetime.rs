//! An `impl<'a>` block: associated functions (no `self`) that do not use `'a`.
use cache_core::ttl_cached;

pub struct Parser<'a>(&'a str);

impl<'a> Parser<'a> {
    #[ttl_cached(ttl = "1h")]
    pub fn width(key: u32) -> u32 {
        key * 2
    }

    #[ttl_cached(ttl = "1h")]
    pub fn upper(text: &'a str) -> String {
        text.to_uppercase()
    }
}

fn main() {
    let _ = Parser("x").0;
    assert_eq!(Parser::width(2), 4);
    assert_eq!(Parser::upper("ab"), "AB");
}
