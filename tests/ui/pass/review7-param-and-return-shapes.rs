//! Parameter and return shapes of ordinary code.
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

fn main() {
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
