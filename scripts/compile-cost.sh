#!/usr/bin/env bash
# Compile cost of instantiating the cache: a crate with 16 maps of distinct key/value types
# (builder, get_or_insert_with, insert), built in release on cache-core, quick_cache and moka.
# Dependencies are built first; the time reported is the crate's own rebuild, best of 3.
#
#   bash scripts/compile-cost.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

types() {
    for i in $(seq 0 15); do
        echo "#[derive(Clone, PartialEq, Eq, Hash)] pub struct K$i(pub String, pub u$((8 << (i % 4))));"
        echo "#[derive(Clone)] pub struct V$i(pub std::sync::Arc<Vec<u8>>, pub [u64; $((i + 1))]);"
    done
}

make_crate() { # name, dependency line, per-map body (with $i), 
    local name=$1 dep=$2 body=$3
    mkdir -p "$work/$name/src"
    cat > "$work/$name/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2024"

[dependencies]
$dep

[profile.release]
incremental = false
TOML
    {
        types
        for i in $(seq 0 15); do
            eval "echo \"$body\""
        done
    } > "$work/$name/src/lib.rs"
}

make_crate with_cache_core "cache-core = { path = \"$root/cache-core\", default-features = false }" \
'pub fn use_$i(k: &K$i) -> V$i {
    let map = cache_core::TtlMap::<K$i, V$i>::builder().ttl(std::time::Duration::from_secs(60)).capacity(100).build();
    map.insert(k.clone(), V$i(Default::default(), [0; $((i + 1))]));
    map.get_or_insert_with(k, || V$i(Default::default(), [1; $((i + 1))]))
}'

make_crate with_quick_cache 'quick_cache = "0.6"' \
'pub fn use_$i(k: &K$i) -> V$i {
    let cache = quick_cache::sync::Cache::<K$i, V$i>::new(100);
    cache.insert(k.clone(), V$i(Default::default(), [0; $((i + 1))]));
    cache.get_or_insert_with(k, || Ok::<_, ()>(V$i(Default::default(), [1; $((i + 1))]))).unwrap_or_else(|()| unreachable!())
}'

make_crate with_moka 'moka = { version = "0.12", features = ["sync"] }' \
'pub fn use_$i(k: &K$i) -> V$i {
    let cache = moka::sync::Cache::<K$i, V$i>::builder().time_to_idle(std::time::Duration::from_secs(60)).max_capacity(100).build();
    cache.insert(k.clone(), V$i(Default::default(), [0; $((i + 1))]));
    cache.get_with_by_ref(k, || V$i(Default::default(), [1; $((i + 1))]))
}'

best_build() { # crate -> seconds of its own release build, best of 3
    local dir="$work/$1" best=""
    (cd "$dir" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet)
    for _ in 1 2 3; do
        touch "$dir/src/lib.rs"
        local start end
        start=$(date +%s.%N)
        (cd "$dir" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet)
        end=$(date +%s.%N)
        best=$(echo "$start $end $best" | awk '{t = $2 - $1; if ($3 == "" || t < $3) print t; else print $3}')
    done
    echo "$best"
}

qc=$(best_build with_quick_cache)
cc=$(best_build with_cache_core)
mk=$(best_build with_moka)
printf '%-16s %8s %8s\n' crate seconds "vs quick_cache"
for row in "cache-core $cc" "quick_cache $qc" "moka $mk"; do
    set -- $row
    printf '%-16s %8.2f %7.2fx\n' "$1" "$2" "$(echo "$2 $qc" | awk '{print $1 / $2}')"
done
