use std::cell::RefCell;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn read(cell: RefCell<u32>) -> u32 {
    *cell.borrow()
}

fn main() {}
