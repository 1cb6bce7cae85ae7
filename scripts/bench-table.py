#!/usr/bin/env python3
"""Print the README's benchmark tables from the last `cargo bench` runs.

Reads criterion's estimates (target/criterion/<group>/<cache>/new/estimates.json) and
reports mean times with the ratios the project's targets are stated in, all from one run:
the hit table (`cargo bench --bench hit`), the memoizing-miss table (`--bench miss`) and the
failing constructor (`--bench single_flight`), each printed when its results exist.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
caches = ["ttl_map", "seed_mutex", "rwlock_floor", "moka", "cached", "quick_cache", "dashmap"]


def mean(group, name):
    path = root / group / name / "new" / "estimates.json"
    if not path.exists():
        sys.exit(f"missing {path}: run the bench that makes it first")
    return json.loads(path.read_text())["mean"]["point_estimate"]


def have(group):
    return (root / group).is_dir()


def hit_table():
    print("| cache | hit, 1 thread | hit, 2 threads (per lookup) | 2-thread throughput vs 1 | miss | insert |")
    print("|---|---:|---:|---:|---:|---:|")
    one = {c: mean("hit_1_thread", c) for c in caches}
    two = {c: mean("hit_2_threads", c) for c in caches}
    for c in caches:
        print(
            f"| {c} | {one[c]:.1f} ns | {two[c]:.1f} ns | {one[c] / two[c]:.2f}x "
            f"| {mean('miss', c):.1f} ns | {mean('insert', c):.0f} ns |"
        )

    t = one["ttl_map"]
    print()
    print("| target | measured |")
    print("|---|---:|")
    print(f"| ttl_map hit / RwLock floor hit (at most 0.6x) | {t / one['rwlock_floor']:.2f}x |")
    print(f"| moka hit / ttl_map hit (at least 3x) | {one['moka'] / t:.2f}x |")
    print(f"| cached hit / ttl_map hit (at least 2x) | {one['cached'] / t:.2f}x |")
    print(f"| ttl_map hit / quick_cache hit (at most 1.5x) | {t / one['quick_cache']:.2f}x |")
    print(f"| ttl_map 2-thread throughput / 1-thread (at least 1.7x) | {t / two['ttl_map']:.2f}x |")
    m = mean("memo_hit", "macro") / mean("memo_hit", "by_hand")
    print(f"| #[ttl_cached] hit / get_or_insert_with by hand (at most 1.1x) | {m:.2f}x |")


miss_caches = ["ttl_map", "ttl_map_try", "quick_cache", "cached_timed", "cached_sized", "dashmap", "moka"]


def miss_table():
    print("Memoizing miss (never-seen 51-byte String key, trivial constructor, stored):")
    print()
    print("| cache | miss | vs quick_cache | vs cached (TimedCache, sync_writes) |")
    print("|---|---:|---:|---:|")
    m = {c: mean("memo_miss", c) for c in miss_caches}
    for c in miss_caches:
        print(
            f"| {c} | {m[c]:.0f} ns | {m[c] / m['quick_cache']:.2f}x "
            f"| {m[c] / m['cached_timed']:.2f}x |"
        )
    if have("memo_miss_u64"):
        t, k = mean("memo_miss_u64", "ttl_map"), mean("memo_miss_u64", "cached_timed")
        print()
        print("| 200,000 distinct u64 misses | ttl_map | cached (TimedCache) | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| time | {t * 2e5 / 1e6:.1f} ms | {k * 2e5 / 1e6:.1f} ms | {t / k:.2f}x |")
    print()
    print("| target | measured |")
    print("|---|---:|")
    print(f"| ttl_map miss / quick_cache miss (at most 1.2x) | {m['ttl_map'] / m['quick_cache']:.2f}x |")
    print(f"| ttl_map miss / cached sync_writes miss (at most 1.0x) | {m['ttl_map'] / m['cached_timed']:.2f}x |")


# The failing constructor's duration, FAIL_AFTER in benches/single_flight.rs.
FAIL_AFTER_NS = 20e6


def failing_table():
    print("Failing constructor (8 callers miss one key; one run takes 20 ms and fails):")
    print()
    print("| cache | slowest caller | / one constructor run (target at most 2.2x) |")
    print("|---|---:|---:|")
    for c in ["ttl_map_try", "ttl_map_try_shared", "moka_try_get_with", "quick_cache_try"]:
        t = mean("failing_constructor", c)
        print(f"| {c} | {t / 1e6:.1f} ms | {t / FAIL_AFTER_NS:.2f}x |")
    print()
    print("(runs per round: printed by the bench itself)")


tables = [("hit_1_thread", hit_table), ("memo_miss", miss_table), ("failing_constructor", failing_table)]
printed = False
for group, table in tables:
    if have(group):
        if printed:
            print()
        table()
        printed = True
if not printed:
    sys.exit(f"no results under {root}: run `cargo bench --bench hit` (or miss, single_flight) first")
