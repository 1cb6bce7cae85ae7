//! `$t:ty` parameters reach the attribute as invisible groups: `&str` and `Option<&str>` must
//! still key by `String` and `Option<String>` (both compile without the attribute).
use cache_core::ttl_cached;

macro_rules! cached {
    ($name:ident, $t:ty, $out:ty, $body:expr) => {
        #[ttl_cached(ttl = "1h")]
        fn $name(key: $t) -> $out {
            // A closure passed as `$body:expr` is called through a binding: rustc loses the
            // fragment's invisible group when a proc macro re-emits the body (rust#67062).
            let body = $body;
            body(key)
        }
    };
}

cached!(len_str, &str, usize, |k: &str| k.len());
cached!(len_opt, Option<&str>, Option<usize>, |k: Option<&str>| k.map(str::len));

fn main() {
    assert_eq!(len_str("ab"), 2);
    assert_eq!(len_opt(Some("ab")), Some(2));
}
