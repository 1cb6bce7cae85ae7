//! `Result<User, C::Error>` in an `impl<C: Connection>`: a type parameter's associated type,
//! the usual shape of a repository over a driver. One error, at `C::Error`.
use std::marker::PhantomData;

use cache_core::ttl_cached;

pub trait Connection {
    type Error;
}

pub struct Repo<C>(PhantomData<C>);

impl<C: Connection> Repo<C> {
    #[ttl_cached(ttl = "1h")]
    pub fn user(id: u32) -> Result<String, C::Error> {
        Ok(format!("user{id}"))
    }
}

fn main() {}
