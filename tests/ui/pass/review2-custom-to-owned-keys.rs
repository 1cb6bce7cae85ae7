// Borrowed arguments whose type has its own `ToOwned` (camino's `Utf8Path`, bstr's `BStr`,
// relative-path's `RelativePath` are such unsized types; a sized type that is not `Clone` may
// have one too): keyed by that `ToOwned::Owned`, as before 66ef80d, which keys `&T` by
// `<T as KeyOwned>::Owned` and so knows only the standard library's borrowed forms.
#![allow(unsafe_code)]
use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use cache_core::ttl_cached;

/// An unsized string newtype, like `camino::Utf8Path`.
#[derive(PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Name(str);

impl Name {
    pub fn new(s: &str) -> &Name {
        // SAFETY: `Name` is a transparent wrapper of `str`.
        unsafe { &*(s as *const str as *const Name) }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NameBuf(String);

impl Borrow<Name> for NameBuf {
    fn borrow(&self) -> &Name {
        Name::new(&self.0)
    }
}

impl ToOwned for Name {
    type Owned = NameBuf;
    fn to_owned(&self) -> NameBuf {
        NameBuf(self.0.to_owned())
    }
}

/// A sized type that is not `Clone`, whose owned form shares it.
#[derive(PartialEq, Eq, Hash)]
pub struct Config {
    pub host: String,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SharedConfig(Arc<Config>);

impl Borrow<Config> for SharedConfig {
    fn borrow(&self) -> &Config {
        &self.0
    }
}

impl ToOwned for Config {
    type Owned = SharedConfig;
    fn to_owned(&self) -> SharedConfig {
        SharedConfig(Arc::new(Config {
            host: self.host.clone(),
        }))
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[ttl_cached(ttl = "1h")]
fn greet(name: &Name) -> usize {
    RUNS.fetch_add(1, Relaxed);
    name.0.len()
}

#[ttl_cached(ttl = "1h")]
fn connect(config: &Config, name: Option<&Name>) -> usize {
    RUNS.fetch_add(1, Relaxed);
    config.host.len() + name.map_or(0, |n| n.0.len())
}

fn main() {
    assert_eq!(greet(Name::new("ab")), 2);
    assert_eq!(greet(Name::new("ab")), 2);
    let config = Config { host: "h".into() };
    assert_eq!(connect(&config, Some(Name::new("x"))), 2);
    assert_eq!(connect(&config, Some(Name::new("x"))), 2);
    assert_eq!(RUNS.load(Relaxed), 2);
}
