// The standard library's borrowed forms written with their paths are keyed by their owned
// forms, like the bare names.
use cache_core::ttl_cached;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[ttl_cached(ttl = "1h")]
fn size(path: &std::path::Path, name: &core::primitive::str, raw: &std::ffi::OsStr) -> usize {
    RUNS.fetch_add(1, Relaxed);
    path.as_os_str().len() + name.len() + raw.len()
}

fn main() {
    let path = std::path::Path::new("/tmp");
    let raw = std::ffi::OsStr::new("ab");
    assert_eq!(size(path, "x", raw), 7);
    assert_eq!(size(path, "x", raw), 7);
    assert_eq!(RUNS.load(Relaxed), 1);
}
