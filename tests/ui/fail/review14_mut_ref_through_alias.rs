//! A `&mut` parameter hidden behind a type alias (`type Buf<'a> = &'a mut Vec<u8>`): the
//! syntax shows no `&mut`, so the attribute keys by the alias. One error that says what to do.
use cache_core::ttl_cached;

type Buf<'a> = &'a mut Vec<u8>;

#[ttl_cached(ttl = "1h")]
fn fill(buf: Buf<'_>) -> usize {
    buf.push(1);
    buf.len()
}

fn main() {}
