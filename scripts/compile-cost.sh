#!/usr/bin/env bash
# Compile cost, two measures; the time reported is a crate's own rebuild (its dependencies are
# built first), best of 3, with CARGO_INCREMENTAL=0.
#
# - maps: a crate with 16 maps of distinct key/value types (builder, get_or_insert_with,
#   insert), release build, on cache-core, quick_cache and moka.
# - macros: a crate with 50 memoized functions of distinct value types, debug build,
#   `#[ttl_cached(ttl = "1h")]` beside cached 0.56's `#[cached(time = 3600)]`.
#
#   bash scripts/compile-cost.sh            # both
#   bash scripts/compile-cost.sh macros     # or: maps
#
# With `cargo llvm-lines` installed (`cargo install cargo-llvm-lines`), `macros` also counts the
# lines of LLVM IR each crate compiles, which unlike the time repeats exactly on a busy machine.
set -euo pipefail
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export CARGO_INCREMENTAL=0
what="${1:-all}"

types() { # count[, key and value type names]
    local k=${2:-K} v=${3:-V}
    for i in $(seq 0 $(($1 - 1))); do
        echo "#[derive(Clone, PartialEq, Eq, Hash)] pub struct $k$i(pub String, pub u$((8 << (i % 4))));"
        echo "#[derive(Clone)] pub struct $v$i(pub std::sync::Arc<Vec<u8>>, pub [u64; $((i + 1))]);"
    done
}

make_crate() { # name, dependency line, per-item body (with $i)[, items, header, type names]
    local name=$1 dep=$2 body=$3 count=${4:-16} header=${5:-} names=${6:-K V}
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
        echo "$header"
        types "$count" $names
        for i in $(seq 0 $((count - 1))); do
            eval "echo \"$body\""
        done
    } > "$work/$name/src/lib.rs"
}

if [[ $what == all || $what == maps ]]; then
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

fi

best_build() { # crate[, profile flag] -> seconds of its own build, best of 3
    local dir="$work/$1" flag=${2:---release} best=""
    (cd "$dir" && CARGO_TARGET_DIR="$work/target" cargo build $flag --quiet)
    for _ in 1 2 3; do
        touch "$dir/src/lib.rs"
        local start end
        start=$(date +%s.%N)
        (cd "$dir" && CARGO_TARGET_DIR="$work/target" cargo build $flag --quiet)
        end=$(date +%s.%N)
        best=$(echo "$start $end $best" | awk '{t = $2 - $1; if ($3 == "" || t < $3) print t; else print $3}')
    done
    echo "$best"
}

ratio() { echo "$1 $2" | awk '{print $1 / $2}'; }

if [[ $what == all || $what == maps ]]; then
qc=$(best_build with_quick_cache)
cc=$(best_build with_cache_core)
mk=$(best_build with_moka)
printf '%-16s %8s %8s\n' crate seconds "vs quick_cache"
for row in "cache-core $cc" "quick_cache $qc" "moka $mk"; do
    set -- $row
    printf '%-16s %8.2f %7.2fx\n' "$1" "$2" "$(ratio "$2" "$qc")"
done
fi

if [[ $what == all || $what == macros ]]; then
make_crate macro_ttl_cached "cache-core = { path = \"$root/cache-core\" }" \
'#[cache_core::ttl_cached(ttl = \"1h\")]
pub fn f_$i(k: Key$i) -> Value$i {
    Value$i(Default::default(), [k.1 as u64; $((i + 1))])
}' 50 '' 'Key Value'

make_crate macro_cached 'cached = { version = "0.56", default-features = false, features = ["proc_macro"] }' \
'#[cached::proc_macro::cached(time = 3600)]
pub fn f_$i(k: Key$i) -> Value$i {
    Value$i(Default::default(), [k.1 as u64; $((i + 1))])
}' 50 'use std::time::Duration; // the expansion names it unqualified' 'Key Value'

ca=$(best_build macro_cached --profile=dev)
tc=$(best_build macro_ttl_cached --profile=dev)
printf '\n%-16s %8s %8s\n' "50 functions" seconds "vs cached"
for row in "#[ttl_cached] $tc" "#[cached] $ca"; do
    set -- $row
    printf '%-16s %8.2f %7.2fx\n' "$1" "$2" "$(ratio "$2" "$ca")"
done
if cargo llvm-lines --version >/dev/null 2>&1; then
    printf '\n%-16s %10s\n' "50 functions" "LLVM lines"
    for row in "#[ttl_cached] macro_ttl_cached" "#[cached] macro_cached"; do
        set -- $row
        lines=$(cd "$work/$2" && CARGO_TARGET_DIR="$work/target" cargo llvm-lines --lib 2>/dev/null |
            awk '/\(TOTAL\)/ { print $1 }')
        printf '%-16s %10s\n' "$1" "$lines"
    done
fi
fi
