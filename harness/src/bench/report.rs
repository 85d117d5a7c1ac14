//! The benchmark's outputs: `bench.json` and `bench.csv` (one record per configuration, run and
//! metric, with the machine's description) and `summary.md` (the targets against the
//! measured figures, then tables per configuration: the median of the runs with their min–max
//! spread), then the figures of [`super::plot`].

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::{Exchange, GuestCounters, RunResult, Target};

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
    /// Remarks about the run, e.g. configurations skipped and why.
    pub notes: Vec<String>,
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
            notes: Vec::new(),
        }
    }
}

/// One run of one configuration.
#[derive(Clone, Debug)]
pub struct Run {
    pub target: Target,
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
    if let Some(t) = &r.tcp {
        for (dir, b) in [
            ("tcp_guest_to_host", &t.guest_to_host),
            ("tcp_host_to_guest", &t.host_to_guest),
        ] {
            m.push((format!("{dir}_mbytes_per_s"), b.mbytes_per_s(), "MB/s"));
            m.push((format!("{dir}_mbit_per_s"), b.mbit_per_s(), "Mbit/s"));
            m.push((format!("{dir}_bytes"), b.bytes as f64, "bytes"));
            m.push((format!("{dir}_seconds"), b.elapsed.as_secs_f64(), "s"));
            let guest = b.guest_us.map_or(f64::NAN, |us| us as f64 / 1e6);
            m.push((format!("{dir}_guest_seconds"), guest, "s"));
        }
    }
    for h in &r.http {
        let mode = http_mode(h.plan.keep_alive);
        m.push((format!("{mode}_req_per_s"), h.per_second(), "req/s"));
        m.push((format!("{mode}_median"), h.percentile(50.0), "ms"));
        m.push((format!("{mode}_p99"), h.percentile(99.0), "ms"));
        m.push((format!("{mode}_ok"), f64::from(h.ok), "count"));
        m.push((format!("{mode}_errors"), f64::from(h.errors), "count"));
        m.push((
            format!("{mode}_connections"),
            h.plan.connections as f64,
            "count",
        ));
    }
    let guest = match r.guest_time {
        GuestCounters::NotApplicable => None,
        GuestCounters::Missing => Some(None),
        GuestCounters::Read(g) => Some(Some(g)),
    };
    if let Some(g) = guest {
        let per = g.map_or([f64::NAN; 3], |g| g.ns_per_packet());
        let count = |f: fn(&super::GuestTime) -> u64| g.map_or(f64::NAN, |g| f(&g) as f64);
        m.extend([
            (
                "guest_packets_per_interrupt".to_string(),
                g.map_or(f64::NAN, |g| g.packets_per_interrupt()),
                "ratio",
            ),
            ("guest_driver_ns_per_packet".into(), per[0], "ns"),
            ("guest_stack_ns_per_packet".into(), per[1], "ns"),
            ("guest_copy_ns_per_packet".into(), per[2], "ns"),
            ("guest_rx_frames".into(), count(|g| g.rx), "count"),
            ("guest_tx_frames".into(), count(|g| g.tx), "count"),
            ("guest_interrupts".into(), count(|g| g.interrupts), "count"),
        ]);
    }
    for c in &r.costs {
        let phase = c.phase;
        m.push((format!("generator_{phase}_cpu_s"), c.cpu.as_secs_f64(), "s"));
        m.push((
            format!("generator_{phase}_wall_s"),
            c.wall.as_secs_f64(),
            "s",
        ));
        m.push((format!("generator_{phase}_cpu_share"), c.share(), "%"));
    }
    m
}

/// The metric prefix of an HTTP phase.
fn http_mode(keep_alive: bool) -> &'static str {
    if keep_alive {
        "http_keepalive"
    } else {
        "http_close"
    }
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

/// The distinct errors of each HTTP phase, as the members of a JSON object.
fn http_errors_json(r: &RunResult) -> String {
    r.http
        .iter()
        .map(|h| {
            let kinds: Vec<String> = h.error_kinds.iter().map(|k| json_str(k)).collect();
            format!(
                "{}: [{}]",
                json_str(http_mode(h.plan.keep_alive)),
                kinds.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
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
        (
            "notes",
            format!(
                "[{}]",
                machine
                    .notes
                    .iter()
                    .map(|n| json_str(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
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
                 \"zero_loss_tries\": {}, \"delivery99_tries\": {}, \"http_errors\": {{{}}}}}",
                json_str(&r.config),
                r.run,
                json_str(&r.boot),
                r.result.recv_buffer,
                tries_json(&r.result.zero_loss.tries),
                tries_json(&r.result.delivery99.tries),
                http_errors_json(&r.result)
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
        "MB/s" | "s" | "ratio" => format!("{v:.2}"),
        "Mbit/s" | "%" => format!("{v:.1}"),
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

/// The configurations in order of first appearance, each with its target.
fn configs(runs: &[Run]) -> Vec<(&str, Target)> {
    let mut list: Vec<(&str, Target)> = Vec::new();
    for r in runs {
        if !list.iter().any(|(c, _)| *c == r.config) {
            list.push((&r.config, r.target));
        }
    }
    list
}

/// The results of every run of `config`.
fn results<'a>(runs: &'a [Run], config: &str) -> Vec<&'a RunResult> {
    runs.iter()
        .filter(|r| r.config == config)
        .map(|r| &r.result)
        .collect()
}

/// The median over `these` of a figure some runs may lack.
fn median_of(these: &[&RunResult], f: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = these.iter().filter_map(|r| f(r)).collect();
    median_spread(&values).map(|(m, _, _)| m)
}

/// A cell of a figure some runs may lack: `n/a` when none has it.
fn opt_cell(these: &[&RunResult], unit: &str, f: impl Fn(&RunResult) -> Option<f64>) -> String {
    let values: Vec<f64> = these.iter().filter_map(|r| f(r)).collect();
    if median_spread(&values).is_none() {
        "n/a".into()
    } else {
        cell(&values, unit)
    }
}

/// The zero-loss rate the sender achieved, if any rate passed (the targets table counts a run
/// where none passed as 0, so that its median does not hide it).
fn zero_loss(r: &RunResult) -> Option<f64> {
    r.zero_loss.best.as_ref().map(|b| b.achieved)
}

/// One row of the targets table: `value` (None: not measured) against the goal `met`.
fn target_row(
    s: &mut String,
    target: &str,
    config: &str,
    value: Option<f64>,
    unit: &str,
    met: impl Fn(f64) -> bool,
) {
    let (measured, met) = match value {
        // A run that passed not even the bottom of the search range counts as 0.
        Some(v) if v == 0.0 && unit == "pkt/s" => {
            (format!("< {:.0} pkt/s", super::RATE_RANGE.0), "no")
        }
        Some(v) => (
            format!("{} {unit}", fmt_num(v, unit)),
            if met(v) { "yes" } else { "no" },
        ),
        None => ("n/a".to_string(), "n/a"),
    };
    let _ = writeln!(s, "| {target} | {config} | {measured} | {met} |");
}

/// The targets, one row per target and configuration it applies to, from the medians of
/// the runs.
fn targets_table(runs: &[Run]) -> String {
    let all = configs(runs);
    let mut s = String::from("| target | configuration | measured | met |\n|---|---|---:|---|\n");
    for &(config, target) in &all {
        let Target::Guest { nic, ring } = target else {
            continue;
        };
        let these = results(runs, config);
        let zero = median_of(&these, |r| Some(zero_loss(r).unwrap_or(0.0)));
        if nic == super::Nic::E1000 {
            target_row(
                &mut s,
                "zero-loss UDP echo ≥ 30,000 pkt/s",
                config,
                zero,
                "pkt/s",
                |v| v >= 30_000.0,
            );
            if ring == Some(16) {
                target_row(
                    &mut s,
                    "ring 16: zero loss ≥ 15,000 pkt/s",
                    config,
                    zero,
                    "pkt/s",
                    |v| v >= 15_000.0,
                );
            }
        }
        let ceiling = all
            .iter()
            .find(|(_, t)| matches!(t, Target::DeviceEcho { nic: n, .. } if *n == nic))
            .and_then(|(c, _)| median_of(&results(runs, c), |r| Some(zero_loss(r).unwrap_or(0.0))))
            .filter(|&c| c > 0.0);
        target_row(
            &mut s,
            "zero loss ≥ 75% of the device ceiling",
            config,
            zero.zip(ceiling).map(|(z, c)| z / c * 100.0),
            "%",
            |v| v >= 75.0,
        );
        let worst = median_of(&these, |r| {
            r.latency
                .iter()
                .filter(|l| l.rate <= 1000.0)
                .map(|l| l.median)
                .reduce(f64::max)
        });
        target_row(
            &mut s,
            "median round trip ≤ 0.5 ms up to 1000 msg/s (worst rate)",
            config,
            worst,
            "ms",
            |v| v <= 0.5,
        );
        for (name, pick) in [
            (
                "TCP guest→host ≥ 200 Mbit/s",
                (|r: &RunResult| r.tcp.map(|t| t.guest_to_host.mbit_per_s()))
                    as fn(&RunResult) -> Option<f64>,
            ),
            ("TCP host→guest ≥ 200 Mbit/s", |r: &RunResult| {
                r.tcp.map(|t| t.host_to_guest.mbit_per_s())
            }),
        ] {
            target_row(
                &mut s,
                name,
                config,
                median_of(&these, pick),
                "Mbit/s",
                |v| v >= 200.0,
            );
        }
        let keep_alive = median_of(&these, |r| {
            r.http
                .iter()
                .find(|h| h.plan.keep_alive)
                .map(|h| h.per_second())
        });
        target_row(
            &mut s,
            "HTTP keep-alive ≥ 2,000 req/s",
            config,
            keep_alive,
            "req/s",
            |v| v >= 2_000.0,
        );
    }
    s
}

/// Per configuration: the TCP, HTTP, guest counter and load generator tables (those that apply).
fn more_tables(s: &mut String, these: &[&RunResult]) {
    if these.iter().any(|r| r.tcp.is_some()) {
        let planned = these
            .iter()
            .find_map(|r| r.tcp.map(|t| t.guest_to_host.planned))
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "\n| TCP bulk, {} MiB | MB/s | Mbit/s | bytes arrived | seconds | guest's own seconds |\n\
             |---|---:|---:|---:|---:|---:|",
            planned >> 20
        );
        for (name, pick) in [
            (
                "guest → host",
                (|r: &RunResult| r.tcp.map(|t| t.guest_to_host))
                    as fn(&RunResult) -> Option<super::tcp::Bulk>,
            ),
            ("host → guest", |r: &RunResult| {
                r.tcp.map(|t| t.host_to_guest)
            }),
        ] {
            let col = |unit, f: fn(&super::tcp::Bulk) -> Option<f64>| {
                opt_cell(these, unit, |r| pick(r).and_then(|b| f(&b)))
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} |",
                col("MB/s", |b| Some(b.mbytes_per_s())),
                col("Mbit/s", |b| Some(b.mbit_per_s())),
                col("bytes", |b| Some(b.bytes as f64)),
                col("s", |b| Some(b.elapsed.as_secs_f64())),
                col("s", |b| b.guest_us.map(|us| us as f64 / 1e6)),
            );
        }
    }
    if let Some(plan) = these.iter().find_map(|r| r.http.first().map(|h| h.plan)) {
        let _ = writeln!(
            s,
            "\n| HTTP GET {}, {} clients | req/s | median ms | p99 ms | ok | errors |\n\
             |---|---:|---:|---:|---:|---:|",
            super::HTTP_PATH,
            plan.connections
        );
        for keep_alive in [true, false] {
            let name = if keep_alive {
                "keep-alive"
            } else {
                "new connection per request"
            };
            let col = |unit, f: fn(&super::http::HttpResult) -> f64| {
                opt_cell(these, unit, |r| {
                    r.http
                        .iter()
                        .find(|h| h.plan.keep_alive == keep_alive)
                        .map(f)
                })
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} |",
                col("req/s", |h| h.per_second()),
                col("ms", |h| h.percentile(50.0)),
                col("ms", |h| h.percentile(99.0)),
                col("count", |h| f64::from(h.ok)),
                col("count", |h| f64::from(h.errors)),
            );
        }
    }
    let counters: Vec<Option<super::GuestTime>> = these
        .iter()
        .filter_map(|r| match r.guest_time {
            GuestCounters::NotApplicable => None,
            GuestCounters::Missing => Some(None),
            GuestCounters::Read(g) => Some(Some(g)),
        })
        .collect();
    if !counters.is_empty() {
        s.push_str(
            "\nGuest time over the UDP phases (`ifconfig`'s `time:` line, after − before):\n",
        );
        if counters.iter().all(Option::is_none) {
            s.push_str("n/a: this kernel's `ifconfig` prints no `time:` line.\n");
        } else {
            s.push_str(
                "\n| frames per interrupt | driver ns/frame | stack ns/frame | copy ns/frame | rx frames | tx frames | interrupts |\n\
                 |---:|---:|---:|---:|---:|---:|---:|\n",
            );
            let col = |unit, f: fn(&super::GuestTime) -> f64| {
                let v: Vec<f64> = counters.iter().flatten().map(f).collect();
                if median_spread(&v).is_none() {
                    "n/a".to_string()
                } else {
                    cell(&v, unit)
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                col("ratio", |g| g.packets_per_interrupt()),
                col("ns", |g| g.ns_per_packet()[0]),
                col("ns", |g| g.ns_per_packet()[1]),
                col("ns", |g| g.ns_per_packet()[2]),
                col("count", |g| g.rx as f64),
                col("count", |g| g.tx as f64),
                col("count", |g| g.interrupts as f64),
            );
        }
    }
    let phases: Vec<&str> = these
        .first()
        .map(|r| r.costs.iter().map(|c| c.phase).collect())
        .unwrap_or_default();
    if !phases.is_empty() {
        s.push_str(
            "\n| load generator (this process) | CPU s | wall s | CPU % of one core |\n\
             |---|---:|---:|---:|\n",
        );
        for phase in phases {
            let col = |unit, f: fn(&super::PhaseCost) -> f64| {
                opt_cell(these, unit, |r| {
                    r.costs.iter().find(|c| c.phase == phase).map(f)
                })
            };
            let _ = writeln!(
                s,
                "| {phase} | {} | {} | {} |",
                col("s", |c| c.cpu.as_secs_f64()),
                col("s", |c| c.wall.as_secs_f64()),
                col("%", |c| c.share()),
            );
        }
    }
}

/// A Markdown summary: the machine, the targets against the measured figures, then per
/// configuration the rates and a latency table (and, where measured, TCP, HTTP, the guest's
/// counters and the generator's cost), each figure the median over the runs with its min–max
/// spread in parentheses when the runs differ.
pub fn to_summary(machine: &Machine, runs: &[Run]) -> String {
    let mut s = String::from("# xv6net benchmark summary\n\n");
    let _ = writeln!(s, "- date: {}", machine.date);
    let _ = writeln!(s, "- machine: {} × {}", machine.nproc, machine.cpu);
    let _ = writeln!(s, "- QEMU: {}", machine.qemu);
    let _ = writeln!(s, "- options: {}", machine.options);
    let _ = writeln!(s, "- load before: {}", machine.load_before);
    let _ = writeln!(s, "- load after: {}", machine.load_after);
    for note in &machine.notes {
        let _ = writeln!(s, "- note: {note}");
    }
    s.push_str("\n## Targets (issue 5), medians of the runs\n\n");
    s.push_str(&targets_table(runs));
    for (config, _) in configs(runs) {
        let these = results(runs, config);
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
        more_tables(&mut s, &these);
    }
    s
}

/// Writes bench.json, bench.csv, summary.md, delivery.svg, latency.svg and throughput.svg into
/// `dir`.
pub fn write_all(dir: &Path, machine: &Machine, runs: &[Run]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bench.json"), to_json(machine, runs))?;
    std::fs::write(dir.join("bench.csv"), to_csv(machine, runs))?;
    std::fs::write(dir.join("summary.md"), to_summary(machine, runs))?;
    super::plot::delivery(dir, runs)?;
    super::plot::latency(dir, runs)?;
    super::plot::throughput(dir, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::costs::{GuestTime, PhaseCost};
    use crate::bench::http::{HttpPlan, HttpResult};
    use crate::bench::tcp::{Bulk, TcpResult};
    use crate::bench::{Latency, Nic, Search};
    use std::time::Duration;

    const E1000_16: Target = Target::Guest {
        nic: Nic::E1000,
        ring: Some(16),
    };

    fn run(config: &str, n: usize, zero: f64) -> Run {
        let ex = Exchange {
            target: zero,
            sent: 1000,
            received: 1000,
            achieved: zero - 1.0,
            rtts: Vec::new(),
        };
        Run {
            target: E1000_16,
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
        assert!(
            summary.contains("| TCP guest→host ≥ 200 Mbit/s | e1000 ring 16 | n/a | n/a |"),
            "{summary}"
        );
        assert!(
            !summary.contains("Guest time over the UDP phases"),
            "{summary}"
        );
    }

    /// A guest run with every figure, and the device ceiling of its card.
    fn full_runs() -> Vec<Run> {
        let mut guest = run("e1000 ring 16", 1, 20_000.0);
        let bulk = |mbit: f64| Bulk {
            planned: 4 << 20,
            bytes: 4 << 20,
            elapsed: Duration::from_secs_f64((4 << 20) as f64 * 8.0 / (mbit * 1e6)),
            guest_us: Some(1_000_000),
        };
        guest.result.tcp = Some(TcpResult {
            guest_to_host: bulk(250.0),
            host_to_guest: bulk(100.0),
        });
        guest.result.http = [(true, 3000), (false, 500)]
            .map(|(keep_alive, ok)| HttpResult {
                plan: HttpPlan {
                    keep_alive,
                    connections: 4,
                    requests: 10_000,
                    duration: Duration::from_secs(3),
                },
                ok,
                errors: 1,
                error_kinds: vec!["TimedOut: timed out".into()],
                elapsed: Duration::from_secs(1),
                latency_ms: vec![1.0, 2.0, 3.0],
            })
            .to_vec();
        guest.result.guest_time = GuestCounters::Read(GuestTime {
            driver_ns: 2000,
            stack_ns: 8000,
            copy_ns: 1000,
            rx: 60,
            tx: 40,
            interrupts: 50,
        });
        guest.result.costs = vec![PhaseCost {
            phase: "udp",
            cpu: Duration::from_millis(500),
            wall: Duration::from_secs(2),
        }];
        let mut ceiling = run("e1000 device ceiling ring 64", 1, 40_001.0);
        ceiling.target = Target::DeviceEcho {
            nic: Nic::E1000,
            ring: Some(64),
        };
        vec![ceiling, guest]
    }

    #[test]
    fn targets_tcp_http_counters_and_costs_are_reported() {
        let mut m = Machine::default();
        m.notes.push("virtio device ceiling skipped: why".into());
        let runs = full_runs();
        let summary = to_summary(&m, &runs);
        for want in [
            "- note: virtio device ceiling skipped: why",
            "| zero-loss UDP echo ≥ 30,000 pkt/s | e1000 ring 16 | 19999 pkt/s | no |",
            "| ring 16: zero loss ≥ 15,000 pkt/s | e1000 ring 16 | 19999 pkt/s | yes |",
            "| zero loss ≥ 75% of the device ceiling | e1000 ring 16 | 50.0 % | no |",
            "| TCP guest→host ≥ 200 Mbit/s | e1000 ring 16 | 250.0 Mbit/s | yes |",
            "| TCP host→guest ≥ 200 Mbit/s | e1000 ring 16 | 100.0 Mbit/s | no |",
            "| HTTP keep-alive ≥ 2,000 req/s | e1000 ring 16 | 3000 req/s | yes |",
            "| guest → host | 31.25 | 250.0 | 4194304 | 0.13 | 1.00 |",
            "| keep-alive | 3000 | 2.000 | 3.000 | 3000 | 1 |",
            "| new connection per request | 500 | 2.000 | 3.000 | 500 | 1 |",
            "| 2.00 | 20 | 80 | 10 | 60 | 40 | 50 |",
            "| udp | 0.50 | 2.00 | 25.0 |",
        ] {
            assert!(summary.contains(want), "{want}\n{summary}");
        }
        assert!(!summary.contains("device ceiling ring 64 | "), "{summary}");
        let json = to_json(&m, &runs);
        assert!(json.contains("\"notes\": [\"virtio device ceiling skipped: why\"]"));
        assert!(
            json.contains(
                "\"http_errors\": {\"http_keepalive\": [\"TimedOut: timed out\"], \"http_close\""
            ),
            "{json}"
        );
        for metric in [
            "tcp_host_to_guest_mbit_per_s",
            "http_close_req_per_s",
            "guest_stack_ns_per_packet",
            "generator_udp_cpu_share",
        ] {
            assert!(json.contains(metric), "{metric}");
        }
        let csv = to_csv(&m, &runs);
        assert!(csv.contains("e1000 ring 16,1,http_keepalive_req_per_s,3000,req/s,"));
    }

    #[test]
    fn runs_below_the_search_range_count_in_the_targets_median() {
        let mut runs = vec![
            run("e1000 ring 16", 1, 3000.0),
            run("e1000 ring 16", 2, 3000.0),
            run("e1000 ring 16", 3, 3000.0),
        ];
        runs[0].result.zero_loss.best = None;
        runs[1].result.zero_loss.best = None;
        let summary = to_summary(&Machine::default(), &runs);
        assert!(
            summary.contains(
                "| zero-loss UDP echo ≥ 30,000 pkt/s | e1000 ring 16 | < 1000 pkt/s | no |"
            ),
            "{summary}"
        );
    }

    #[test]
    fn missing_guest_counters_are_reported_as_na() {
        let mut runs = full_runs();
        runs[1].result.guest_time = GuestCounters::Missing;
        let summary = to_summary(&Machine::default(), &runs);
        assert!(
            summary.contains("n/a: this kernel's `ifconfig` prints no `time:` line."),
            "{summary}"
        );
        let json = to_json(&Machine::default(), &runs);
        assert!(json.contains("\"metric\": \"guest_packets_per_interrupt\", \"value\": null"));
    }
}
