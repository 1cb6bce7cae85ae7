//! A parameter of type `<C as Connection>::Id` in an `impl<C: Connection>`: a key type that
//! depends on the impl's parameter, written in the qualified form.
use std::marker::PhantomData;

use cache_core::ttl_cached;

pub trait Connection {
    type Id;
}

pub struct Repo<C>(PhantomData<C>);

impl<C: Connection> Repo<C> {
    #[ttl_cached(ttl = "1h")]
    pub fn user(id: <C as Connection>::Id) -> String {
        let _ = id;
        String::new()
    }
}

fn main() {}
