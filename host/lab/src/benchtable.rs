//! `assay dev bench-table`: the gateway benchmark's summary. Reads the lines `assay dev load`
//! printed for repeated runs (`scripts/bench-gateway.sh` interleaves the paths run by run) and
//! prints, per mode and concurrency, each path's median and spread side by side, the latency
//! each router adds to the direct path, and the gateway's requests/s as a ratio of the other
//! router's.
//!
//! Pure text in, text out: it knows nothing of HTTP or of how the runs were made.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The path measured without a router in between.
pub const DIRECT: &str = "direct";
/// The router whose throughput is the numerator of the ratio.
pub const GATEWAY: &str = "assay-gateway";
/// The router it is compared with.
pub const OTHER: &str = "vllm-router";

/// One line of `assay dev load`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub label: String,
    pub mode: String,
    pub concurrency: u32,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Parses one line of `assay dev load`; `None` for any other line (logs, headers).
pub fn parse_line(line: &str) -> Option<Run> {
    let mut words = line.split_whitespace();
    let label = words.next()?.to_string();
    let mode = words.next()?.to_string();
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let rest: Vec<&str> = words.collect();
    // `rps=    6889` has spaces after the `=`: a key's value is the next word when empty.
    let mut i = 0;
    while i < rest.len() {
        let (key, value) = rest[i].split_once('=')?;
        if value.is_empty() {
            fields.insert(key, rest.get(i + 1)?);
            i += 2;
        } else {
            fields.insert(key, value);
            i += 1;
        }
    }
    let number = |key: &str| fields.get(key)?.parse::<f64>().ok().filter(|v| v.is_finite());
    Some(Run {
        label,
        mode,
        concurrency: fields.get("c")?.parse().ok()?,
        rps: number("rps")?,
        p50_ms: number("p50_ms")?,
        p99_ms: number("p99_ms")?,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn spread(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (low, high)
}

/// The runs of one path at one point, in the order they ran.
#[derive(Default)]
struct Series {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

type Point = (String, u32);

fn group(runs: &[Run]) -> BTreeMap<Point, BTreeMap<String, Series>> {
    let mut points: BTreeMap<Point, BTreeMap<String, Series>> = BTreeMap::new();
    for run in runs {
        let series =
            points.entry((run.mode.clone(), run.concurrency)).or_default().entry(run.label.clone()).or_default();
        series.rps.push(run.rps);
        series.p50.push(run.p50_ms);
        series.p99.push(run.p99_ms);
    }
    points
}

/// The table: one row per path and point, then one ratio line per point where both routers ran.
/// The ratio is the median of the per-repeat ratios (the n-th gateway run against the n-th run of
/// the other router, which ran right after it), with their range.
pub fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:>3}  {:<14} {:>4}  {:>9} {:>19}  {:>8}  {:>8}  {:>9}",
        "mode", "c", "path", "runs", "rps", "(min–max)", "p50 ms", "p99 ms", "+p50 ms"
    );
    let points = group(runs);
    for ((mode, c), paths) in &points {
        let direct_p50 = paths.get(DIRECT).map(|s| median(&s.p50));
        for (label, s) in paths {
            let (low, high) = spread(&s.rps);
            let p50 = median(&s.p50);
            let added = match direct_p50 {
                Some(d) if label != DIRECT => format!("{:.3}", p50 - d),
                _ => "—".into(),
            };
            let range = format!("({low:.0}–{high:.0})");
            let _ = writeln!(
                out,
                "{mode:<6} {c:>3}  {label:<14} {:>4}  {:>9.0} {range:>19}  {p50:>8.3}  {:>8.3}  {added:>9}",
                s.rps.len(),
                median(&s.rps),
                median(&s.p99),
            );
        }
    }
    for ((mode, c), paths) in &points {
        let (Some(gateway), Some(other)) = (paths.get(GATEWAY), paths.get(OTHER)) else { continue };
        let ratios: Vec<f64> = gateway.rps.iter().zip(&other.rps).map(|(g, o)| g / o).collect();
        if ratios.is_empty() {
            continue;
        }
        let (low, high) = spread(&ratios);
        let _ = writeln!(
            out,
            "ratio {GATEWAY}/{OTHER} rps: {mode} c={c}: {:.2} (per run {low:.2}–{high:.2}, {} runs)",
            median(&ratios),
            ratios.len()
        );
    }
    out
}

/// The table of every `assay dev load` line in `text`.
pub fn summarize(text: &str) -> String {
    let runs: Vec<Run> = text.lines().filter_map(parse_line).collect();
    table(&runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str, mode: &str, c: u32, rps: f64, p50: f64) -> String {
        format!(
            "{label:<14} {mode:<6} c={c:<3} rps={rps:>8.0} p50_ms={p50:>7.3} p99_ms={:>7.3} ttfb_p50_ms={p50:>7.3} errors=0",
            p50 * 2.0
        )
    }

    #[test]
    fn reads_the_load_generators_line() {
        let run = parse_line(&line("vllm-router", "stream", 64, 8100.0, 7.677)).expect("a run");
        assert_eq!(
            run,
            Run {
                label: "vllm-router".into(),
                mode: "stream".into(),
                concurrency: 64,
                rps: 8100.0,
                p50_ms: 7.677,
                p99_ms: 15.354
            }
        );
        assert_eq!(parse_line("building assay (release)"), None);
        assert_eq!(parse_line("machine: 2 cores, AMD"), None);
    }

    #[test]
    fn medians_spreads_added_latency_and_the_paired_ratio() {
        let mut text = String::from("each run: 1 s warm-up\n");
        // Three repeats, interleaved as the script runs them.
        for (g, v, d) in [(3000.0, 1000.0, 0.10), (2000.0, 2000.0, 0.12), (4500.0, 1500.0, 0.11)] {
            text += &line(DIRECT, "whole", 64, 9000.0, d);
            text.push('\n');
            text += &line(GATEWAY, "whole", 64, g, 0.40);
            text.push('\n');
            text += &line(OTHER, "whole", 64, v, 0.50);
            text.push('\n');
        }
        let table = summarize(&text);
        let gateway = table.lines().find(|l| l.contains(GATEWAY) && !l.starts_with("ratio")).expect("gateway row");
        // Median 3000 of (3000, 2000, 4500), range 2000–4500, p50 0.4 minus the direct 0.11.
        assert!(gateway.contains("3000") && gateway.contains("(2000–4500)"), "{gateway}");
        assert!(gateway.trim_end().ends_with("0.290"), "{gateway}");
        let direct = table.lines().find(|l| l.contains(DIRECT)).expect("direct row");
        assert!(direct.trim_end().ends_with('—'), "{direct}");
        // Per-run ratios 3.0, 1.0, 3.0: median 3.00, range 1.00–3.00.
        let ratio = table.lines().find(|l| l.starts_with("ratio")).expect("ratio line");
        assert_eq!(ratio, "ratio assay-gateway/vllm-router rps: whole c=64: 3.00 (per run 1.00–3.00, 3 runs)");
    }

    #[test]
    fn no_ratio_without_both_routers() {
        let text = line(GATEWAY, "whole", 1, 1000.0, 0.3);
        assert!(!summarize(&text).contains("ratio"));
    }

    #[test]
    fn even_counts_take_the_middle_two() {
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
