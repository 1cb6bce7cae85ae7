//! Ordinary user code shapes that must compile and run unchanged under `#[ttl_cached]`
//! (helper-42 and helper-43): one module per shape, each with its own `main`.

mod async_fn_in_trait {
    // Native `async fn` in a trait (Rust 1.75+): the implementation's associated `async fn`
    // memoized, called through the trait and through a generic function.
    use cache_core::ttl_cached;

    pub trait Directory {
        fn lookup(id: u32) -> impl std::future::Future<Output = String> + Send;
        async fn plain(id: u32) -> u32;
    }

    pub struct Ldap;

    impl Directory for Ldap {
        #[ttl_cached(ttl = "1h")]
        async fn lookup(id: u32) -> String {
            format!("user{id}")
        }

        #[ttl_cached(ttl = "1h")]
        async fn plain(id: u32) -> u32 {
            id + 1
        }
    }

    async fn via<D: Directory>(id: u32) -> String {
        D::lookup(id).await
    }

    pub fn main() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(via::<Ldap>(3)), "user3");
        assert_eq!(rt.block_on(Ldap::plain(3)), 4);
        fn is_send<T: Send>(_: &T) {}
        is_send(&Ldap::lookup(1));
    }
}

mod async_recursive {
    // Recursion through the cache: a sync one, and an async one through `Box::pin` (which the
    // function needs without the attribute too).
    use cache_core::ttl_cached;

    #[ttl_cached(ttl = "1h")]
    fn fib(n: u64) -> u64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }

    #[ttl_cached(ttl = "1h")]
    async fn fib_async(n: u64) -> u64 {
        if n < 2 {
            n
        } else {
            Box::pin(fib_async(n - 1)).await + Box::pin(fib_async(n - 2)).await
        }
    }

    pub fn main() {
        assert_eq!(fib(50), 12_586_269_025);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(fib_async(40)), 102_334_155);
    }
}

mod cfg_attr_conditional {
    // Conditional memoization and conditional ttl through `cfg_attr`, as a feature flag would.
    use cache_core::ttl_cached;

    #[cfg_attr(all(), ttl_cached(ttl = "1s", cache = short_cache))]
    #[cfg_attr(any(), ttl_cached(ttl = "1h", cache = short_cache))]
    fn short(key: u32) -> u32 {
        key
    }

    #[cfg_attr(any(), ttl_cached(ttl = "1h"))]
    fn not_cached(key: u32) -> u32 {
        key
    }

    pub fn main() {
        assert_eq!(short(1), 1);
        assert_eq!(short_cache().len(), 1);
        assert_eq!(not_cached(1), 1);
    }
}

mod const_block_and_closure {
    // A memoized fn inside a `const _` block, inside a closure's body, and in a block expression.
    use cache_core::ttl_cached;

    const _: () = {
        #[ttl_cached(ttl = "1h")]
        fn hidden(key: u32) -> u32 {
            key
        }
        let _ = hidden as fn(u32) -> u32;
    };

    pub fn main() {
        let compute = |x: u32| {
            #[ttl_cached(ttl = "1h")]
            fn inner(key: u32) -> u32 {
                key * 10
            }
            inner(x)
        };
        assert_eq!(compute(2), 20);
        let v = {
            #[ttl_cached(ttl = "1h")]
            fn block(key: &str) -> usize {
                key.len()
            }
            block("abc")
        };
        assert_eq!(v, 3);
    }
}

mod fn_pointer_of_user_type {
    // A key that is a fn pointer over a user type named with one letter (a real type).
    use cache_core::ttl_cached;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct X(u32);

    fn double(x: X) -> u32 {
        x.0 * 2
    }

    #[ttl_cached(ttl = "1h")]
    fn apply(f: fn(X) -> u32, x: u32) -> u32 {
        f(X(x))
    }

    pub fn main() {
        assert_eq!(apply(double, 2), 4);
    }
}

mod inner_attribute {
    // An inner attribute in the body (`#![allow(..)]`) is ordinary Rust; it must stay in the body.
    use cache_core::ttl_cached;

    #[ttl_cached(ttl = "1h")]
    fn lenient(key: u32) -> u32 {
        #![allow(unused_variables)]
        let unused = 5;
        key + 1
    }

    pub fn main() {
        assert_eq!(lenient(1), 2);
    }
}

mod instrument_stacked {
    // `#[tracing::instrument]` stacked above and below the attribute, sync and async.
    use cache_core::ttl_cached;

    #[tracing::instrument]
    #[ttl_cached(ttl = "1h")]
    fn above(key: u32) -> u32 {
        key + 1
    }

    #[ttl_cached(ttl = "1h")]
    #[tracing::instrument]
    fn below(key: u32) -> u32 {
        key + 2
    }

    #[tracing::instrument(skip(key), err)]
    #[ttl_cached(ttl = "1h")]
    async fn above_async(key: &str) -> Result<usize, String> {
        Ok(key.len())
    }

    #[ttl_cached(ttl = "1h")]
    #[tracing::instrument(level = "debug", ret)]
    async fn below_async(key: &str) -> usize {
        key.len()
    }

    pub fn main() {
        assert_eq!(above(1), 2);
        assert_eq!(below(1), 3);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(above_async("ab")), Ok(2));
        assert_eq!(rt.block_on(below_async("ab")), 2);
    }
}

mod macro_block_fragment {
    // The body passed as a `$body:block` fragment, the name as `$name:ident`, visibility `$vis:vis`.
    use cache_core::ttl_cached;

    macro_rules! memo {
        ($vis:vis fn $name:ident($arg:ident: $t:ty) -> $out:ty $body:block) => {
            #[ttl_cached(ttl = "1h")]
            $vis fn $name($arg: $t) -> $out $body
        };
    }

    memo!(pub fn upper(x: &str) -> String { x.to_uppercase() });
    memo!(fn triple(x: u32) -> u32 { x * 3 });

    pub fn main() {
        assert_eq!(upper("a"), "A");
        assert_eq!(triple(2), 6);
    }
}

mod macro_pat_fragment {
    // A parameter written through a `$arg:pat` fragment (a plain identifier) in a `macro_rules!`.
    use cache_core::ttl_cached;

    macro_rules! memo {
        ($name:ident($arg:pat, $t:ty) -> $out:ty $body:block) => {
            #[ttl_cached(ttl = "1h")]
            fn $name($arg: $t) -> $out $body
        };
    }

    memo!(double(x, u32) -> u32 { x * 2 });

    pub fn main() {
        assert_eq!(double(2), 4);
    }
}

mod module_const_array_len {
    // A module-level const named `N` (a real const, not a parameter) as an array length.
    use cache_core::ttl_cached;

    const N: usize = 4;

    #[ttl_cached(ttl = "1h")]
    fn fill(x: u8) -> [u8; N] {
        [x; N]
    }

    #[ttl_cached(ttl = "1h")]
    fn sum(bytes: [u8; N]) -> u32 {
        bytes.iter().map(|&b| u32::from(b)).sum()
    }

    pub fn main() {
        assert_eq!(fill(1), [1; 4]);
        assert_eq!(sum([1; 4]), 4);
    }
}

mod param_and_return_shapes {
    // Parameter and return shapes of ordinary code.
    use std::borrow::Cow;
    use std::path::Path;
    use std::sync::Arc;

    use cache_core::ttl_cached;

    fn inc(x: u32) -> u32 {
        x + 1
    }

    #[ttl_cached(ttl = "1h")]
    fn shapes(
        f: fn(u32) -> u32,
        t: (u8, &'static str),
        arr: [u8; 4],
        a: &[u8; 4],
        o: Option<&[u8]>,
        p: &Path,
        bx: Box<str>,
        cow: Cow<'static, str>,
        bytes: &Vec<u8>,
        ch: char,
        s: &'static str,
        unit: (),
    ) -> (u32, String) {
        let _ = unit;
        (f(1), format!("{t:?}{arr:?}{a:?}{o:?}{p:?}{bx}{cow}{bytes:?}{ch}{s}"))
    }

    #[ttl_cached(ttl = "1h")]
    fn boxed(key: u8) -> Box<str> {
        key.to_string().into_boxed_str()
    }

    #[ttl_cached(ttl = "1h")]
    fn shared_slice(key: u8) -> Arc<[u8]> {
        Arc::from(vec![key])
    }

    #[ttl_cached(ttl = "1h")]
    fn array(key: u8) -> [String; 2] {
        [key.to_string(), String::new()]
    }

    #[ttl_cached(ttl = "1h")]
    fn hooks(key: u8) -> Vec<Arc<dyn Fn() -> u8 + Send + Sync>> {
        vec![Arc::new(move || key)]
    }

    #[derive(Debug, Clone)]
    struct AppError(String);

    impl From<std::num::ParseIntError> for AppError {
        fn from(e: std::num::ParseIntError) -> Self {
            AppError(e.to_string())
        }
    }

    #[ttl_cached(ttl = "1h")]
    fn parse(text: &str) -> Result<u32, AppError> {
        let n: u32 = text.parse()?;
        Ok(n)
    }

    #[ttl_cached(ttl = "1h")]
    async fn parse_async(text: &str, base: Option<&str>) -> Result<u32, AppError>
    where
        u32: Copy,
    {
        let _ = base;
        Ok(text.parse::<u32>()?)
    }

    pub fn main() {
        let v = vec![1];
        let r = shapes(
            inc,
            (1, "x"),
            [1; 4],
            &[2; 4],
            Some(&[3]),
            Path::new("p"),
            "b".into(),
            Cow::Borrowed("c"),
            &v,
            'z',
            "s",
            (),
        );
        assert_eq!(r.0, 2);
        assert_eq!(&*boxed(1), "1");
        assert_eq!(&*shared_slice(1), &[1]);
        assert_eq!(array(1)[0], "1");
        assert_eq!((hooks(4)[0])(), 4);
        assert_eq!(parse("12").unwrap(), 12);
        assert!(parse("x").is_err());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let fut = parse_async("3", None);
        fn is_send<T: Send>(_: &T) {}
        is_send(&fut);
        assert_eq!(rt.block_on(fut).unwrap(), 3);
    }
}

mod raw_handle_name {
    // A raw identifier as the handle's name (`cache = r#ref`, for a function `r#type`) is a
    // snake_case identifier like any other.
    use cache_core::ttl_cached;

    #[ttl_cached(ttl = "1h", cache = r#ref)]
    pub fn r#type(key: u32) -> u32 {
        key
    }

    pub fn main() {
        assert_eq!(r#type(1), 1);
        assert_eq!(r#ref().len(), 1);
    }
}

mod raw_identifiers {
    // Raw identifiers for the function, its parameters and the handle.
    use cache_core::ttl_cached;

    #[ttl_cached(ttl = "1h")]
    pub fn r#type(r#match: &str, r#ref: u32) -> String {
        format!("{match}{ref}", match = r#match, ref = r#ref)
    }

    pub fn main() {
        assert_eq!(r#type("a", 1), "a1");

    }
}

mod trait_impl_assoc {
    // A trait's associated function (no `self`) implemented with the attribute, for two types,
    // and a blanket impl over a type parameter.
    use cache_core::ttl_cached;

    pub trait Named {
        const NAME: &'static str;
        fn describe(id: u32) -> String;
    }

    pub struct A;
    pub struct B;

    impl Named for A {
        const NAME: &'static str = "a";
        #[ttl_cached(ttl = "1h")]
        fn describe(id: u32) -> String {
            format!("{}{id}", Self::NAME)
        }
    }

    impl Named for B {
        const NAME: &'static str = "b";
        #[ttl_cached(ttl = "1h")]
        fn describe(id: u32) -> String {
            format!("{}{id}", Self::NAME)
        }
    }

    pub trait Shout {
        fn shout(id: u32) -> String;
    }

    impl<T: Named> Shout for T {
        #[ttl_cached(ttl = "1h")]
        fn shout(id: u32) -> String {
            format!("{}{id}!", T::NAME)
        }
    }

    pub fn main() {
        assert_eq!(A::describe(1), "a1");
        assert_eq!(B::describe(1), "b1");
        assert_eq!(<A as Shout>::shout(1), "a1!");
        assert_eq!(<B as Shout>::shout(1), "b1!");
    }
}

mod user_type_named_path {
    // A type of the user's named `Path`, taken by reference: keyed by its own `ToOwned::Owned`
    // (itself), not by `std::path::PathBuf`.
    use cache_core::ttl_cached;

    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Path(String);

    #[ttl_cached(ttl = "1h")]
    fn route(path: &Path) -> usize {
        path.0.len()
    }

    pub fn main() {
        assert_eq!(route(&Path("/a".into())), 2);
    }
}

fn main() {
    async_fn_in_trait::main();
    async_recursive::main();
    cfg_attr_conditional::main();
    const_block_and_closure::main();
    fn_pointer_of_user_type::main();
    inner_attribute::main();
    instrument_stacked::main();
    macro_block_fragment::main();
    macro_pat_fragment::main();
    module_const_array_len::main();
    param_and_return_shapes::main();
    raw_handle_name::main();
    raw_identifiers::main();
    trait_impl_assoc::main();
    user_type_named_path::main();
}
