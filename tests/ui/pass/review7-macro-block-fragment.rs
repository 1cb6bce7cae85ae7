//! The body passed as a `$body:block` fragment, the name as `$name:ident`, visibility `$vis:vis`.
use cache_core::ttl_cached;

macro_rules! memo {
    ($vis:vis fn $name:ident($arg:ident: $t:ty) -> $out:ty $body:block) => {
        #[ttl_cached(ttl = "1h")]
        $vis fn $name($arg: $t) -> $out $body
    };
}

memo!(pub fn upper(x: &str) -> String { x.to_uppercase() });
memo!(fn triple(x: u32) -> u32 { x * 3 });

fn main() {
    assert_eq!(upper("a"), "A");
    assert_eq!(triple(2), 6);
}
