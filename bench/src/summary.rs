//! `summary.md`: the benchmark's targets against the measured figures ([`crate::targets`]), then tables per
//! configuration and the `usertests` phase's time, each figure the median of the runs with their
//! min–max spread.

use std::fmt::Write as _;

use crate::report::{Machine, Run};
use crate::targets;
use crate::usertests::{self, UsertestsRun};
use crate::{Exchange, GuestCounters, RunResult, Target};

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

/// `v` at the precision of `unit`.
pub(crate) fn fmt_num(v: f64, unit: &str) -> String {
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

/// A cell of a figure some runs may lack: `n/a` when none has it.
fn opt_cell(these: &[&RunResult], unit: &str, f: impl Fn(&RunResult) -> Option<f64>) -> String {
    let values: Vec<f64> = these.iter().filter_map(|r| f(r)).collect();
    if median_spread(&values).is_none() {
        "n/a".into()
    } else {
        cell(&values, unit)
    }
}

/// The `usertests` phase's own section: the wall-clock time to `ALL TESTS PASSED` (median and
/// min–max of the runs that passed), how many passed, and why each other run failed.
fn usertests_section(s: &mut String, runs: &[UsertestsRun]) {
    let _ = writeln!(
        s,
        "\n## usertests (all), {} ({} runs)\n",
        usertests::CONFIG,
        runs.len()
    );
    s.push_str(
        "`usertests` at the shell of the standard test machine, from the typed command to \
         `ALL TESTS PASSED`.\n\n\
         | usertests (all) | wall s | passed |\n|---|---:|---:|\n",
    );
    let seconds: Vec<f64> = runs.iter().filter_map(UsertestsRun::seconds).collect();
    let _ = writeln!(
        s,
        "| time to the verdict | {} | {} of {} |",
        cell(&seconds, "s"),
        seconds.len(),
        runs.len()
    );
    for r in runs {
        if let Some(why) = r.failure() {
            let _ = writeln!(s, "\n- run {} failed: {why}", r.run);
        }
    }
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
                "\n| frames per interrupt | driver ns/frame | stack ns/frame | copy ns/frame | rx frames | tx frames | interrupts | tx frames per doorbell | rx frames per doorbell |\n\
                 |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
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
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                col("ratio", |g| g.packets_per_interrupt()),
                col("ns", |g| g.ns_per_packet()[0]),
                col("ns", |g| g.ns_per_packet()[1]),
                col("ns", |g| g.ns_per_packet()[2]),
                col("count", |g| g.rx as f64),
                col("count", |g| g.tx as f64),
                col("count", |g| g.interrupts as f64),
                col("ratio", |g| g.tx_frames_per_doorbell()),
                col("ratio", |g| g.rx_frames_per_doorbell()),
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

/// What the targets table's ratios are taken against.
const TARGETS_NOTE: &str = "Ratios are taken against figures of this same benchmark: each \
    card's device ceiling, and for virtio-net the E1000. Each card's rows judge its `udpecho` \
    configuration with the ceiling's ring; the first row takes its best user program. A \
    reference the run lacks makes the row n/a.\n\n";

/// A Markdown summary: the machine, the performance targets against the measured figures, then per
/// configuration the rates and a latency table (and, where measured, TCP, HTTP, the guest's
/// counters and the generator's cost), then the `usertests` phase if it ran, each figure the
/// median over the runs with its min–max spread in parentheses when the runs differ.
pub fn to_summary(machine: &Machine, runs: &[Run], usertests: &[UsertestsRun]) -> String {
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
    s.push_str("\n## Performance targets, medians of the runs\n\n");
    s.push_str(TARGETS_NOTE);
    s.push_str(&targets::to_markdown(&targets::judge(runs, usertests)));
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
    if !usertests.is_empty() {
        usertests_section(&mut s, usertests);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::run;

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
    fn runs_below_the_search_range_count_in_the_targets_median() {
        let mut runs = vec![
            run("e1000 device ceiling ring 16", 1, 10_001.0),
            run("e1000 ring 16", 1, 3001.0),
            run("e1000 ring 16", 2, 3001.0),
            run("e1000 ring 16", 3, 3001.0),
        ];
        runs[0].target = Target::DeviceEcho {
            nic: crate::Nic::E1000,
            ring: Some(16),
        };
        runs[1].result.zero_loss.best = None;
        runs[2].result.zero_loss.best = None;
        let summary = to_summary(&Machine::default(), &runs, &[]);
        assert!(
            summary.contains(
                "| zero-loss UDP echo, udpecho ≥ 50% of the device ceiling \
                 | e1000 ring 16 vs e1000 device ceiling ring 16 \
                 | 0 (0–3000) vs 10000 pkt/s | 0.00 | no |"
            ),
            "{summary}"
        );
        assert!(summary.contains(TARGETS_NOTE), "{summary}");
    }
}
