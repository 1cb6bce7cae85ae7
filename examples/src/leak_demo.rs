//! The seed's 30-day story, measured: tenants' API keys arrive every day and go quiet after a
//! few days. A naive global `Mutex<HashMap>` of clients (the seed's "before") keeps every
//! client forever; the `#[ttl_cached]` function ("after") keeps those used within the TTL.
//!
//! Both sides build real async-openai clients. Simulated time comes from a `ManualClock`, so
//! a month takes seconds; heap bytes come from a counting allocator, attributed to the side
//! whose call allocated (or freed) them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use cache_core::{ManualClock, ttl_cached};

use crate::heap;

/// The example's flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "leak_demo",
    about = "Replay 30 days of tenant churn against a naive global client map and a \
             #[ttl_cached] function, printing entries and heap bytes held per day."
)]
pub struct Args {
    /// Days to simulate.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    /// New tenant API keys seen each day.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub new_keys_per_day: u32,
    /// Days a tenant stays active (calling every 10 minutes) before going quiet for good.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub active_days: u32,
    /// The cache's time to live (e.g. "1h", "90m", "2d").
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Also write the series as an SVG line chart to this file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("the ttl must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (write e.g. \"1h\", \"90m\", \"2d\")")),
    }
}

/// One simulated day's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Day number, from 1.
    pub day: u32,
    /// Clients the naive map holds.
    pub before_entries: usize,
    /// Heap bytes the naive map's calls have left allocated.
    pub before_bytes: isize,
    /// Clients the `#[ttl_cached]` cache holds.
    pub after_entries: usize,
    /// Heap bytes the cached function's calls have left allocated.
    pub after_bytes: isize,
}

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static TTL: OnceLock<Duration> = OnceLock::new();

fn ttl() -> Duration {
    TTL.get().copied().unwrap_or(Duration::from_secs(3600))
}

fn new_client(api_key: &str) -> Client<OpenAIConfig> {
    // Never used for a request: the demo is about what holding clients costs.
    let config = OpenAIConfig::new()
        .with_api_key(api_key)
        .with_api_base("http://127.0.0.1:9/v1")
        .with_org_id("")
        .with_project_id("");
    Client::with_config(config)
}

static BEFORE: LazyLock<Mutex<HashMap<String, Client<OpenAIConfig>>>> =
    LazyLock::new(Mutex::default);

/// The seed's "before": a global map that never forgets a key.
fn before_get_client(api_key: &str) -> Client<OpenAIConfig> {
    let mut clients = BEFORE.lock().unwrap_or_else(PoisonError::into_inner);
    clients
        .entry(api_key.to_string())
        .or_insert_with(|| new_client(api_key))
        .clone()
}

/// The "after": the same function with one attribute.
#[ttl_cached(ttl = ttl(), clock = CLOCK.clone(), cache = after_clients)]
fn after_get_client(api_key: &str) -> Client<OpenAIConfig> {
    new_client(api_key)
}

const STEP: Duration = Duration::from_secs(10 * 60);

/// Runs the simulation, printing a row per day to `out`; returns the rows.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Vec<Day>, Box<dyn std::error::Error>> {
    if TTL.set(args.ttl).is_err() && ttl() != args.ttl {
        return Err("the ttl is fixed once the cache is built; run once per process".into());
    }
    // Whatever the first client build allocates once for the whole process (TLS setup) is
    // not a per-client cost: pay it before measuring.
    drop(new_client("warm-up"));
    writeln!(
        out,
        "{} new keys a day, each active {} day(s) (a call every 10 min), ttl {}",
        args.new_keys_per_day,
        args.active_days,
        humantime::format_duration(args.ttl)
    )?;
    writeln!(
        out,
        "{:>4} | {:>16} {:>12} | {:>16} {:>12}",
        "day", "before: clients", "heap", "after: clients", "heap"
    )?;
    let (mut before_bytes, mut after_bytes) = (0, 0);
    let steps_per_day = (24 * 3600 / STEP.as_secs()) as u32;
    let mut days = Vec::new();
    for day in 1..=args.days {
        let first_active = day.saturating_sub(args.active_days) * args.new_keys_per_day;
        let active: Vec<String> = (first_active..day * args.new_keys_per_day)
            .map(|tenant| format!("sk-proj-{tenant:08}{}", "x".repeat(35)))
            .collect();
        for _ in 0..steps_per_day {
            CLOCK.advance(STEP);
            for key in &active {
                before_bytes += heap::measure(|| drop(before_get_client(key))).1;
                after_bytes += heap::measure(|| drop(after_get_client(key))).1;
            }
            // What the background sweeper does on a real clock.
            after_bytes += heap::measure(|| after_clients().sweep()).1;
        }
        let row = Day {
            day,
            before_entries: BEFORE.lock().unwrap_or_else(PoisonError::into_inner).len(),
            before_bytes,
            after_entries: after_clients().len(),
            after_bytes,
        };
        writeln!(
            out,
            "{:>4} | {:>16} {:>12} | {:>16} {:>12}",
            day,
            row.before_entries,
            mib(row.before_bytes),
            row.after_entries,
            mib(row.after_bytes)
        )?;
        days.push(row);
    }
    if let Some(path) = &args.plot {
        plot(&days, path)?;
        writeln!(out, "chart written to {}", path.display())?;
    }
    Ok(days)
}

fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Two panels, clients held and heap held, before and after, by day.
fn plot(days: &[Day], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    type Series = fn(&Day) -> (f64, f64);
    let panels: [(&str, &str, Series); 2] = [
        ("Clients held", "clients", |d| {
            (d.before_entries as f64, d.after_entries as f64)
        }),
        ("Heap held by the clients", "MiB", |d| {
            let mib = |bytes: isize| bytes as f64 / (1024.0 * 1024.0);
            (mib(d.before_bytes), mib(d.after_bytes))
        }),
    ];
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let last = days.last().map_or(2, |d| d.day.max(2));
    for (area, (title, unit, series)) in root.split_evenly((2, 1)).iter().zip(panels) {
        let points: Vec<(u32, (f64, f64))> = days.iter().map(|d| (d.day, series(d))).collect();
        let high = points
            .iter()
            .map(|(_, (b, a))| b.max(*a))
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(1..last, 0.0..high)?;
        chart.configure_mesh().x_desc("day").y_desc(unit).draw()?;
        let lines = [
            (
                "before: global Mutex<HashMap>",
                RED,
                points.iter().map(|&(d, (b, _))| (d, b)).collect::<Vec<_>>(),
            ),
            (
                "after: #[ttl_cached(ttl = ...)]",
                BLUE,
                points.iter().map(|&(d, (_, a))| (d, a)).collect(),
            ),
        ];
        for (label, color, line) in lines {
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
