//! Prints the fleet benchmarks' table (markdown) from one run's results:
//!
//! ```text
//! report CRITERION_HOME OUT_DIR [NOTE]
//! ```
//!
//! `CRITERION_HOME` holds criterion's estimates (`<group>/<bench>/new/estimates.json`),
//! `OUT_DIR` the bench's `bench.json` and the stampede's `stampede.jsonl`; `NOTE` (e.g. the
//! machine's load) is printed under the table.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// criterion's (mean, median) in ns for `group/bench`, if it ran.
fn estimate(home: &Path, group: &str, bench: &str) -> Option<(f64, f64)> {
    let path = home.join(group).join(bench).join("new/estimates.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some((
        json["mean"]["point_estimate"].as_f64()?,
        json["median"]["point_estimate"].as_f64()?,
    ))
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn ratio(ours: f64, peer: f64) -> String {
    format!("{:.2}x", ours / peer)
}

/// Whether every, some or none of `ratios` meets its target (`ok`).
fn verdict(ratios: &[f64], ok: impl Fn(f64) -> bool) -> &'static str {
    let met = ratios.iter().filter(|r| ok(**r)).count();
    match met {
        0 => "**no**",
        n if n == ratios.len() => "yes",
        _ => "partly",
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = PathBuf::from(args.first().expect("CRITERION_HOME"));
    let out = PathBuf::from(args.get(1).expect("OUT_DIR"));
    let note = args.get(2).cloned().unwrap_or_default();
    let bench: Value = std::fs::read_to_string(out.join("bench.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let dash = "–".to_string();

    println!(
        "| benchmark | implementation | criterion mean / median | per op p50 / p99 | ratio ours / peer | target | met |"
    );
    println!("|---|---|---:|---:|---:|---|---|");

    // L1 hits.
    for (group, label) in [
        ("l1_hit_arc_str", "L1 hit, `Arc<str>` value"),
        ("l1_hit_string", "L1 hit, 64-byte `String` value"),
    ] {
        let (Some(peer), Some(ours)) = (
            estimate(&home, group, "ttl_map"),
            estimate(&home, group, "shared"),
        ) else {
            continue;
        };
        let inter = &bench["l1_interleaved"][group];
        let f = |k: &str| inter[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {label} | plain `TtlMap` (peer) | {} / {} | {dash} | 1.00x | | |",
            time(peer.0),
            time(peer.1)
        );
        let ratios = [
            ours.1 / peer.1,
            f("shared_median_ns") / f("ttl_map_median_ns"),
        ];
        println!(
            "| {label} | `Shared` (ours, tier on) | {} / {} | {dash} | {} criterion median; {} interleaved passes (median; fastest {}) | ≤ 1.05x | {} |",
            time(ours.0),
            time(ours.1),
            ratio(ours.1, peer.1),
            ratio(f("shared_median_ns"), f("ttl_map_median_ns")),
            ratio(f("shared_fastest_ns"), f("ttl_map_fastest_ns")),
            verdict(&ratios, |r| r <= 1.05)
        );
    }

    // L2 hits: the 64-byte strings the targets are judged on, then embeddings (no target).
    l2_rows(
        &home,
        &bench["l2_latency"],
        "l2_hit",
        "L2 hit (10,000 keys in Redis)",
        true,
    );
    l2_rows(
        &home,
        &bench["l2_embedding_latency"],
        "l2_hit_embedding",
        "L2 hit, 1,536-float embedding (1,000 keys in Redis)",
        false,
    );

    // The stampede.
    let runs: Vec<Value> = std::fs::read_to_string(out.join("stampede.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for rotation in ["spread", "step"] {
        let of = |imp: &str| {
            runs.iter()
                .find(|r| r["impl"] == imp && r["rotation"] == rotation)
        };
        let Some(ours) = of("ours") else { continue };
        let shape = format!(
            "stampede: {} processes × {} tasks, {} cold keys, {} ms constructor, rotation `{rotation}`",
            ours["procs"], ours["tasks"], ours["keys"], ours["delay_ms"]
        );
        for (imp, label) in [
            ("ours", "`Shared` (ours)"),
            ("cached", "`#[io_cached(redis = true)]` (cached 0.56)"),
            ("ttl_map", "plain `TtlMap` per process (context)"),
        ] {
            let Some(r) = of(imp) else { continue };
            let built = r["constructions"].as_u64().unwrap_or(0);
            let (ratio_text, target, met) = if imp == "ours" {
                let expected = r["keys"].as_u64().unwrap_or(0);
                (
                    format!("{built} constructions (per process {})", r["per_process"]),
                    format!("{expected} constructions"),
                    if built == expected { "yes" } else { "**no**" }.to_string(),
                )
            } else {
                (
                    format!("{built} constructions (per process {})", r["per_process"]),
                    String::new(),
                    String::new(),
                )
            };
            println!(
                "| {shape} | {label} | wall {} | {dash} | {ratio_text} | {target} | {met} |",
                time(r["wall_ms"].as_f64().unwrap_or(f64::NAN) * 1e6)
            );
        }
    }
    if !note.is_empty() {
        println!();
        println!("{note}");
    }
}

/// The L2 rows of one benchmark group (`what` says what was read); `judged`: the targets apply.
fn l2_rows(home: &Path, lat: &Value, group: &str, what: &str, judged: bool) {
    let p = |peer: &str, k: &str| lat[peer][k].as_f64().unwrap_or(f64::NAN);
    let crit = |peer: &str| estimate(home, group, peer);
    if let (Some(raw), Some(cached)) = (crit("raw_get"), crit("cached")) {
        let rows = [
            (
                "raw_get",
                "raw `GET` + postcard, `ConnectionManager` (peer)",
            ),
            (
                "raw_get_current_thread",
                "raw `GET` + postcard, current-thread runtime (floor)",
            ),
            (
                "shared",
                "`Shared`, L1 always misses (ours, sliding: default)",
            ),
            (
                "shared_fixed",
                "`Shared`, L1 always misses (ours, fixed expiry)",
            ),
            ("cached", "cached 0.56 `AsyncRedisCache::cache_get` (peer)"),
        ];
        for (peer, label) in rows {
            let Some(c) = crit(peer) else { continue };
            let percentiles = format!("{} / {}", time(p(peer, "p50_ns")), time(p(peer, "p99_ns")));
            let (ratio_text, target, met) = match peer {
                "shared" | "shared_fixed" => {
                    let vs_raw = [c.1 / raw.1, p(peer, "p50_ns") / p("raw_get", "p50_ns")];
                    let vs_cached = [c.1 / cached.1, p(peer, "p50_ns") / p("cached", "p50_ns")];
                    (
                        format!(
                            "vs raw: {} median, {} p50, {} p99; vs cached: {} median, {} p50",
                            ratio(c.1, raw.1),
                            ratio(p(peer, "p50_ns"), p("raw_get", "p50_ns")),
                            ratio(p(peer, "p99_ns"), p("raw_get", "p99_ns")),
                            ratio(c.1, cached.1),
                            ratio(p(peer, "p50_ns"), p("cached", "p50_ns")),
                        ),
                        if judged {
                            "≤ 1.2x raw; < 1x cached"
                        } else {
                            ""
                        },
                        if judged {
                            format!(
                                "raw: {}; cached: {}",
                                verdict(&vs_raw, |r| r <= 1.2),
                                verdict(&vs_cached, |r| r < 1.0)
                            )
                        } else {
                            String::new()
                        },
                    )
                }
                "raw_get" => ("1.00x".into(), "", String::new()),
                _ => (
                    format!(
                        "{} median, {} p50 (vs raw)",
                        ratio(c.1, raw.1),
                        ratio(p(peer, "p50_ns"), p("raw_get", "p50_ns"))
                    ),
                    "",
                    String::new(),
                ),
            };
            println!(
                "| {what} | {label} | {} / {} | {percentiles} | {ratio_text} | {target} | {met} |",
                time(c.0),
                time(c.1)
            );
        }
    }
}
