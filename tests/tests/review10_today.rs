//! Adversarial review of `refresh_after`'s rebuild mark (2026-11-30): the call that starts a
//! rebuild marks its entry's refresh time until `now + refresh_after`, and every end of the
//! rebuild sets it back. Attacked here: keys sharing a hash, and stores of the key while its
//! rebuild runs. Time comes from a `ManualClock`.

use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Every key hashes to the same value: two keys of a map built with it share their extras.
#[derive(Default)]
struct Constant;

impl Hasher for Constant {
    fn finish(&self) -> u64 {
        0x5bd1_e995_0000_0001
    }
    fn write(&mut self, _: &[u8]) {}
}

fn map() -> (TtlMap<String, u32>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(600))
        .refresh_after(secs(60))
        .clock(clock.clone())
        .build();
    (map, clock)
}

#[test]
fn a_rebuild_of_one_key_does_not_put_off_the_rebuild_of_another_of_its_hash() {
    let clock = ManualClock::new();
    let map = TtlMap::<String, u32, _>::builder()
        .ttl(secs(600))
        .refresh_after(secs(60))
        .hasher(BuildHasherDefault::<Constant>::default())
        .clock(clock.clone())
        .build();
    map.insert("a".into(), 1);
    map.insert("b".into(), 2);
    clock.advance(secs(60));
    let mut b = 0;
    let a = map.get_or_insert_with("a", || {
        // "b" is as due as "a": its own call rebuilds it, whatever "a"'s rebuild does.
        b = map.get_or_insert_with("b", || 20);
        10
    });
    assert_eq!((a, b), (10, 20), "both due, each rebuilt by its call");
    assert_eq!((map.get("a"), map.get("b")), (Some(10), Some(20)));
}

#[test]
fn a_value_inserted_while_a_failed_rebuild_ran_is_not_due_at_once() {
    let (map, clock) = map();
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let got: Result<u32, ()> = map.try_get_or_insert_with("k", || {
        map.insert("k".into(), 5);
        Err(())
    });
    assert_eq!(got, Ok(5), "the failed rebuild returns the value held");
    assert_eq!(
        map.get_or_insert_with("k", || 9),
        5,
        "inserted just now: due in 60 s, not rebuilt"
    );
    clock.advance(secs(60));
    assert_eq!(map.get_or_insert_with("k", || 9), 9, "due by now");
}

#[test]
fn a_value_inserted_while_a_rebuild_ran_is_not_due_at_once() {
    let (map, clock) = map();
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let got = map.get_or_insert_with("k", || {
        map.insert("k".into(), 5);
        7
    });
    assert_eq!(got, 7, "the caller gets its constructor's value");
    assert_eq!(map.get("k"), Some(5), "the insert wins");
    assert_eq!(
        map.get_or_insert_with("k", || 9),
        5,
        "inserted just now: due in 60 s, not rebuilt"
    );
    clock.advance(secs(60));
    assert_eq!(map.get_or_insert_with("k", || 9), 9, "due by now");
}

#[test]
fn a_rebuild_whose_future_is_dropped_leaves_the_value_due_and_others_get_it_meanwhile() {
    let (map, clock) = map();
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    {
        let mut rebuild = pin!(map.get_or_insert_with_async("k", std::future::pending()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            rebuild.as_mut().poll(&mut cx).is_pending(),
            "the rebuild runs"
        );
        assert_eq!(
            map.get_or_insert_with("k", || 9),
            1,
            "the current value, while the rebuild runs"
        );
    }
    assert_eq!(
        map.get_or_insert_with("k", || 2),
        2,
        "the rebuild was dropped: still due, rebuilt by the next call"
    );
}
