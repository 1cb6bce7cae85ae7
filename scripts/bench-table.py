#!/usr/bin/env python3
"""Print the README's benchmark table from the last `cargo bench --bench hit` run.

Reads criterion's estimates (target/criterion/<group>/<cache>/new/estimates.json) and
reports mean times with the ratios the project's targets are stated in, all from one run.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
caches = ["ttl_map", "seed_mutex", "rwlock_floor", "moka", "cached", "quick_cache", "dashmap"]


def mean(group, name):
    path = root / group / name / "new" / "estimates.json"
    if not path.exists():
        sys.exit(f"missing {path}: run `cargo bench --bench hit` first")
    return json.loads(path.read_text())["mean"]["point_estimate"]


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
