//! The benchmark's outputs: `bench.json` and `bench.csv` (one record per configuration, run and
//! metric, with the machine's description) and `summary.md` (a table per configuration: the median
//! of the runs with their min–max spread), then the figures of [`super::plot`].

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::{Exchange, RunResult};

/// The machine and setting every figure was measured on.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu: String,
    pub qemu: String,
    /// `uptime` before and after the benchmark (other QEMUs share the cores).
    pub load_before: String,
    pub load_after: String,
    /// The command line options (`--quick`, runs...).
    pub options: String,
}

impl Machine {
    /// Reads nproc, the CPU model (/proc/cpuinfo), QEMU's version, the date and the load now.
    pub fn probe(options: &str) -> Machine {
        let run = |prog: &str, args: &[&str]| {
            std::process::Command::new(prog)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or(String::new(), |(_, m)| m.trim().to_string());
        Machine {
            date: run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            qemu: run(crate::qemu::QEMU, &["--version"])
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            load_before: run("uptime", &[]),
            load_after: String::new(),
            options: options.to_string(),
        }
    }
}

/// One run of one configuration.
#[derive(Clone, Debug)]
pub struct Run {
    pub config: String,
    pub run: usize,
    /// The kernel's line about its card (names the ring size it really used).
    pub boot: String,
    pub result: RunResult,
}

/// One number: (metric, value, unit).
type Metric = (String, f64, &'static str);

/// The metrics of one run, in a fixed order.
pub fn metrics(r: &RunResult) -> Vec<Metric> {
    let mut m = Vec::new();
    for (name, s) in [("zero_loss", &r.zero_loss), ("delivery99", &r.delivery99)] {
        let (target, achieved) = s
            .best
            .as_ref()
            .map_or((0.0, 0.0), |b| (b.target, b.achieved));
        m.push((format!("{name}_target"), target, "pkt/s"));
        m.push((format!("{name}_achieved"), achieved, "pkt/s"));
    }
    for l in &r.latency {
        let rate = l.rate;
        for (stat, v) in [
            ("avg", l.avg),
            ("median", l.median),
            ("p95", l.p95),
            ("p99", l.p99),
            ("max", l.max),
        ] {
            m.push((format!("latency_{rate}_{stat}"), v, "ms"));
        }
        m.push((
            format!("latency_{rate}_samples"),
            f64::from(l.samples),
            "count",
        ));
        m.push((format!("latency_{rate}_lost"), f64::from(l.lost), "count"));
    }
    m
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON has no NaN: a missing statistic is null.
fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn tries_json(tries: &[Exchange]) -> String {
    let items: Vec<String> = tries
        .iter()
        .map(|t| {
            format!(
                "{{\"target\":{},\"achieved\":{},\"sent\":{},\"received\":{}}}",
                json_num(t.target),
                json_num(t.achieved),
                t.sent,
                t.received
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The whole benchmark as JSON: the machine, then one record per configuration, run and metric,
/// then every rate try of each run (what the delivery figures are drawn from).
pub fn to_json(machine: &Machine, runs: &[Run]) -> String {
    let mut s = String::from("{\n  \"machine\": {");
    let fields = [
        ("date", json_str(&machine.date)),
        ("nproc", machine.nproc.to_string()),
        ("cpu", json_str(&machine.cpu)),
        ("qemu", json_str(&machine.qemu)),
        ("load_before", json_str(&machine.load_before)),
        ("load_after", json_str(&machine.load_after)),
        ("options", json_str(&machine.options)),
    ];
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    s.push_str(&fields.join(", "));
    s.push_str("},\n  \"records\": [\n");
    let mut records = Vec::new();
    for r in runs {
        for (metric, value, unit) in metrics(&r.result) {
            records.push(format!(
                "    {{\"config\": {}, \"run\": {}, \"metric\": {}, \"value\": {}, \"unit\": {}}}",
                json_str(&r.config),
                r.run,
                json_str(&metric),
                json_num(value),
                json_str(unit)
            ));
        }
    }
    s.push_str(&records.join(",\n"));
    s.push_str("\n  ],\n  \"runs\": [\n");
    let details: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "    {{\"config\": {}, \"run\": {}, \"boot\": {}, \"recv_buffer\": {}, \
                 \"zero_loss_tries\": {}, \"delivery99_tries\": {}}}",
                json_str(&r.config),
                r.run,
                json_str(&r.boot),
                r.result.recv_buffer,
                tries_json(&r.result.zero_loss.tries),
                tries_json(&r.result.delivery99.tries)
            )
        })
        .collect();
    s.push_str(&details.join(",\n"));
    s.push_str("\n  ]\n}\n");
    s
}

/// The records as CSV, each row carrying the machine's description.
pub fn to_csv(machine: &Machine, runs: &[Run]) -> String {
    let mut s = String::from("config,run,metric,value,unit,date,nproc,cpu,qemu\n");
    for r in runs {
        for (metric, value, unit) in metrics(&r.result) {
            let value = if value.is_finite() {
                value.to_string()
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{}",
                csv_field(&r.config),
                r.run,
                metric,
                value,
                unit,
                csv_field(&machine.date),
                machine.nproc,
                csv_field(&machine.cpu),
                csv_field(&machine.qemu)
            );
        }
    }
    s
}

/// The median of `v` (the mean of the middle two for an even count) and its min and max.
pub fn median_spread(v: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

fn fmt_num(v: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{v:.3}"),
        _ => format!("{v:.0}"),
    }
}

/// One table cell: the median of the runs' values, with the min–max spread when they differ.
fn cell(values: &[f64], unit: &str) -> String {
    match median_spread(values) {
        None => "–".into(),
        Some((m, lo, hi)) if fmt_num(lo, unit) == fmt_num(hi, unit) => fmt_num(m, unit),
        Some((m, lo, hi)) => format!(
            "{} ({}–{})",
            fmt_num(m, unit),
            fmt_num(lo, unit),
            fmt_num(hi, unit)
        ),
    }
}

/// A rate cell: [`cell`] of the runs where some rate passed, and how many runs failed even the
/// bottom of the search range.
fn rate_cell(values: &[Option<f64>]) -> String {
    let passed: Vec<f64> = values.iter().flatten().copied().collect();
    let below = values.len() - passed.len();
    let floor = super::RATE_RANGE.0;
    match (passed.is_empty(), below) {
        (true, _) => format!("< {floor:.0}"),
        (false, 0) => cell(&passed, "pkt/s"),
        (false, n) => format!(
            "{}; < {floor:.0} in {n} of {} runs",
            cell(&passed, "pkt/s"),
            values.len()
        ),
    }
}

/// A Markdown summary: the machine, then per configuration the rates and a latency table, each
/// figure the median over the runs with its min–max spread in parentheses when the runs differ.
pub fn to_summary(machine: &Machine, runs: &[Run]) -> String {
    let mut s = String::from("# xv6net benchmark summary\n\n");
    let _ = writeln!(s, "- date: {}", machine.date);
    let _ = writeln!(s, "- machine: {} × {}", machine.nproc, machine.cpu);
    let _ = writeln!(s, "- QEMU: {}", machine.qemu);
    let _ = writeln!(s, "- options: {}", machine.options);
    let _ = writeln!(s, "- load before: {}", machine.load_before);
    let _ = writeln!(s, "- load after: {}", machine.load_after);
    let mut configs: Vec<&str> = Vec::new();
    for r in runs {
        if !configs.contains(&r.config.as_str()) {
            configs.push(&r.config);
        }
    }
    for config in configs {
        let these: Vec<&RunResult> = runs
            .iter()
            .filter(|r| r.config == config)
            .map(|r| &r.result)
            .collect();
        let _ = writeln!(s, "\n## {config} ({} runs)\n", these.len());
        if let Some(boot) = runs
            .iter()
            .filter(|r| r.config == config)
            .map(|r| r.boot.as_str())
            .find(|b| !b.is_empty())
        {
            let _ = writeln!(s, "Kernel: `{boot}`\n");
        }
        s.push_str("| UDP echo rate (1000 × 64 B per try) | asked | achieved by the sender |\n");
        s.push_str("|---|---:|---:|\n");
        for (name, pick) in [
            (
                "zero loss",
                (|r: &RunResult| r.zero_loss.best.clone()) as fn(&RunResult) -> Option<Exchange>,
            ),
            ("≥ 99% delivered", |r: &RunResult| {
                r.delivery99.best.clone()
            }),
        ] {
            let best: Vec<Option<Exchange>> = these.iter().map(|r| pick(r)).collect();
            let target: Vec<Option<f64>> =
                best.iter().map(|b| b.as_ref().map(|b| b.target)).collect();
            let achieved: Vec<Option<f64>> = best
                .iter()
                .map(|b| b.as_ref().map(|b| b.achieved))
                .collect();
            let _ = writeln!(
                s,
                "| {name} | {} | {} |",
                rate_cell(&target),
                rate_cell(&achieved)
            );
        }
        s.push_str(
            "\n| msg/s | avg ms | median ms | p95 ms | p99 ms | max ms | samples | lost |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let rates: Vec<f64> = these
            .first()
            .map(|r| r.latency.iter().map(|l| l.rate).collect())
            .unwrap_or_default();
        for rate in rates {
            let ls: Vec<&super::Latency> = these
                .iter()
                .filter_map(|r| r.latency.iter().find(|l| l.rate == rate))
                .collect();
            let col = |f: fn(&super::Latency) -> f64, unit| {
                cell(&ls.iter().map(|l| f(l)).collect::<Vec<_>>(), unit)
            };
            let _ = writeln!(
                s,
                "| {rate} | {} | {} | {} | {} | {} | {} | {} |",
                col(|l| l.avg, "ms"),
                col(|l| l.median, "ms"),
                col(|l| l.p95, "ms"),
                col(|l| l.p99, "ms"),
                col(|l| l.max, "ms"),
                col(|l| f64::from(l.samples), "count"),
                col(|l| f64::from(l.lost), "count"),
            );
        }
    }
    s
}

/// Writes bench.json, bench.csv, summary.md, delivery.svg and latency.svg into `dir`.
pub fn write_all(dir: &Path, machine: &Machine, runs: &[Run]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bench.json"), to_json(machine, runs))?;
    std::fs::write(dir.join("bench.csv"), to_csv(machine, runs))?;
    std::fs::write(dir.join("summary.md"), to_summary(machine, runs))?;
    super::plot::delivery(dir, runs)?;
    super::plot::latency(dir, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Latency, Search};

    fn run(config: &str, n: usize, zero: f64) -> Run {
        let ex = Exchange {
            target: zero,
            sent: 1000,
            received: 1000,
            achieved: zero - 1.0,
            rtts: Vec::new(),
        };
        Run {
            config: config.into(),
            run: n,
            boot: "net: e1000 mac x ring 16".into(),
            result: RunResult {
                zero_loss: Search {
                    best: Some(ex.clone()),
                    tries: vec![ex],
                },
                latency: vec![Latency {
                    rate: 10.0,
                    samples: 0,
                    lost: 0,
                    avg: f64::NAN,
                    median: f64::NAN,
                    p95: f64::NAN,
                    p99: f64::NAN,
                    max: f64::NAN,
                }],
                ..RunResult::default()
            },
        }
    }

    #[test]
    fn rate_cells_say_which_runs_passed_nothing() {
        assert_eq!(rate_cell(&[Some(2000.0), Some(2000.0)]), "2000");
        assert_eq!(rate_cell(&[None]), "< 1000");
        assert_eq!(
            rate_cell(&[Some(3000.0), None, Some(1000.0)]),
            "2000 (1000–3000); < 1000 in 1 of 3 runs"
        );
    }

    #[test]
    fn median_spread_handles_odd_even_and_missing() {
        assert_eq!(median_spread(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median_spread(&[4.0, 1.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(median_spread(&[f64::NAN]), None);
    }

    #[test]
    fn outputs_carry_every_run_and_the_machine() {
        let m = Machine {
            cpu: "CPU, \"fast\"".into(),
            ..Machine::default()
        };
        let runs = [
            run("e1000 ring 16", 1, 4000.0),
            run("e1000 ring 16", 2, 6000.0),
        ];
        let json = to_json(&m, &runs);
        assert!(json.contains("\"cpu\": \"CPU, \\\"fast\\\"\""), "{json}");
        assert!(json.contains("\"metric\": \"latency_10_avg\", \"value\": null"));
        let csv = to_csv(&m, &runs);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("e1000 ring 16,1,zero_loss_target,4000,pkt/s,")
        );
        assert!(csv.contains("\"CPU, \"\"fast\"\"\""));
        let summary = to_summary(&m, &runs);
        assert!(summary.contains("## e1000 ring 16 (2 runs)"), "{summary}");
        assert!(
            summary.contains("| zero loss | 5000 (4000–6000) | 4999 (3999–5999) |"),
            "{summary}"
        );
        assert!(
            summary.contains("| ≥ 99% delivered | < 1000 | < 1000 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 10 | – | – | – | – | – | 0 | 0 |"),
            "{summary}"
        );
    }
}
