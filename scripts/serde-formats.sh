#!/usr/bin/env bash
# Serde formats for values and keys stored in Redis: postcard 1, bincode 2 (serde, standard
# config), rmp-serde 1, serde_json 1. Builds a throwaway crate under /tmp/serde-formats and prints
# markdown tables:
#
# - per format x data set: encoded bytes, encode and decode time (criterion median, release,
#   --warm-up-time 1 --measurement-time 2); data: a 1536-f32 embedding, a small API-response
#   struct, a (String ~50 chars, u32) key;
# - determinism: the same values encoded by two separate processes, byte for byte, plus a
#   HashMap (per-process random iteration order) and a BTreeMap beside them; and whether f32 bits
#   and NaN survive a round trip;
# - per format crate: normal dependencies it adds over serde (with derive) alone, and the clean
#   release build time of a tiny crate on serde + that format (best of 2) beside serde alone.
#
#   bash scripts/serde-formats.sh              # everything (a few minutes on 2 cores)
#   bash scripts/serde-formats.sh bench        # or: check, cost
#   KEEP=1 bash scripts/serde-formats.sh       # keep the temp crate
#
# Build output goes to CARGO_TARGET_DIR (default /work/target-serde), away from the repo's target.
set -euo pipefail
shopt -s inherit_errexit

what="${1:-all}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-serde}"
export CARGO_INCREMENTAL=0
mkdir -p /tmp/serde-formats "$CARGO_TARGET_DIR"
work="$(mktemp -d /tmp/serde-formats/run.XXXXXX)"
if [[ -z ${KEEP:-} ]]; then trap 'rm -rf "$work"' EXIT; else echo "temp crate: $work" >&2; fi

formats=(postcard bincode rmp-serde serde_json)
declare -A dep=(
    [postcard]='postcard = { version = "1", default-features = false, features = ["use-std"] }'
    [bincode]='bincode = { version = "2", default-features = false, features = ["std", "serde"] }'
    [rmp-serde]='rmp-serde = "1"'
    [serde_json]='serde_json = "1"'
)
# One call of each format's plain Vec<u8> API, for the compile-cost crates.
declare -A call=(
    [postcard]='postcard::to_allocvec(r).unwrap()'
    [bincode]='bincode::serde::encode_to_vec(r, bincode::config::standard()).unwrap()'
    [rmp-serde]='rmp_serde::to_vec(r).unwrap()'
    [serde_json]='serde_json::to_vec(r).unwrap()'
)
serde_dep='serde = { version = "1", features = ["derive"] }'

# --- the measuring crate -------------------------------------------------------------------
mkdir -p "$work/formats/src/bin" "$work/formats/benches"
cat > "$work/formats/Cargo.toml" <<TOML
[package]
name = "serde-formats"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$serde_dep
${dep[postcard]}
${dep[bincode]}
${dep[rmp-serde]}
${dep[serde_json]}

[dev-dependencies]
criterion = { version = "0.7", default-features = false, features = ["cargo_bench_support"] }

[[bench]]
name = "formats"
harness = false

[profile.release]
debug = false
[profile.bench]
debug = false
TOML

cat > "$work/formats/src/lib.rs" <<'RUST'
use serde::{Serialize, de::DeserializeOwned};

/// a) an embedding.
pub type Embedding = Vec<f32>;

/// b) a small API response.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    pub tokens: u32,
    pub text: String,
    pub created: u64,
}

/// c) a cache key: an API-key-like string and a number.
pub type Key = (String, u32);

/// A small deterministic generator, so every process builds the same values.
pub struct Lcg(u64);
impl Lcg {
    pub fn new(seed: u64) -> Self { Self(seed) }
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }
    /// Uniform in [-1, 1), with a full 24-bit mantissa like a real embedding component.
    pub fn unit(&mut self) -> f32 { (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0 }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| A[self.next_u32() as usize % A.len()] as char).collect()
    }
}

pub fn embedding() -> Embedding {
    let mut g = Lcg::new(1);
    (0..1536).map(|_| g.unit()).collect()
}

pub fn response() -> Response {
    let mut g = Lcg::new(2);
    let words = ["the", "cache", "returns", "a", "stored", "answer", "when", "key", "matches", "quickly"];
    let mut text = String::new();
    while text.len() < 200 {
        if !text.is_empty() { text.push(' '); }
        text.push_str(words[g.next_u32() as usize % words.len()]);
    }
    text.truncate(200);
    Response {
        id: format!("chatcmpl-{}", g.alnum(21)), // 30 chars
        model: "gpt-4o-mini-2024-07-18".into(), // 22 chars
        tokens: 187,
        text,
        created: 1_717_171_717,
    }
}

pub fn key() -> Key {
    let mut g = Lcg::new(3);
    (format!("sk-proj-{}", g.alnum(42)), 123_456) // 50 chars
}

/// One format's plain "value to Vec<u8>" and "slice to owned value" calls.
pub trait Codec {
    const NAME: &'static str;
    fn enc<T: Serialize>(v: &T) -> Vec<u8>;
    fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, String>;
}

pub struct Postcard;
impl Codec for Postcard {
    const NAME: &'static str = "postcard";
    fn enc<T: Serialize>(v: &T) -> Vec<u8> { postcard::to_allocvec(v).unwrap() }
    fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> { postcard::from_bytes(b).map_err(|e| e.to_string()) }
}

pub struct Bincode;
impl Codec for Bincode {
    const NAME: &'static str = "bincode";
    fn enc<T: Serialize>(v: &T) -> Vec<u8> { bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap() }
    fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
        bincode::serde::decode_from_slice(b, bincode::config::standard()).map(|(v, _)| v).map_err(|e| e.to_string())
    }
}

pub struct Rmp;
impl Codec for Rmp {
    const NAME: &'static str = "rmp-serde";
    fn enc<T: Serialize>(v: &T) -> Vec<u8> { rmp_serde::to_vec(v).unwrap() }
    fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> { rmp_serde::from_slice(b).map_err(|e| e.to_string()) }
}

pub struct Json;
impl Codec for Json {
    const NAME: &'static str = "serde_json";
    fn enc<T: Serialize>(v: &T) -> Vec<u8> { serde_json::to_vec(v).unwrap() }
    fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> { serde_json::from_slice(b).map_err(|e| e.to_string()) }
}

/// FNV-1a, to print a short fingerprint of encoded bytes.
pub fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}
RUST

# Prints "format data bytes fingerprint roundtrip" lines; two processes must print the same
# lines except for the HashMap ones.
cat > "$work/formats/src/bin/check.rs" <<'RUST'
use serde_formats::*;
use std::collections::{BTreeMap, HashMap};

fn run<C: Codec>() {
    let (e, r, k) = (embedding(), response(), key());
    let line = |data: &str, b: &[u8], ok: bool| {
        println!("{} {} {} {:016x} {}", C::NAME, data, b.len(), fnv(b), if ok { "ok" } else { "MISMATCH" });
    };
    let b = C::enc(&e);
    let back: Embedding = C::dec(&b).unwrap();
    line("embedding", &b, back.iter().map(|x| x.to_bits()).eq(e.iter().map(|x| x.to_bits())));
    let b = C::enc(&r);
    line("response", &b, C::dec::<Response>(&b).unwrap() == r);
    let b = C::enc(&k);
    line("key", &b, C::dec::<Key>(&b).unwrap() == k);

    // Maps: the same entries inserted in the same order.
    let entries: Vec<(String, u32)> = (0..16).map(|i| (format!("field{i}"), i)).collect();
    let hm: HashMap<String, u32> = entries.iter().cloned().collect();
    let bm: BTreeMap<String, u32> = entries.iter().cloned().collect();
    let b = C::enc(&hm);
    line("hashmap", &b, C::dec::<HashMap<String, u32>>(&b).unwrap() == hm);
    let b = C::enc(&bm);
    line("btreemap", &b, C::dec::<BTreeMap<String, u32>>(&b).unwrap() == bm);

    // f32 bit-exactness over many values (shortest-decimal text for JSON), and non-finite values.
    let mut g = Lcg::new(9);
    let many: Vec<f32> = (0..200_000)
        .map(|_| f32::from_bits(g.next_u32()))
        .filter(|x| x.is_finite())
        .collect();
    let b = C::enc(&many);
    let exact = C::dec::<Vec<f32>>(&b).is_ok_and(|v| v.iter().map(|x| x.to_bits()).eq(many.iter().map(|x| x.to_bits())));
    let special = [f32::NAN, f32::INFINITY, -0.0];
    let b = C::enc(&special.to_vec());
    let mut nan = match C::dec::<Vec<f32>>(&b) {
        Ok(v) if v.iter().map(|x| x.to_bits()).eq(special.iter().map(|x| x.to_bits())) => "kept".to_string(),
        Ok(v) => format!("changed to {v:?}"),
        Err(e) => format!("decode error: {e}"),
    };
    if C::NAME == "serde_json" {
        nan = format!("written as {}; {nan}", String::from_utf8_lossy(&b));
    }
    // Spaces become '~' to keep the line's fields; the script turns them back.
    println!("{} floats {} {} {}", C::NAME, many.len(), if exact { "bit-exact" } else { "NOT-bit-exact" },
        nan.replace(' ', "~"));

    // rmp-serde can also write structs as maps with field names (schema-evolution friendly).
    if C::NAME == "rmp-serde" {
        println!("rmp-serde response-named {}", rmp_serde::to_vec_named(&r).unwrap().len());
    }
}

fn main() {
    run::<Postcard>();
    run::<Bincode>();
    run::<Rmp>();
    run::<Json>();
}
RUST

cat > "$work/formats/benches/formats.rs" <<'RUST'
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Serialize, de::DeserializeOwned};
use serde_formats::*;
use std::hint::black_box;

fn one<C: Codec, T: Serialize + DeserializeOwned>(c: &mut Criterion, data: &str, v: &T) {
    let bytes = C::enc(v);
    c.benchmark_group(format!("encode-{data}")).bench_function(C::NAME, |b| b.iter(|| C::enc(black_box(v))));
    c.benchmark_group(format!("decode-{data}"))
        .bench_function(C::NAME, |b| b.iter(|| C::dec::<T>(black_box(&bytes)).unwrap()));
}

fn format<C: Codec>(c: &mut Criterion) {
    one::<C, _>(c, "embedding", &embedding());
    one::<C, _>(c, "response", &response());
    one::<C, _>(c, "key", &key());
}

fn all(c: &mut Criterion) {
    format::<Postcard>(c);
    format::<Bincode>(c);
    format::<Rmp>(c);
    format::<Json>(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
RUST

cd "$work/formats"

# --- determinism and sizes -----------------------------------------------------------------
if [[ $what == all || $what == check || $what == bench ]]; then
    cargo build --release --quiet --bin check
    "$CARGO_TARGET_DIR/release/check" > "$work/check1.txt"
    "$CARGO_TARGET_DIR/release/check" > "$work/check2.txt"
fi

if [[ $what == all || $what == check ]]; then
    echo "## Determinism: two processes, same values"
    echo
    echo "| format | embedding | response | key | HashMap<String,u32> (16) | BTreeMap (16) | ~200k random finite f32, round trip | [NaN, inf, -0.0], round trip |"
    echo "|---|---|---|---|---|---|---|---|"
    for f in "${formats[@]}"; do
        row="| $f"
        for d in embedding response key hashmap btreemap; do
            a=$(awk -v f="$f" -v d="$d" '$1 == f && $2 == d {print $4, $5}' "$work/check1.txt")
            b=$(awk -v f="$f" -v d="$d" '$1 == f && $2 == d {print $4, $5}' "$work/check2.txt")
            if [[ $a == *MISMATCH* || $b == *MISMATCH* ]]; then row+=" | **round trip MISMATCH**"
            elif [[ $a == "$b" ]]; then row+=" | same bytes"
            else row+=" | **differs**"; fi
        done
        fl=$(awk -v f="$f" '$1 == f && $2 == "floats" {print $4 " | " $5}' "$work/check1.txt" | tr '~' ' ')
        echo "$row | $fl |"
    done
    echo
    named=$(awk '$2 == "response-named" {print $3}' "$work/check1.txt")
    echo "rmp-serde with to_vec_named (struct as a map with field names): response = $named bytes."
    echo
fi

# --- encode/decode time ---------------------------------------------------------------------
if [[ $what == all || $what == bench ]]; then
    export CRITERION_HOME="$work/criterion"
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    cargo bench --quiet --bench formats -- --warm-up-time 1 --measurement-time 2 --noplot \
        > "$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }
    median() { # group, format -> ns
        python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
            "$CRITERION_HOME/$1/$2/new/estimates.json"
    }
    echo "## Size and speed (criterion median, ns; release; lower is better)"
    echo
    echo "Load average (1/5/15 min) before the benches: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)."
    echo
    echo "| format | embedding bytes | encode | decode | response bytes | encode | decode | key bytes | encode | decode |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for f in "${formats[@]}"; do
        row="| $f"
        for d in embedding response key; do
            size=$(awk -v f="$f" -v d="$d" '$1 == f && $2 == d {print $3}' "$work/check1.txt")
            row+=" | $size | $(median "encode-$d" "$f") | $(median "decode-$d" "$f")"
        done
        echo "$row |"
    done
    echo
fi

# --- dependencies and build time -------------------------------------------------------------
if [[ $what == all || $what == cost ]]; then
    cost_crate() { # name, dependency line, body
        mkdir -p "$work/$1/src"
        cat > "$work/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$serde_dep
$2

[profile.release]
incremental = false
TOML
        cat > "$work/$1/src/lib.rs" <<RUST
#[derive(serde::Serialize, serde::Deserialize)]
pub struct R { pub id: String, pub model: String, pub tokens: u32, pub text: String, pub created: u64 }
$3
RUST
    }
    deps() { # crate -> distinct normal dependencies, itself included
        (cd "$work/$1" && cargo tree -q -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)
    }
    clean_build() { # crate -> "wall cpu" seconds of a clean release build, each the best of 2
        local wall="" cpu="" t dir="$CARGO_TARGET_DIR/cost-$1" TIMEFORMAT='%R %U %S'
        (cd "$work/$1" && cargo fetch --quiet)
        for _ in 1 2; do
            rm -rf "$dir"
            t=$( { time (cd "$work/$1" && CARGO_TARGET_DIR="$dir" cargo build --release --quiet 2>"$work/build.log") ; } 2>&1 ) \
                || { cat "$work/build.log" >&2; exit 1; }
            t=$(awk -v w="$wall" -v c="$cpu" -v t="$t" 'BEGIN {
                split(t, a, " "); u = a[2] + a[3]
                if (w == "" || a[1] < w) w = a[1]; if (c == "" || u < c) c = u
                printf "%.2f %.2f\n", w, c }')
            read -r wall cpu <<< "$t"
        done
        rm -rf "$dir"
        echo "$wall $cpu"
    }
    cost_crate cost_serde "" ""
    base_deps=$(deps cost_serde)
    t=$(clean_build cost_serde); read -r base_wall base_cpu <<< "$t"
    echo "## Cost of each format crate (tiny crate: serde with derive + the format; clean release build, best of 2)"
    echo
    echo "| crate | deps added over serde | added crates | build wall s | added wall s | build CPU s | added CPU s |"
    echo "|---|---:|---|---:|---:|---:|---:|"
    echo "| serde (derive) alone | 0 ($base_deps incl. itself) | | $base_wall | 0 | $base_cpu | 0 |"
    for f in "${formats[@]}"; do
        name="cost_${f//-/_}"
        cost_crate "$name" "${dep[$f]}" "pub fn enc(r: &R) -> Vec<u8> { ${call[$f]} }"
        n=$(deps "$name")
        added=$(comm -13 <(cd "$work/cost_serde" && cargo tree -q -e normal --prefix none | sed 's/ (\*)$//' | grep -v '^cost_' | sort -u) \
                         <(cd "$work/$name" && cargo tree -q -e normal --prefix none | sed 's/ (\*)$//' | grep -v '^cost_' | sort -u) \
                | sed 's/ (proc-macro)//' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
        t=$(clean_build "$name"); read -r wall cpu <<< "$t"
        echo "| $f | $((n - base_deps)) | $added | $wall | $(awk -v a="$wall" -v b="$base_wall" 'BEGIN {printf "%+.2f", a - b}') | $cpu | $(awk -v a="$cpu" -v b="$base_cpu" 'BEGIN {printf "%+.2f", a - b}') |"
    done
    echo
fi
