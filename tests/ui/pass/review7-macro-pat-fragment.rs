//! A parameter written through a `$arg:pat` fragment (a plain identifier) in a `macro_rules!`.
use cache_core::ttl_cached;

macro_rules! memo {
    ($name:ident($arg:pat, $t:ty) -> $out:ty $body:block) => {
        #[ttl_cached(ttl = "1h")]
        fn $name($arg: $t) -> $out $body
    };
}

memo!(double(x, u32) -> u32 { x * 2 });

fn main() {
    assert_eq!(double(2), 4);
}
