//! `-> <C as Connection>::Error` in an `impl<C: Connection>`: the same mistake as
//! `C::Error` (review3-generic-error-projection), written in the qualified form.
use std::marker::PhantomData;

use cache_core::ttl_cached;

pub trait Connection {
    type Error;
}

pub struct Repo<C>(PhantomData<C>);

impl<C: Connection> Repo<C> {
    #[ttl_cached(ttl = "1h")]
    pub fn user(id: u32) -> Result<String, <C as Connection>::Error> {
        Ok(format!("user{id}"))
    }
}

fn main() {}
