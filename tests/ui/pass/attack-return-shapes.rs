//! Owned return types of many shapes.
use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn unit_explicit(key: u32) -> () {
    let _ = key;
}

#[ttl_cached(ttl = "1h")]
fn ok_unit(key: u32) -> Result<(), String> {
    if key == 0 { Err("zero".into()) } else { Ok(()) }
}

/// The error is neither `Clone` nor `Send + Sync`: it is never stored nor shared.
#[ttl_cached(ttl = "1h")]
fn boxed_error(key: &str) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(key.parse::<u32>()?)
}

#[ttl_cached(ttl = "1h")]
fn static_cow(key: u32) -> Cow<'static, str> {
    if key == 0 { Cow::Borrowed("zero") } else { Cow::Owned(key.to_string()) }
}

#[ttl_cached(ttl = "1h")]
fn boxed_str(key: u32) -> Box<str> {
    key.to_string().into_boxed_str()
}

#[ttl_cached(ttl = "1h")]
fn any(key: u32) -> Arc<dyn Any + Send + Sync> {
    Arc::new(key)
}

#[ttl_cached(ttl = "1h")]
fn pointer(key: u32) -> fn(u32) -> u32 {
    if key == 0 { |x| x } else { |x| x + 1 }
}

#[ttl_cached(ttl = "1h")]
fn nested(key: u32) -> Option<Option<u32>> {
    (key > 0).then_some((key > 1).then_some(key))
}

#[ttl_cached(ttl = "1h")]
fn array(key: u8) -> ([u8; 4], (String, char)) {
    ([key; 4], (key.to_string(), 'x'))
}

fn main() {
    unit_explicit(1);
    assert!(ok_unit(0).is_err());
    assert!(ok_unit(1).is_ok());
    assert_eq!(boxed_error("7").unwrap(), 7);
    assert!(boxed_error("x").is_err());
    assert_eq!(static_cow(0), "zero");
    assert_eq!(&*boxed_str(5), "5");
    assert_eq!(any(3).downcast_ref::<u32>(), Some(&3));
    assert_eq!(pointer(1)(1), 2);
    assert_eq!(nested(2), Some(Some(2)));
    assert_eq!(array(1).0, [1; 4]);
}
