use cache_core::ttl_cached;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Parsed<'a>(&'a str);

#[ttl_cached(ttl = "1h")]
fn parse(text: &str) -> Parsed {
    Parsed(text)
}

fn main() {}
