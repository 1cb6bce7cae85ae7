//! An `impl<E>` whose cached function returns `Result<u32, E>`: the cached value (`u32`) does
//! not depend on `E`, only the error does. One error, at `E`, that says what to do.
use std::marker::PhantomData;

use cache_core::ttl_cached;

pub struct Service<E>(PhantomData<E>);

impl<E: From<std::num::ParseIntError>> Service<E> {
    #[ttl_cached(ttl = "1h")]
    pub fn port(text: &str) -> Result<u16, E> {
        Ok(text.parse()?)
    }
}

fn main() {}
