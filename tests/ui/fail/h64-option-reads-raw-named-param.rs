//! An option that reads a raw-named parameter (`r#type`) in a macro's tokens: reported at the
//! parameter's use, like any other (the attribute panicked on the raw name).
use cache_core::ttl_cached;

#[allow(unused_macros)]
macro_rules! label {
    (=> $name:expr) => {
        "lookup"
    };
}

#[ttl_cached(ttl = "1h", name = label!(=> r#type))]
fn lookup(r#type: &str) -> usize {
    r#type.len()
}

fn main() {
    let _ = lookup("a");
}
