//! `max_lifetime` and `expire_after`: limits on an entry's life that hits cannot extend,
//! beside the map's own ttl and expiry. Time comes from a `ManualClock`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn sliding_map(max_lifetime: Duration) -> (TtlMap<&'static str, u32>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .max_lifetime(max_lifetime)
        .clock(clock.clone())
        .build();
    (map, clock)
}

#[test]
fn max_lifetime_ends_a_sliding_entry_however_often_it_is_hit() {
    let (map, clock) = sliding_map(secs(300));
    map.insert("k", 1);
    // A hit every 10 s would keep it forever without the limit.
    for elapsed in (10..300).step_by(10) {
        clock.advance(secs(10));
        assert_eq!(map.get("k"), Some(1), "live at {elapsed} s");
    }
    clock.advance(secs(10));
    assert_eq!(map.get("k"), None, "dead at 300 s, its max lifetime");
}

#[test]
fn without_hits_the_ttl_still_comes_first() {
    let (map, clock) = sliding_map(secs(300));
    map.insert("k", 1);
    clock.advance(secs(59));
    assert_eq!(map.get("k"), Some(1));
    clock.advance(secs(60));
    assert_eq!(map.get("k"), None, "60 s idle");
}

#[test]
fn a_store_starts_a_new_lifetime() {
    let (map, clock) = sliding_map(secs(100));
    map.insert("k", 1);
    clock.advance(secs(50));
    assert_eq!(map.get("k"), Some(1));
    map.insert("k", 2);
    clock.advance(secs(50));
    assert_eq!(
        map.get("k"),
        Some(2),
        "100 s after the first store, 50 after the second"
    );
    clock.advance(secs(50));
    assert_eq!(map.get("k"), None);
}

#[test]
fn with_fixed_expiry_the_shorter_of_ttl_and_max_lifetime_applies() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Fixed)
        .max_lifetime(secs(30))
        .clock(clock.clone())
        .build();
    map.insert("k", 1);
    clock.advance(secs(29));
    assert_eq!(map.get("k"), Some(1));
    clock.advance(secs(1));
    assert_eq!(map.get("k"), None);
}

#[derive(Clone, Debug, PartialEq)]
struct Token {
    id: usize,
    expires_in: Option<Duration>,
}

fn token_map() -> (TtlMap<String, Token>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(3600))
        .expire_after(|_tenant: &String, token: &Token| token.expires_in)
        .clock(clock.clone())
        .build();
    (map, clock)
}

#[test]
fn a_value_may_declare_a_shorter_life_and_memoizing_rebuilds_it_then() {
    let (map, clock) = token_map();
    let built = AtomicUsize::new(0);
    let fetch = || Token {
        id: built.fetch_add(1, SeqCst),
        expires_in: Some(secs(300)),
    };
    let first = map.get_or_insert_with("acme", fetch);
    clock.advance(secs(299));
    assert_eq!(map.get_or_insert_with("acme", fetch), first, "still valid");
    clock.advance(secs(1));
    let second = map.get_or_insert_with("acme", fetch);
    assert_ne!(second, first, "the token expired: a new one is fetched");
    assert_eq!(built.load(SeqCst), 2);
}

#[test]
fn a_value_without_a_life_of_its_own_gets_the_map_s() {
    let (map, clock) = token_map();
    map.insert(
        "acme".into(),
        Token {
            id: 0,
            expires_in: None,
        },
    );
    clock.advance(secs(3599));
    assert!(
        map.get("acme").is_some(),
        "a hit slides it: no life of its own stops that"
    );
    clock.advance(secs(3599));
    assert!(map.get("acme").is_some());
    clock.advance(secs(3600));
    assert!(map.get("acme").is_none(), "an hour idle");
}

#[test]
fn a_value_cannot_outlive_the_map_s_policy() {
    let (map, clock) = token_map();
    let long = Token {
        id: 0,
        expires_in: Some(secs(100_000)),
    };
    map.insert("acme".into(), long);
    clock.advance(secs(3600));
    assert!(
        map.get("acme").is_none(),
        "the ttl (idle an hour) still applies"
    );
}

#[test]
fn hits_do_not_carry_a_value_past_its_own_life() {
    let (map, clock) = token_map();
    map.insert(
        "acme".into(),
        Token {
            id: 0,
            expires_in: Some(secs(120)),
        },
    );
    for _ in 0..11 {
        clock.advance(secs(10));
        assert!(map.get("acme").is_some());
    }
    clock.advance(secs(10));
    assert!(map.get("acme").is_none(), "120 s, whatever the hits");
}

#[test]
fn a_value_born_expired_is_returned_but_not_kept() {
    let (map, _clock) = token_map();
    let dead = Token {
        id: 7,
        expires_in: Some(Duration::ZERO),
    };
    assert_eq!(map.get_or_insert_with("acme", || dead.clone()), dead);
    assert!(map.get("acme").is_none());
    let fresh = Token {
        id: 8,
        expires_in: None,
    };
    assert_eq!(map.get_or_insert_with("acme", || fresh.clone()), fresh);
}

#[test]
fn the_earliest_of_max_lifetime_and_the_value_s_life_wins() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .max_lifetime(secs(100))
        .expire_after(|_: &&str, life: &u64| Some(secs(*life)))
        .clock(clock.clone())
        .build();
    map.insert("short", 50);
    map.insert("long", 500);
    for _ in 0..4 {
        clock.advance(secs(20));
        assert_eq!(map.get("long"), Some(500));
    }
    assert_eq!(map.get("short"), None, "its own 50 s");
    clock.advance(secs(20));
    assert_eq!(map.get("long"), None, "the map's 100 s");
}
