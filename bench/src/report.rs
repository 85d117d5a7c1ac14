//! The benchmark's outputs: `bench.json` and `bench.csv` (one record per configuration, run and
//! metric, with the machine's description; the `usertests` phase's runs among them), the Markdown
//! summary of [`crate::summary`] and the figures of [`crate::plot`].

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::ser::{Serialize, Serializer};

use crate::summary::to_summary;
use crate::targets;
use crate::usertests::{self, UsertestsRun};
use crate::{Exchange, GuestCounters, RunResult, Target};

/// The machine and setting every figure was measured on.
#[derive(Clone, Debug, Default, serde::Serialize)]
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
            qemu: run(harness::qemu::QEMU, &["--version"])
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
        let count = |f: fn(&crate::costs::GuestTime) -> u64| g.map_or(f64::NAN, |g| f(&g) as f64);
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
            (
                "guest_tx_frames_per_doorbell".into(),
                g.map_or(f64::NAN, |g| g.tx_frames_per_doorbell()),
                "ratio",
            ),
            (
                "guest_rx_frames_per_doorbell".into(),
                g.map_or(f64::NAN, |g| g.rx_frames_per_doorbell()),
                "ratio",
            ),
            (
                "guest_tx_doorbells".into(),
                count(|g| g.tx_doorbells),
                "count",
            ),
            (
                "guest_rx_doorbells".into(),
                count(|g| g.rx_doorbells),
                "count",
            ),
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

/// The metrics of one run of the `usertests` phase: its seconds (NaN, so null, when it failed)
/// and whether it passed (1 or 0).
pub fn usertests_metrics(u: &UsertestsRun) -> Vec<Metric> {
    vec![
        (
            "usertests_s".to_string(),
            u.seconds().unwrap_or(f64::NAN),
            "s",
        ),
        (
            "usertests_passed".to_string(),
            if u.seconds().is_some() { 1.0 } else { 0.0 },
            "count",
        ),
    ]
}

/// Every record: (configuration, run, metric), the network configurations' first, then the
/// `usertests` phase's.
fn all_records<'a>(runs: &'a [Run], usertests: &[UsertestsRun]) -> Vec<(&'a str, usize, Metric)> {
    let network = runs.iter().flat_map(|r| {
        metrics(&r.result)
            .into_iter()
            .map(|m| (r.config.as_str(), r.run, m))
    });
    let phase = usertests.iter().flat_map(|u| {
        usertests_metrics(u)
            .into_iter()
            .map(|m| (usertests::CONFIG, u.run, m))
    });
    network.chain(phase).collect()
}

/// The metric prefix of an HTTP phase.
pub(crate) fn http_mode(keep_alive: bool) -> &'static str {
    if keep_alive {
        "http_keepalive"
    } else {
        "http_close"
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number as JSON has it: no NaN or infinity, a missing statistic is null.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `bench.json`: the machine, one record per configuration, run and metric, each run's
/// details, how each run of the `usertests` phase ended, and the targets table's rows.
#[derive(serde::Serialize)]
struct Json<'a> {
    machine: &'a Machine,
    records: Vec<Record<'a>>,
    runs: Vec<Details<'a>>,
    usertests: Vec<UsertestsDetails<'a>>,
    targets: Vec<targets::Row>,
}

#[derive(serde::Serialize)]
struct UsertestsDetails<'a> {
    run: usize,
    passed: bool,
    seconds: Option<f64>,
    failure: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct Record<'a> {
    config: &'a str,
    run: usize,
    metric: String,
    value: Option<f64>,
    unit: &'static str,
}

/// What one run saw beyond its metrics: the kernel's card line, the socket buffer, every rate
/// try and the distinct errors of each HTTP phase.
#[derive(serde::Serialize)]
struct Details<'a> {
    config: &'a str,
    run: usize,
    boot: &'a str,
    recv_buffer: usize,
    zero_loss_tries: Vec<Try>,
    delivery99_tries: Vec<Try>,
    http_errors: HttpErrors<'a>,
}

#[derive(serde::Serialize)]
struct Try {
    target: Option<f64>,
    achieved: Option<f64>,
    sent: u32,
    received: u32,
}

fn tries(tries: &[Exchange]) -> Vec<Try> {
    tries
        .iter()
        .map(|t| Try {
            target: finite(t.target),
            achieved: finite(t.achieved),
            sent: t.sent,
            received: t.received,
        })
        .collect()
}

/// The HTTP phases' errors as an object keyed by phase, in the order the phases ran.
struct HttpErrors<'a>(&'a RunResult);

impl Serialize for HttpErrors<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .http
                .iter()
                .map(|h| (http_mode(h.plan.keep_alive), &h.error_kinds)),
        )
    }
}

/// The whole benchmark as JSON: the machine, then one record per configuration, run and metric,
/// then every rate try of each run (what the delivery figures are drawn from), then each run of
/// the `usertests` phase with its failure, if any, then the targets judged ([`targets::judge`]).
pub fn to_json(machine: &Machine, runs: &[Run], usertests: &[UsertestsRun]) -> String {
    let records = all_records(runs, usertests)
        .into_iter()
        .map(|(config, run, (metric, value, unit))| Record {
            config,
            run,
            metric,
            value: finite(value),
            unit,
        })
        .collect();
    let details = runs
        .iter()
        .map(|r| Details {
            config: &r.config,
            run: r.run,
            boot: &r.boot,
            recv_buffer: r.result.recv_buffer,
            zero_loss_tries: tries(&r.result.zero_loss.tries),
            delivery99_tries: tries(&r.result.delivery99.tries),
            http_errors: HttpErrors(&r.result),
        })
        .collect();
    let usertests_details = usertests
        .iter()
        .map(|u| UsertestsDetails {
            run: u.run,
            passed: u.seconds().is_some(),
            seconds: u.seconds(),
            failure: u.failure(),
        })
        .collect();
    let json = Json {
        machine,
        records,
        runs: details,
        usertests: usertests_details,
        targets: targets::judge(runs, usertests),
    };
    let mut s = serde_json::to_string_pretty(&json).expect("strings and numbers serialize");
    s.push('\n');
    s
}

/// The records as CSV, each row carrying the machine's description.
pub fn to_csv(machine: &Machine, runs: &[Run], usertests: &[UsertestsRun]) -> String {
    let mut s = String::from("config,run,metric,value,unit,date,nproc,cpu,qemu\n");
    for (config, run, (metric, value, unit)) in all_records(runs, usertests) {
        let value = if value.is_finite() {
            value.to_string()
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{}",
            csv_field(config),
            run,
            metric,
            value,
            unit,
            csv_field(&machine.date),
            machine.nproc,
            csv_field(&machine.cpu),
            csv_field(&machine.qemu)
        );
    }
    s
}

/// Writes bench.json, bench.csv, summary.md, delivery.svg, latency.svg and throughput.svg into
/// `dir`.
pub fn write_all(
    dir: &Path,
    machine: &Machine,
    runs: &[Run],
    usertests: &[UsertestsRun],
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bench.json"), to_json(machine, runs, usertests))?;
    std::fs::write(dir.join("bench.csv"), to_csv(machine, runs, usertests))?;
    std::fs::write(dir.join("summary.md"), to_summary(machine, runs, usertests))?;
    crate::plot::delivery(dir, runs)?;
    crate::plot::latency(dir, runs)?;
    crate::plot::throughput(dir, runs)
}

/// Runs for the tests of the reports and the figures.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::costs::{GuestTime, PhaseCost};
    use crate::http::{HttpPlan, HttpResult};
    use crate::tcp::{Bulk, TcpResult};
    use crate::{Latency, Nic, Search};
    use std::time::Duration;

    const E1000_16: Target = Target::Guest {
        nic: Nic::E1000,
        ring: Some(16),
    };

    pub fn run(config: &str, n: usize, zero: f64) -> Run {
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

    /// A guest run with every figure, and the device ceiling of its card.
    pub fn full_runs() -> Vec<Run> {
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
            tx_doorbells: 10,
            rx_doorbells: 6,
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::{full_runs, run};
    use super::*;
    use serde_json::Value;

    fn parse(json: &str) -> Value {
        serde_json::from_str(json).expect("valid JSON")
    }

    /// The value of the first record of `metric`.
    fn record(json: &Value, metric: &str) -> Value {
        json["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"] == metric)
            .map(|r| r["value"].clone())
            .unwrap_or_else(|| panic!("no record of {metric}"))
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
        let json = to_json(&m, &runs, &[]);
        assert!(json.contains("\"cpu\": \"CPU, \\\"fast\\\"\""), "{json}");
        assert_eq!(record(&parse(&json), "latency_10_avg"), Value::Null);
        let csv = to_csv(&m, &runs, &[]);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("e1000 ring 16,1,zero_loss_target,4000,pkt/s,")
        );
        assert!(csv.contains("\"CPU, \"\"fast\"\"\""));
        let summary = to_summary(&m, &runs, &[]);
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
            summary.contains("| TCP guest→host ≥ 500 Mbit/s | e1000 ring 16 | n/a | – | n/a |"),
            "{summary}"
        );
        assert!(
            !summary.contains("Guest time over the UDP phases"),
            "{summary}"
        );
    }

    #[test]
    fn targets_tcp_http_counters_and_costs_are_reported() {
        let mut m = Machine::default();
        m.notes.push("virtio device ceiling skipped: why".into());
        let runs = full_runs();
        let summary = to_summary(&m, &runs, &[]);
        for want in [
            "- note: virtio device ceiling skipped: why",
            "| zero-loss UDP echo, best user program ≥ 75% of the device ceiling \
             | e1000 ring 16 vs e1000 device ceiling ring 64 | 19999 vs 40000 pkt/s | 0.50 | no |",
            "| TCP guest→host ≥ 500 Mbit/s | e1000 ring 16 | 250.0 Mbit/s | – | no |",
            "| TCP host→guest ≥ 500 Mbit/s | e1000 ring 16 | 100.0 Mbit/s | – | no |",
            "| HTTP keep-alive (4 clients) ≥ 3000 req/s | e1000 ring 16 | 3000 req/s | – | yes |",
            "| HTTP new connection per request (4 clients) ≥ 1000 req/s | e1000 ring 16 \
             | 500 req/s | – | no |",
            "| device ceiling's zero-loss spread, (max − min) / median, ≤ 20% \
             | e1000 device ceiling ring 64 | 40000 pkt/s, 1 run | – | n/a |",
            "| guest → host | 31.25 | 250.0 | 4194304 | 0.13 | 1.00 |",
            "| keep-alive | 3000 | 2.000 | 3.000 | 3000 | 1 |",
            "| new connection per request | 500 | 2.000 | 3.000 | 500 | 1 |",
            "| 2.00 | 20 | 80 | 10 | 60 | 40 | 50 |",
            "| udp | 0.50 | 2.00 | 25.0 |",
        ] {
            assert!(summary.contains(want), "{want}\n{summary}");
        }
        // The ceiling is a reference, not a configuration judged against the guests' targets.
        assert!(
            !summary.contains("| e1000 device ceiling ring 64 vs"),
            "{summary}"
        );
        let json = to_json(&m, &runs, &[]);
        let v = parse(&json);
        assert_eq!(
            v["machine"]["notes"],
            serde_json::json!(["virtio device ceiling skipped: why"])
        );
        // The phases' errors, keyed in the order the phases ran.
        let errors = &v["runs"][1]["http_errors"];
        assert_eq!(
            errors["http_keepalive"],
            serde_json::json!(["TimedOut: timed out"])
        );
        assert!(errors["http_close"].is_array(), "{json}");
        // The targets table's rows, machine-readable.
        let best = v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "e1000.zero_loss_best_vs_ceiling")
            .expect("the best user program's row");
        assert_eq!(best["met"], "no");
        assert_eq!(best["value"]["median"], 19_999.0);
        assert_eq!(best["reference"]["median"], 40_000.0);
        assert_eq!(
            best["rule"],
            serde_json::json!({"on": "ratio", "op": ">=", "limit": 0.75})
        );
        let at = |key: &str| json.find(&format!("\"{key}\": [")).unwrap();
        assert!(at("http_keepalive") < at("http_close"), "{json}");
        for metric in [
            "tcp_host_to_guest_mbit_per_s",
            "http_close_req_per_s",
            "guest_stack_ns_per_packet",
            "generator_udp_cpu_share",
        ] {
            assert!(json.contains(metric), "{metric}");
        }
        let csv = to_csv(&m, &runs, &[]);
        assert!(csv.contains("e1000 ring 16,1,http_keepalive_req_per_s,3000,req/s,"));
    }

    fn usertests_runs() -> Vec<UsertestsRun> {
        use crate::usertests::Outcome;
        use std::time::Duration;
        vec![
            UsertestsRun {
                run: 1,
                outcome: Outcome::Passed(Duration::from_secs(150)),
            },
            UsertestsRun {
                run: 2,
                outcome: Outcome::Failed("usertests failed: sbrkbugs (log: x.log)".into()),
            },
            UsertestsRun {
                run: 3,
                outcome: Outcome::Passed(Duration::from_secs(160)),
            },
        ]
    }

    #[test]
    fn usertests_runs_are_records_a_section_and_a_target_row() {
        let m = Machine::default();
        let runs = full_runs();
        let ut = usertests_runs();
        let json = to_json(&m, &runs, &ut);
        let v = parse(&json);
        let values: Vec<Value> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["metric"] == "usertests_s")
            .map(|r| {
                assert_eq!(r["config"], "no network card");
                assert_eq!(r["unit"], "s");
                r["value"].clone()
            })
            .collect();
        assert_eq!(
            values,
            [
                serde_json::json!(150.0),
                Value::Null,
                serde_json::json!(160.0)
            ]
        );
        assert_eq!(
            v["usertests"][1],
            serde_json::json!({
                "run": 2,
                "passed": false,
                "seconds": null,
                "failure": "usertests failed: sbrkbugs (log: x.log)"
            })
        );
        assert_eq!(v["usertests"][0]["passed"], true);
        let csv = to_csv(&m, &runs, &ut);
        for want in [
            "\nno network card,1,usertests_s,150,s,",
            "\nno network card,2,usertests_s,,s,",
            "\nno network card,2,usertests_passed,0,count,",
            "\nno network card,3,usertests_passed,1,count,",
        ] {
            assert!(csv.contains(want), "{want}\n{csv}");
        }
        let summary = to_summary(&m, &runs, &ut);
        for want in [
            "| usertests (all) time — reported, no target | no network card \
             | 155.00 (150.00–160.00) s | – | n/a |",
            "## usertests (all), no network card (3 runs)",
            "| time to the verdict | 155.00 (150.00–160.00) | 2 of 3 |",
            "- run 2 failed: usertests failed: sbrkbugs (log: x.log)",
        ] {
            assert!(summary.contains(want), "{want}\n{summary}");
        }
        // The row closes the targets table, before the first configuration's section.
        let row = summary.find("| usertests (all) time").unwrap();
        assert!(row < summary.find("\n## e1000").unwrap(), "{summary}");
    }

    #[test]
    fn failed_or_skipped_usertests_are_said_so() {
        let m = Machine::default();
        let failed = &usertests_runs()[1..2];
        let summary = to_summary(&m, &full_runs(), failed);
        assert!(
            summary.contains(
                "| usertests (all) time — reported, no target | no network card | failed | – | n/a |"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("| time to the verdict | – | 0 of 1 |"),
            "{summary}"
        );
        let skipped = to_summary(&m, &full_runs(), &[]);
        assert!(!skipped.contains("usertests"), "{skipped}");
        assert_eq!(
            parse(&to_json(&m, &full_runs(), &[]))["usertests"],
            serde_json::json!([])
        );
    }

    #[test]
    fn usertests_alone_write_every_output() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &Machine::default(), &[], &usertests_runs()).unwrap();
        for file in [
            "bench.json",
            "bench.csv",
            "summary.md",
            "delivery.svg",
            "latency.svg",
            "throughput.svg",
        ] {
            assert!(dir.path().join(file).exists(), "{file}");
        }
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(
            summary.contains("| 155.00 (150.00–160.00) | 2 of 3 |"),
            "{summary}"
        );
    }

    #[test]
    fn missing_guest_counters_are_reported_as_na() {
        let mut runs = full_runs();
        runs[1].result.guest_time = GuestCounters::Missing;
        let summary = to_summary(&Machine::default(), &runs, &[]);
        assert!(
            summary.contains("n/a: this kernel's `ifconfig` prints no `time:` line."),
            "{summary}"
        );
        let json = to_json(&Machine::default(), &runs, &[]);
        assert_eq!(
            record(&parse(&json), "guest_packets_per_interrupt"),
            Value::Null
        );
    }
}
