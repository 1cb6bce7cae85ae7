#!/usr/bin/env bash
# The fleet tier (cache-core feature `redis`) against its peers, in one run, as ratios:
#
# - L1 hit: a `Shared` map's hit vs a plain `TtlMap` hit (target: within 1.05x);
# - L2 hit: L1 always misses, the value is in Redis: ours vs a raw `GET` + postcard over
#   redis 1.8's `ConnectionManager` (target: within 1.2x) and cached 0.56's `AsyncRedisCache`
#   (target: faster), with per-op p50/p99 beside criterion's mean/median; and the same peers
#   on 1,536-float embeddings (6 KB values; reported, no target);
# - stampede: 3 processes × 32 tasks asking for the same 100 cold keys with a 20 ms
#   constructor: constructions fleet-wide (ours: 100) and wall time, vs cached's
#   `#[io_cached(redis = true)]` (and a plain `TtlMap` per process, for context).
#
# The benchmarks are the crate benches/fleet (outside the workspace: cached's Redis features
# stay out of `cargo test --workspace`). This script starts its own redis-server (a free
# loopback port, a temporary directory, no persistence; killed on exit), runs them, and prints
# one markdown table on stdout; the benchmarks' own output goes to stderr.
#
#   bash scripts/fleet-bench.sh              # needs redis-server on PATH
#   bash scripts/fleet-bench.sh > table.md   # just the table
#
# CARGO_TARGET_DIR is honoured (default: benches/fleet/target). On a 2-core machine the first
# build takes ~6 minutes; the measurements take ~1.5 minutes.
#
# redis-server and the criterion benches run on CPU 0 only (taskset; FLEET_BENCH_PIN=0 turns
# that off). On a VM a cross-thread or cross-process wake-up costs whatever the hypervisor
# makes it: unpinned, every L2 op here takes either ~20 µs or ~80 µs, the mode flipping every
# second or so, so criterion's 3-second runs of different peers land in different modes and
# their ratios mean nothing. On one CPU every wait is a plain context switch: L2 times become
# each path's full cost (client, server, switches), the same run to run. The stampede is never
# pinned (its processes are meant to run at once).
set -euo pipefail
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
crate="$root/benches/fleet"

if ! command -v redis-server >/dev/null; then
    echo "fleet-bench: needs redis-server (apt-get install -y redis-server)" >&2
    exit 1
fi

pin=()
if [[ ${FLEET_BENCH_PIN:-1} != 0 ]]; then
    if command -v taskset >/dev/null; then
        pin=(taskset -c 0)
    else
        echo "fleet-bench: no taskset; running unpinned (L2 times will be noisy on a VM)" >&2
    fi
fi

work="$(mktemp -d)"
redis_pid=""
cleanup() {
    if [[ -n $redis_pid ]]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$crate/target}"
bin="$CARGO_TARGET_DIR/release"

echo "== build" >&2
(cd "$crate" && cargo bench --bench fleet --no-run --quiet && cargo build --release --quiet --bins) >&2

# PING over bash's /dev/tcp (no redis-cli needed): 0 once the server answers.
ping_redis() (
    reply=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    read -r -t 1 reply <&3 || true
    [[ $reply == +PONG* ]]
)

start_redis() {
    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        # Taken already: something answers there.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
        "${pin[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
            --logfile "$work/redis.log" --daemonize no &
        redis_pid=$!
        for _ in $(seq 100); do
            if ping_redis "$port" 2>/dev/null; then
                echo "$port"
                return 0
            fi
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    done
    echo "fleet-bench: redis-server did not start; its log:" >&2
    tail -20 "$work/redis.log" >&2 || true
    return 1
}

# Not in a subshell: the trap must see redis_pid.
start_redis > "$work/port"
port="$(cat "$work/port")"
export FLEET_REDIS_URL="redis://127.0.0.1:$port/"
export FLEET_BENCH_OUT="$work/out"
export CRITERION_HOME="$work/criterion"
mkdir -p "$FLEET_BENCH_OUT"
echo "== redis-server $(redis-server --version | awk '{print $3}') on port $port" >&2

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)

echo "== criterion benches (L1 hit, L2 hit) and per-op latency" >&2
(cd "$crate" && "${pin[@]}" cargo bench --bench fleet --quiet -- --warm-up-time 1 --measurement-time 3) >&2

echo "== stampede" >&2
for rotation in spread step; do
    for impl in ours cached ttl_map; do
        "$bin/stampede" --impl "$impl" --rotation "$rotation" --procs 3 --tasks 32 --keys 100 \
            --delay-ms 20 --out "$FLEET_BENCH_OUT/stampede.jsonl" >&2
    done
done

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
pin_note=", unpinned"
if ((${#pin[@]})); then pin_note=", redis-server and the criterion benches pinned to CPU 0"; fi
took=$(($(date +%s) - started))
"$bin/report" "$CRITERION_HOME" "$FLEET_BENCH_OUT" \
    "Measured in ${took}s on $(nproc) cores$pin_note; load average (1, 5, 15 min) at start: $load_start, at end: $load_end. redis-server $(redis-server --version | awk '{print $3}' | tr -d 'v='), loopback."
