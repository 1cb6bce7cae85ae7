// A mechanical port of real `#[memoize]` attributes: memoize's examples/test1.rs
// (`Capacity: 123, SecondsToLive: 1`), a cellular automaton's `SharedCache` and a puzzle
// solver's `Ignore: parts`.
use cache_core::ttl_cached;

#[ttl_cached(SharedCache, Capacity: 123, SecondsToLive: 1, Ignore: parts)]
fn is_pattern_possible(pattern: String, parts: &[String]) -> bool {
    parts.iter().any(|p| pattern.starts_with(p.as_str()))
}

fn main() {}
