//! The performance targets of docs/bench.md ("Targets") judged against one benchmark's runs.
//!
//! Every figure is the median of the runs, with their min–max; every ratio is taken against a
//! reference measured in the same benchmark: the card's device ceiling (the driver's own echo,
//! `net.echo=1`, whatever ring it used), or for the virtio-net comparisons the E1000's figure. A
//! row whose reference is not in the run (a `--nic` filter, a skipped ceiling) says n/a rather
//! than judging against a number from elsewhere. A run in which no rate passed counts as 0 in
//! the zero-loss medians, so that the median does not hide it.
//!
//! Each card's guest figures come from one `udpecho` configuration, the one with the device
//! ceiling's ring (the like-for-like comparison; the batched echo uses that ring too), except
//! the first target, which takes the card's best user program of the run. Pure functions of the
//! runs: `summary.md`, `bench.json` and the end of `cargo xtask bench` all show these rows.

use std::fmt::Write as _;

use crate::report::Run;
use crate::summary::{fmt_num, median_spread};
use crate::usertests::{self, UsertestsRun};
use crate::{Nic, RunResult, Target};

/// The best user program's zero-loss rate, as a share of the device ceiling's, at least.
pub const BEST_SHARE: f64 = 0.75;
/// `udpecho`'s (the lab's port queue) zero-loss rate, as a share of the ceiling's, at least.
pub const UDPECHO_SHARE: f64 = 0.50;
/// The median round trip at most this many times the ceiling's, at every rate up to...
pub const RTT_MEDIAN_FACTOR: f64 = 1.5;
/// ...this rate (msg/s); no datagram lost up to it either.
pub const RTT_TOP_RATE: f64 = 1000.0;
/// The p99 round trip at [`RTT_TOP_RATE`] at most this many times the ceiling's.
pub const RTT_P99_FACTOR: f64 = 2.0;
/// HTTP requests per second with keep-alive, at least.
pub const HTTP_KEEPALIVE: f64 = 3000.0;
/// HTTP requests per second with a new connection per request, at least.
pub const HTTP_CLOSE: f64 = 1000.0;
/// TCP bulk, each way, in Mbit/s, at least.
pub const TCP_MBIT: f64 = 500.0;
/// virtio-net's figures as a share of the E1000's, at least.
pub const VIRTIO_SHARE: f64 = 0.9;
/// A device ceiling's zero-loss spread over the runs, (max − min) / median, at most.
pub const CEILING_SPREAD: f64 = 0.2;

/// Whether a target is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Met {
    #[serde(rename = "yes")]
    Yes,
    #[serde(rename = "no")]
    No,
    /// Not measured, a reference missing, or reported with no target.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Met {
    pub fn as_str(self) -> &'static str {
        match self {
            Met::Yes => "yes",
            Met::No => "no",
            Met::NotApplicable => "n/a",
        }
    }
}

/// A figure over the runs: the median (the mean of the middle two for an even count), the
/// min, the max, and how many runs had it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// The spread of the finite `values`; None when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let runs = values.iter().filter(|v| v.is_finite()).count();
        median_spread(values).map(|(median, min, max)| Spread {
            median,
            min,
            max,
            runs,
        })
    }

    /// The median, with the min–max in parentheses when they differ at the unit's precision.
    fn text(&self, unit: &str) -> String {
        let (lo, hi) = (fmt_num(self.min, unit), fmt_num(self.max, unit));
        if lo == hi {
            fmt_num(self.median, unit)
        } else {
            format!("{} ({lo}–{hi})", fmt_num(self.median, unit))
        }
    }
}

/// What a rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// The figure's median.
    Value,
    /// The row's ratio.
    Ratio,
}

/// How a rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<=")]
    AtMost,
}

/// A target's rule: `on` `op` `limit`, e.g. the ratio ≥ 0.75.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Rule {
    pub on: On,
    pub op: Op,
    pub limit: f64,
}

impl Rule {
    const fn new(on: On, op: Op, limit: f64) -> Rule {
        Rule { on, op, limit }
    }

    /// The verdict on `x` (the median or the ratio the rule is on; None: not measured).
    fn judge(&self, x: Option<f64>) -> Met {
        match x {
            None => Met::NotApplicable,
            Some(x) if x.is_nan() => Met::NotApplicable,
            Some(x) => {
                let holds = match self.op {
                    Op::AtLeast => x >= self.limit,
                    Op::AtMost => x <= self.limit,
                };
                if holds { Met::Yes } else { Met::No }
            }
        }
    }
}

/// One row of the targets table (and one element of `targets` in `bench.json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// A stable key: `CARD.figure`, `virtio_vs_e1000.figure` or `usertests_s`.
    pub id: String,
    /// The target in words.
    pub target: String,
    /// The configuration measured, and what it was compared with ("A vs B").
    pub config: String,
    /// The measured cell as the table shows it.
    pub measured: String,
    pub unit: &'static str,
    /// The figure judged, over the runs.
    pub value: Option<Spread>,
    /// What the ratio is taken against, over the runs (a ceiling, or the E1000's figure).
    pub reference: Option<Spread>,
    pub ratio: Option<f64>,
    /// None: reported, with no target.
    pub rule: Option<Rule>,
    pub met: Met,
}

impl Row {
    /// The verdict of `rule` on `value` or `ratio` (either may be infinite: judged, but shown
    /// and written as missing).
    #[allow(clippy::too_many_arguments)]
    fn judged(
        id: String,
        target: String,
        config: String,
        measured: String,
        unit: &'static str,
        value: Option<Spread>,
        reference: Option<Spread>,
        ratio: Option<f64>,
        rule: Rule,
    ) -> Row {
        let met = rule.judge(match rule.on {
            On::Value => value.map(|v| v.median),
            On::Ratio => ratio,
        });
        Row {
            id,
            target,
            config,
            measured,
            unit,
            value,
            reference,
            ratio: ratio.filter(|r| r.is_finite()),
            rule: Some(rule),
            met,
        }
    }
}

/// A user-program configuration's per-run zero-loss rate (0 when no rate passed).
fn zero_loss(r: &RunResult) -> Option<f64> {
    Some(r.zero_loss.best.as_ref().map_or(0.0, |b| b.achieved))
}

/// One latency statistic at `rate`, if the run measured it.
fn at_rate(r: &RunResult, rate: f64, stat: fn(&crate::Latency) -> f64) -> Option<f64> {
    r.latency
        .iter()
        .find(|l| l.rate == rate)
        .map(stat)
        .filter(|v| v.is_finite())
}

/// The worst (largest) median round trip of a run at rates 1 to [`RTT_TOP_RATE`].
fn worst_median(r: &RunResult) -> Option<f64> {
    r.latency
        .iter()
        .filter(|l| l.rate <= RTT_TOP_RATE && l.median.is_finite())
        .map(|l| l.median)
        .reduce(f64::max)
}

/// Datagrams a run lost at rates 1 to [`RTT_TOP_RATE`] (None: it measured no such rate).
fn lost_to_top(r: &RunResult) -> Option<f64> {
    r.latency
        .iter()
        .filter(|l| l.rate <= RTT_TOP_RATE)
        .map(|l| f64::from(l.lost))
        .reduce(|a, b| a + b)
}

fn tcp_guest_to_host(r: &RunResult) -> Option<f64> {
    r.tcp.map(|t| t.guest_to_host.mbit_per_s())
}

fn tcp_host_to_guest(r: &RunResult) -> Option<f64> {
    r.tcp.map(|t| t.host_to_guest.mbit_per_s())
}

fn http(r: &RunResult, keep_alive: bool) -> Option<f64> {
    r.http
        .iter()
        .find(|h| h.plan.keep_alive == keep_alive)
        .map(|h| h.per_second())
        .filter(|v| v.is_finite())
}

fn http_keepalive(r: &RunResult) -> Option<f64> {
    http(r, true)
}

fn http_close(r: &RunResult) -> Option<f64> {
    http(r, false)
}

/// The configurations of a run, in order of first appearance, with what each ran against.
struct Configs<'a> {
    runs: &'a [Run],
    list: Vec<(&'a str, Target)>,
}

impl<'a> Configs<'a> {
    fn new(runs: &'a [Run]) -> Configs<'a> {
        let mut list: Vec<(&str, Target)> = Vec::new();
        for r in runs {
            if !list.iter().any(|(c, _)| *c == r.config) {
                list.push((&r.config, r.target));
            }
        }
        Configs { runs, list }
    }

    /// The figure `f` over the runs of `config`.
    fn over(&self, config: &str, f: impl Fn(&RunResult) -> Option<f64>) -> Option<Spread> {
        let values: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.config == config)
            .filter_map(|r| f(&r.result))
            .collect();
        Spread::of(&values)
    }

    /// The card's device ceiling and its ring.
    fn ceiling(&self, nic: Nic) -> Option<(&'a str, Option<usize>)> {
        self.list.iter().find_map(|&(c, t)| match t {
            Target::DeviceEcho { nic: n, ring } if n == nic => Some((c, ring)),
            _ => None,
        })
    }

    /// The card's configuration of one kind (`udpecho` or the batched echo): the one with the
    /// device ceiling's ring, else the last one listed (the largest ring).
    fn pick(&self, nic: Nic, batched: bool) -> Option<&'a str> {
        let ceiling_ring = self.ceiling(nic).map(|(_, r)| r);
        let mut last = None;
        for &(c, t) in &self.list {
            let ring = match t {
                Target::Guest { nic: n, ring } if n == nic && !batched => ring,
                Target::BatchedEcho { nic: n, ring } if n == nic && batched => ring,
                _ => continue,
            };
            if Some(ring) == ceiling_ring {
                return Some(c);
            }
            last = Some(c);
        }
        last
    }

    /// The card's `udpecho` configuration whose figures the card's rows judge.
    fn udpecho(&self, nic: Nic) -> Option<&'a str> {
        self.pick(nic, false)
    }

    /// The card's user-program configuration with the highest median zero-loss rate (the
    /// first of equals).
    fn best_user_program(&self, nic: Nic) -> Option<&'a str> {
        let mut best: Option<(&str, f64)> = None;
        for &(c, t) in &self.list {
            let (Target::Guest { nic: n, .. } | Target::BatchedEcho { nic: n, .. }) = t else {
                continue;
            };
            if n != nic {
                continue;
            }
            let zero = self.over(c, zero_loss).map_or(0.0, |s| s.median);
            if best.is_none_or(|(_, b)| zero > b) {
                best = Some((c, zero));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// `value` / `reference` (`reference` / `value` when `inverted`), when the divisor is positive.
fn ratio_of(value: Option<Spread>, reference: Option<Spread>, inverted: bool) -> Option<f64> {
    let (v, r) = (value?.median, reference?.median);
    let (num, den) = if inverted { (r, v) } else { (v, r) };
    (den > 0.0).then_some(num / den)
}

/// The configuration cell of a comparison: "A vs B", or which side the run lacks.
fn versus(config: Option<&str>, what: &str, reference: Option<&str>, missing_ref: &str) -> String {
    match (config, reference) {
        (Some(c), Some(r)) => format!("{c} vs {r}"),
        (Some(c), None) => format!("{c}; no {missing_ref} in this run"),
        (None, Some(r)) => format!("no {what} in this run; {r}"),
        (None, None) => format!("no {what} or {missing_ref} in this run"),
    }
}

/// The measured cell of a comparison: "V vs R unit", or the side that was measured.
fn measured_vs(value: Option<Spread>, reference: Option<Spread>, unit: &str) -> String {
    match (value, reference) {
        (Some(v), Some(r)) => format!("{} vs {} {unit}", v.text(unit), r.text(unit)),
        (Some(v), None) => format!("{} {unit}", v.text(unit)),
        (None, Some(r)) => format!("n/a vs {} {unit}", r.text(unit)),
        (None, None) => "n/a".into(),
    }
}

/// A figure of `config` as a share of the same figure of `reference`, judged by `rule`.
#[allow(clippy::too_many_arguments)]
fn share_row(
    c: &Configs,
    id: String,
    target: String,
    unit: &'static str,
    f: fn(&RunResult) -> Option<f64>,
    (config, what): (Option<&str>, &str),
    (reference, missing_ref): (Option<&str>, &str),
    inverted: bool,
    rule: Rule,
) -> Row {
    let value = config.and_then(|cfg| c.over(cfg, f));
    let refv = reference.and_then(|r| c.over(r, f));
    Row::judged(
        id,
        target,
        versus(config, what, reference, missing_ref),
        measured_vs(value, refv, unit),
        unit,
        value,
        refv,
        ratio_of(value, refv, inverted),
        rule,
    )
}

/// An absolute target on a figure of the card's `udpecho` configuration.
fn value_row(
    c: &Configs,
    nic: Nic,
    (name, target): (&str, String),
    unit: &'static str,
    f: fn(&RunResult) -> Option<f64>,
    rule: Rule,
) -> Row {
    let card = nic.name();
    let config = c.udpecho(nic);
    let value = config.and_then(|cfg| c.over(cfg, f));
    Row::judged(
        format!("{card}.{name}"),
        target,
        config.map_or(
            format!("no {card} udpecho configuration in this run"),
            str::to_string,
        ),
        value.map_or("n/a".into(), |v| format!("{} {unit}", v.text(unit))),
        unit,
        value,
        None,
        None,
        rule,
    )
}

/// The card's median round trip against its ceiling's at every rate of 1 to [`RTT_TOP_RATE`]
/// both measured: the worst rate's ratio. A rate where the guest has no sample is the worst.
fn rtt_median_row(c: &Configs, nic: Nic) -> Row {
    let card = nic.name();
    let config = c.udpecho(nic);
    let ceiling = c.ceiling(nic).map(|(r, _)| r);
    let mut rates: Vec<f64> = c
        .runs
        .iter()
        .filter(|r| Some(r.config.as_str()) == config)
        .flat_map(|r| r.result.latency.iter().map(|l| l.rate))
        .filter(|&rate| rate <= RTT_TOP_RATE)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    // (rate, guest, ceiling, ratio) of the worst rate so far.
    let mut worst: Option<(f64, Option<Spread>, Spread, f64)> = None;
    if let (Some(cfg), Some(ceil)) = (config, ceiling) {
        for rate in rates {
            let Some(reference) = c
                .over(ceil, |r| at_rate(r, rate, |l| l.median))
                .filter(|s| s.median > 0.0)
            else {
                continue;
            };
            let value = c.over(cfg, |r| at_rate(r, rate, |l| l.median));
            let ratio = value.map_or(f64::INFINITY, |v| v.median / reference.median);
            if worst.is_none_or(|w| ratio > w.3) {
                worst = Some((rate, value, reference, ratio));
            }
        }
    }
    let unit = "ms";
    let (measured, value, reference, ratio) = match worst {
        Some((rate, value, reference, ratio)) => (
            format!(
                "{} at {rate} msg/s",
                measured_vs(value, Some(reference), unit)
            ),
            value,
            Some(reference),
            Some(ratio),
        ),
        // No rate to compare: still show the guest's worst median, unjudged.
        None => {
            let value = config.and_then(|cfg| c.over(cfg, worst_median));
            (measured_vs(value, None, unit), value, None, None)
        }
    };
    Row::judged(
        format!("{card}.rtt_median_vs_ceiling"),
        format!(
            "median round trip ≤ {RTT_MEDIAN_FACTOR}× the device ceiling's at every rate of 1–{RTT_TOP_RATE} msg/s (worst rate)"
        ),
        versus(
            config,
            &format!("{card} udpecho configuration"),
            ceiling,
            &format!("{card} device ceiling"),
        ),
        measured,
        unit,
        value,
        reference,
        ratio,
        Rule::new(On::Ratio, Op::AtMost, RTT_MEDIAN_FACTOR),
    )
}

/// The card's rows: the zero-loss shares of its ceiling, round trips, loss, HTTP, TCP.
fn card_rows(c: &Configs, nic: Nic) -> Vec<Row> {
    let card = nic.name();
    let ceiling = c.ceiling(nic).map(|(r, _)| r);
    let ceiling_name = format!("{card} device ceiling");
    let udpecho = c.udpecho(nic);
    let pct = |share: f64| format!("{:.0}%", share * 100.0);
    let mut rows = vec![
        share_row(
            c,
            format!("{card}.zero_loss_best_vs_ceiling"),
            format!(
                "zero-loss UDP echo, best user program ≥ {} of the device ceiling",
                pct(BEST_SHARE)
            ),
            "pkt/s",
            zero_loss,
            (
                c.best_user_program(nic),
                &format!("{card} user-program configuration"),
            ),
            (ceiling, &ceiling_name),
            false,
            Rule::new(On::Ratio, Op::AtLeast, BEST_SHARE),
        ),
        share_row(
            c,
            format!("{card}.zero_loss_udpecho_vs_ceiling"),
            format!(
                "zero-loss UDP echo, udpecho ≥ {} of the device ceiling",
                pct(UDPECHO_SHARE)
            ),
            "pkt/s",
            zero_loss,
            (udpecho, &format!("{card} udpecho configuration")),
            (ceiling, &ceiling_name),
            false,
            Rule::new(On::Ratio, Op::AtLeast, UDPECHO_SHARE),
        ),
        rtt_median_row(c, nic),
        value_row(
            c,
            nic,
            (
                "lost_to_1000",
                format!("no datagram lost at 1–{RTT_TOP_RATE} msg/s (lost per run)"),
            ),
            "lost",
            lost_to_top,
            Rule::new(On::Value, Op::AtMost, 0.0),
        ),
    ];
    let p99 = |r: &RunResult| at_rate(r, RTT_TOP_RATE, |l| l.p99);
    rows.push(share_row(
        c,
        format!("{card}.rtt_p99_vs_ceiling"),
        format!("p99 round trip at {RTT_TOP_RATE} msg/s ≤ {RTT_P99_FACTOR}× the device ceiling's"),
        "ms",
        p99,
        (udpecho, &format!("{card} udpecho configuration")),
        (ceiling, &ceiling_name),
        false,
        Rule::new(On::Ratio, Op::AtMost, RTT_P99_FACTOR),
    ));
    for (name, target, unit, f, limit) in [
        (
            "http_keepalive",
            "HTTP keep-alive (4 clients)",
            "req/s",
            http_keepalive as fn(&RunResult) -> Option<f64>,
            HTTP_KEEPALIVE,
        ),
        (
            "http_close",
            "HTTP new connection per request (4 clients)",
            "req/s",
            http_close,
            HTTP_CLOSE,
        ),
        (
            "tcp_guest_to_host",
            "TCP guest→host",
            "Mbit/s",
            tcp_guest_to_host,
            TCP_MBIT,
        ),
        (
            "tcp_host_to_guest",
            "TCP host→guest",
            "Mbit/s",
            tcp_host_to_guest,
            TCP_MBIT,
        ),
    ] {
        rows.push(value_row(
            c,
            nic,
            (name, format!("{target} ≥ {limit:.0} {unit}")),
            unit,
            f,
            Rule::new(On::Value, Op::AtLeast, limit),
        ));
    }
    rows
}

/// A figure compared between the cards.
struct Compared {
    name: &'static str,
    /// The figure in words.
    words: &'static str,
    unit: &'static str,
    of: fn(&RunResult) -> Option<f64>,
    /// The batched echo's figure (else `udpecho`'s).
    batched: bool,
    /// Less is better: the ratio is E1000 / virtio.
    inverted: bool,
}

impl Compared {
    const fn new(name: &'static str, words: &'static str, unit: &'static str) -> Compared {
        Compared {
            name,
            words,
            unit,
            of: zero_loss,
            batched: false,
            inverted: false,
        }
    }

    const fn of(self, of: fn(&RunResult) -> Option<f64>) -> Compared {
        Compared { of, ..self }
    }
}

/// The figures virtio-net is compared on.
const COMPARED: [Compared; 7] = [
    Compared::new("zero_loss_udpecho", "zero loss, udpecho", "pkt/s"),
    Compared {
        batched: true,
        ..Compared::new("zero_loss_batched", "zero loss, batched echo", "pkt/s")
    },
    Compared {
        inverted: true,
        ..Compared::new(
            "rtt_median_worst",
            "median round trip at the worst rate of 1–1000 msg/s (E1000/virtio)",
            "ms",
        )
        .of(worst_median)
    },
    Compared::new("tcp_guest_to_host", "TCP guest→host", "Mbit/s").of(tcp_guest_to_host),
    Compared::new("tcp_host_to_guest", "TCP host→guest", "Mbit/s").of(tcp_host_to_guest),
    Compared::new("http_keepalive", "HTTP keep-alive", "req/s").of(http_keepalive),
    Compared::new("http_close", "HTTP new connection per request", "req/s").of(http_close),
];

/// virtio-net against the E1000, figure by figure: virtio / E1000 (E1000 / virtio for the
/// round trip, where less is better), so that ≥ [`VIRTIO_SHARE`] is met either way.
fn virtio_rows(c: &Configs) -> Vec<Row> {
    COMPARED
        .iter()
        .map(|fig| {
            let kind = if fig.batched {
                "batched echo"
            } else {
                "udpecho"
            };
            share_row(
                c,
                format!("virtio_vs_e1000.{}", fig.name),
                format!(
                    "virtio-net ≥ {:.0}% of the E1000: {}",
                    VIRTIO_SHARE * 100.0,
                    fig.words
                ),
                fig.unit,
                fig.of,
                (
                    c.pick(Nic::Virtio, fig.batched),
                    &format!("virtio {kind} configuration"),
                ),
                (
                    c.pick(Nic::E1000, fig.batched),
                    &format!("e1000 {kind} configuration"),
                ),
                fig.inverted,
                Rule::new(On::Ratio, Op::AtLeast, VIRTIO_SHARE),
            )
        })
        .collect()
}

/// A device ceiling's zero-loss spread over the runs, (max − min) / median: n/a with one run,
/// not met when the median itself is 0 (no rate passed in most runs).
fn spread_row(c: &Configs, nic: Nic) -> Row {
    let card = nic.name();
    let ceiling = c.ceiling(nic).map(|(r, _)| r);
    let value = ceiling.and_then(|cfg| c.over(cfg, zero_loss));
    let spread = value.filter(|v| v.runs > 1).map(|v| {
        if v.median > 0.0 {
            (v.max - v.min) / v.median
        } else {
            f64::INFINITY
        }
    });
    let unit = "pkt/s";
    Row::judged(
        format!("{card}.ceiling_spread"),
        format!(
            "device ceiling's zero-loss spread, (max − min) / median, ≤ {:.0}%",
            CEILING_SPREAD * 100.0
        ),
        ceiling.map_or(
            format!("no {card} device ceiling in this run"),
            str::to_string,
        ),
        value.map_or("n/a".into(), |v| {
            let runs = if v.runs == 1 { "run" } else { "runs" };
            format!("{} {unit}, {} {runs}", v.text(unit), v.runs)
        }),
        unit,
        value,
        None,
        spread,
        Rule::new(On::Ratio, Op::AtMost, CEILING_SPREAD),
    )
}

/// The `usertests` phase's time: reported, with no target.
fn usertests_row(runs: &[UsertestsRun]) -> Row {
    let seconds: Vec<f64> = runs.iter().filter_map(UsertestsRun::seconds).collect();
    let value = Spread::of(&seconds);
    Row {
        id: "usertests_s".into(),
        target: "usertests (all) time — reported, no target".into(),
        config: usertests::CONFIG.into(),
        measured: value.map_or("failed".into(), |v| format!("{} s", v.text("s"))),
        unit: "s",
        value,
        reference: None,
        ratio: None,
        rule: None,
        met: Met::NotApplicable,
    }
}

/// Every target row of a benchmark: per card (E1000, then virtio-net) its shares of its device
/// ceiling, round trips, loss, HTTP and TCP; virtio-net against the E1000; each ceiling's spread;
/// and the `usertests` time. The network rows appear when any network configuration ran (with
/// n/a for what the run lacks), the `usertests` row when that phase ran.
pub fn judge(runs: &[Run], usertests: &[UsertestsRun]) -> Vec<Row> {
    let mut rows = Vec::new();
    if !runs.is_empty() {
        let c = Configs::new(runs);
        for nic in [Nic::E1000, Nic::Virtio] {
            rows.extend(card_rows(&c, nic));
        }
        rows.extend(virtio_rows(&c));
        for nic in [Nic::E1000, Nic::Virtio] {
            rows.push(spread_row(&c, nic));
        }
    }
    if !usertests.is_empty() {
        rows.push(usertests_row(usertests));
    }
    rows
}

/// The rows as a Markdown table.
pub fn to_markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| target | configuration | measured | ratio | met |\n|---|---|---|---:|---|\n",
    );
    for r in rows {
        let ratio = r.ratio.map_or("–".into(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {ratio} | {} |",
            r.target,
            r.config,
            r.measured,
            r.met.as_str()
        );
    }
    s
}

/// The ceiling of `nic` in `runs`, the median of its zero-loss rate (for the figures' lines).
pub fn ceiling_zero_loss(runs: &[Run], nic: Nic) -> Option<f64> {
    let c = Configs::new(runs);
    let (config, _) = c.ceiling(nic)?;
    c.over(config, zero_loss)
        .map(|s| s.median)
        .filter(|&m| m > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpPlan, HttpResult};
    use crate::tcp::{Bulk, TcpResult};
    use crate::{Exchange, Latency, Search};
    use std::time::Duration;

    const E1000_CEILING: Target = Target::DeviceEcho {
        nic: Nic::E1000,
        ring: Some(64),
    };
    const E1000_16: Target = Target::Guest {
        nic: Nic::E1000,
        ring: Some(16),
    };
    const E1000_64: Target = Target::Guest {
        nic: Nic::E1000,
        ring: Some(64),
    };
    const E1000_BATCHED: Target = Target::BatchedEcho {
        nic: Nic::E1000,
        ring: Some(64),
    };
    const VIRTIO_CEILING: Target = Target::DeviceEcho {
        nic: Nic::Virtio,
        ring: None,
    };
    const VIRTIO: Target = Target::Guest {
        nic: Nic::Virtio,
        ring: None,
    };
    const VIRTIO_BATCHED: Target = Target::BatchedEcho {
        nic: Nic::Virtio,
        ring: None,
    };

    /// Run `n` of `target`: zero loss at `zero` pkt/s achieved (None: no rate passed), and
    /// (rate, median, p99, lost) per latency rate.
    fn run(target: Target, n: usize, zero: Option<f64>, latency: &[(f64, f64, f64, u32)]) -> Run {
        let best = zero.map(|z| Exchange {
            target: z,
            sent: 1000,
            received: 1000,
            achieved: z,
            rtts: Vec::new(),
        });
        Run {
            target,
            config: target.label(),
            run: n,
            boot: String::new(),
            result: RunResult {
                zero_loss: Search {
                    best,
                    tries: Vec::new(),
                },
                latency: latency
                    .iter()
                    .map(|&(rate, median, p99, lost)| Latency {
                        rate,
                        samples: 100,
                        lost,
                        median,
                        p99,
                        ..Latency::default()
                    })
                    .collect(),
                ..RunResult::default()
            },
        }
    }

    /// `r` with TCP bulk at these Mbit/s each way and HTTP at these req/s, keep-alive and not.
    fn with_tcp_http(mut r: Run, g2h: f64, h2g: f64, keep_alive: u32, close: u32) -> Run {
        // 1,000,000 bytes are 8 Mbit.
        let bulk = |mbit: f64| Bulk {
            planned: 1_000_000,
            bytes: 1_000_000,
            elapsed: Duration::from_secs_f64(8.0 / mbit),
            guest_us: None,
        };
        r.result.tcp = Some(TcpResult {
            guest_to_host: bulk(g2h),
            host_to_guest: bulk(h2g),
        });
        r.result.http = [(true, keep_alive), (false, close)]
            .map(|(keep_alive, ok)| HttpResult {
                plan: HttpPlan {
                    keep_alive,
                    connections: 4,
                    requests: 50_000,
                    duration: Duration::from_secs(10),
                },
                ok,
                errors: 0,
                error_kinds: Vec::new(),
                elapsed: Duration::from_secs(1),
                latency_ms: Vec::new(),
            })
            .to_vec();
        r
    }

    fn row<'a>(rows: &'a [Row], id: &str) -> &'a Row {
        rows.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no row {id} in {rows:#?}"))
    }

    /// `a` is `b`, to the precision of the durations the figures come from.
    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-6 * b.abs().max(1.0))
    }

    /// Both cards, each with its ceiling, `udpecho` and the batched echo; the E1000's ceiling
    /// three times (40,000, 38,000, 42,000), the rest once.
    fn both_cards() -> Vec<Run> {
        let ceiling_rtt = [
            (1.0, 0.4, 0.6, 0),
            (10.0, 0.3, 0.5, 0),
            (100.0, 0.3, 0.5, 0),
            (1000.0, 0.1, 0.5, 0),
            (10_000.0, 0.1, 0.5, 0),
        ];
        vec![
            run(E1000_CEILING, 1, Some(40_000.0), &ceiling_rtt),
            run(E1000_CEILING, 2, Some(38_000.0), &ceiling_rtt),
            run(E1000_CEILING, 3, Some(42_000.0), &ceiling_rtt),
            // The smaller ring: not the card's udpecho configuration, not its best either.
            with_tcp_http(
                run(E1000_16, 1, Some(10_000.0), &[(1.0, 9.0, 9.0, 5)]),
                1.0,
                1.0,
                1,
                1,
            ),
            with_tcp_http(
                run(
                    E1000_64,
                    1,
                    Some(25_000.0),
                    // Ratios 1.25, 1.33, 1.5, 3.0; 10,000 msg/s is beyond the targets.
                    &[
                        (1.0, 0.5, 1.0, 0),
                        (10.0, 0.4, 1.0, 0),
                        (100.0, 0.45, 1.0, 0),
                        (1000.0, 0.3, 0.9, 0),
                        (10_000.0, 50.0, 90.0, 600),
                    ],
                ),
                600.0,
                400.0,
                3500,
                800,
            ),
            run(E1000_BATCHED, 1, Some(32_000.0), &[]),
            run(VIRTIO_CEILING, 1, Some(50_000.0), &ceiling_rtt),
            with_tcp_http(
                run(
                    VIRTIO,
                    1,
                    Some(20_000.0),
                    &[(1.0, 1.0, 1.0, 0), (1000.0, 0.2, 1.2, 2)],
                ),
                660.0,
                500.0,
                3000,
                1000,
            ),
            run(VIRTIO_BATCHED, 1, Some(45_000.0), &[]),
        ]
    }

    #[test]
    fn a_card_is_judged_against_its_own_ceiling_of_the_same_run() {
        let rows = judge(&both_cards(), &[]);
        let best = row(&rows, "e1000.zero_loss_best_vs_ceiling");
        assert_eq!(
            best.config,
            "e1000 ring 64 batched echo vs e1000 device ceiling ring 64"
        );
        assert_eq!(best.measured, "32000 vs 40000 (38000–42000) pkt/s");
        assert!(close(best.ratio, 0.8), "{best:?}");
        assert_eq!(best.met, Met::Yes);
        assert_eq!(
            best.reference,
            Some(Spread {
                median: 40_000.0,
                min: 38_000.0,
                max: 42_000.0,
                runs: 3
            })
        );
        let udpecho = row(&rows, "e1000.zero_loss_udpecho_vs_ceiling");
        assert_eq!(
            udpecho.config,
            "e1000 ring 64 vs e1000 device ceiling ring 64"
        );
        assert!(close(udpecho.ratio, 0.625));
        assert_eq!(udpecho.met, Met::Yes);
        // virtio: its best user program is 90% of its own ceiling, udpecho 40%.
        let best = row(&rows, "virtio.zero_loss_best_vs_ceiling");
        assert_eq!(
            best.config,
            "virtio default ring batched echo vs virtio device ceiling"
        );
        assert!(close(best.ratio, 0.9));
        assert_eq!(best.met, Met::Yes);
        assert_eq!(
            row(&rows, "virtio.zero_loss_udpecho_vs_ceiling").met,
            Met::No
        );
    }

    #[test]
    fn round_trips_are_judged_at_the_worst_rate_up_to_1000() {
        let rows = judge(&both_cards(), &[]);
        let median = row(&rows, "e1000.rtt_median_vs_ceiling");
        assert!(close(median.ratio, 3.0), "{median:?}");
        assert_eq!(median.measured, "0.300 vs 0.100 ms at 1000 msg/s");
        assert_eq!(median.met, Met::No);
        let p99 = row(&rows, "e1000.rtt_p99_vs_ceiling");
        assert!(close(p99.ratio, 1.8), "{p99:?}");
        assert_eq!(p99.met, Met::Yes);
        // The 600 lost at 10,000 msg/s do not count.
        let lost = row(&rows, "e1000.lost_to_1000");
        assert_eq!((lost.measured.as_str(), lost.met), ("0 lost", Met::Yes));
        let lost = row(&rows, "virtio.lost_to_1000");
        assert_eq!((lost.measured.as_str(), lost.met), ("2 lost", Met::No));
        // virtio: 1.0 / 0.4 at 1 msg/s is worse than 0.2 / 0.1 at 1,000.
        let median = row(&rows, "virtio.rtt_median_vs_ceiling");
        assert!(close(median.ratio, 2.5), "{median:?}");
        assert!(median.measured.ends_with("at 1 msg/s"), "{median:?}");
    }

    #[test]
    fn a_rate_without_any_echo_is_the_worst_rate() {
        let ceiling = [(1.0, 0.4, 0.6, 0), (1000.0, 0.1, 0.5, 0)];
        let runs = [
            run(E1000_CEILING, 1, Some(40_000.0), &ceiling),
            run(
                E1000_64,
                1,
                Some(30_000.0),
                &[(1.0, f64::NAN, f64::NAN, 3), (1000.0, 0.1, 0.2, 0)],
            ),
        ];
        let rows = judge(&runs, &[]);
        let median = row(&rows, "e1000.rtt_median_vs_ceiling");
        assert_eq!((median.ratio, median.met), (None, Met::No), "{median:?}");
        assert_eq!(median.measured, "n/a vs 0.400 ms at 1 msg/s");
    }

    #[test]
    fn absolute_targets_per_card() {
        let rows = judge(&both_cards(), &[]);
        for (id, measured, met) in [
            ("e1000.http_keepalive", "3500 req/s", Met::Yes),
            ("e1000.http_close", "800 req/s", Met::No),
            ("e1000.tcp_guest_to_host", "600.0 Mbit/s", Met::Yes),
            ("e1000.tcp_host_to_guest", "400.0 Mbit/s", Met::No),
            ("virtio.http_close", "1000 req/s", Met::Yes),
            ("virtio.tcp_host_to_guest", "500.0 Mbit/s", Met::Yes),
        ] {
            let r = row(&rows, id);
            assert_eq!(
                (r.measured.as_str(), r.met, r.ratio),
                (measured, met, None),
                "{id}"
            );
        }
        assert_eq!(row(&rows, "e1000.http_close").config, "e1000 ring 64");
        assert_eq!(
            row(&rows, "e1000.http_keepalive").target,
            "HTTP keep-alive (4 clients) ≥ 3000 req/s"
        );
    }

    #[test]
    fn virtio_is_a_share_of_the_e1000_with_round_trips_inverted() {
        let rows = judge(&both_cards(), &[]);
        for (id, ratio, met) in [
            ("virtio_vs_e1000.zero_loss_udpecho", 0.8, Met::No),
            ("virtio_vs_e1000.zero_loss_batched", 45.0 / 32.0, Met::Yes),
            // E1000 / virtio: the E1000's worst median 0.5 ms, virtio's 1.0 ms.
            ("virtio_vs_e1000.rtt_median_worst", 0.5, Met::No),
            ("virtio_vs_e1000.tcp_guest_to_host", 1.1, Met::Yes),
            ("virtio_vs_e1000.tcp_host_to_guest", 1.25, Met::Yes),
            ("virtio_vs_e1000.http_keepalive", 3000.0 / 3500.0, Met::No),
            ("virtio_vs_e1000.http_close", 1.25, Met::Yes),
        ] {
            let r = row(&rows, id);
            assert!(close(r.ratio, ratio), "{id}: {r:?}");
            assert_eq!(r.met, met, "{id}");
        }
        let batched = row(&rows, "virtio_vs_e1000.zero_loss_batched");
        assert_eq!(
            batched.config,
            "virtio default ring batched echo vs e1000 ring 64 batched echo"
        );
        // A faster virtio round trip is a ratio above 1: met.
        let mut runs = both_cards();
        for r in runs.iter_mut().filter(|r| r.target == VIRTIO) {
            r.result.latency[0].median = 0.25;
        }
        let rtt = judge(&runs, &[])
            .into_iter()
            .find(|r| r.id == "virtio_vs_e1000.rtt_median_worst")
            .unwrap();
        assert!(close(rtt.ratio, 2.0), "{rtt:?}");
        assert_eq!(rtt.met, Met::Yes);
    }

    #[test]
    fn rows_without_their_reference_are_na() {
        // `--nic e1000`, and its ceiling skipped: the E1000's own absolute figures are still
        // judged, every comparison is n/a.
        let runs = [with_tcp_http(
            run(E1000_64, 1, Some(25_000.0), &[(1.0, 0.5, 1.0, 0)]),
            600.0,
            600.0,
            3500,
            1500,
        )];
        let rows = judge(&runs, &[]);
        let best = row(&rows, "e1000.zero_loss_best_vs_ceiling");
        assert_eq!(
            (
                best.config.as_str(),
                best.measured.as_str(),
                best.ratio,
                best.met
            ),
            (
                "e1000 ring 64; no e1000 device ceiling in this run",
                "25000 pkt/s",
                None,
                Met::NotApplicable
            )
        );
        let median = row(&rows, "e1000.rtt_median_vs_ceiling");
        assert_eq!(
            (median.measured.as_str(), median.met),
            ("0.500 ms", Met::NotApplicable)
        );
        assert_eq!(row(&rows, "e1000.tcp_host_to_guest").met, Met::Yes);
        assert_eq!(row(&rows, "e1000.lost_to_1000").met, Met::Yes);
        for r in rows.iter().filter(|r| r.id.starts_with("virtio")) {
            assert_eq!((r.met, r.ratio), (Met::NotApplicable, None), "{r:?}");
        }
        let udpecho = row(&rows, "virtio_vs_e1000.zero_loss_udpecho");
        assert_eq!(
            udpecho.config,
            "no virtio udpecho configuration in this run; e1000 ring 64"
        );
        assert_eq!(
            row(&rows, "virtio.zero_loss_best_vs_ceiling").config,
            "no virtio user-program configuration or virtio device ceiling in this run"
        );
        assert_eq!(
            row(&rows, "e1000.ceiling_spread").config,
            "no e1000 device ceiling in this run"
        );
        // A ceiling where no rate passed is no reference either.
        let runs = [
            run(E1000_CEILING, 1, None, &[]),
            run(E1000_64, 1, Some(25_000.0), &[]),
        ];
        let best = judge(&runs, &[])
            .into_iter()
            .find(|r| r.id == "e1000.zero_loss_best_vs_ceiling")
            .unwrap();
        assert_eq!((best.ratio, best.met), (None, Met::NotApplicable));
    }

    #[test]
    fn a_ceiling_is_trusted_within_a_20_percent_spread() {
        let rows = judge(&both_cards(), &[]);
        let e1000 = row(&rows, "e1000.ceiling_spread");
        assert!(close(e1000.ratio, 0.1), "{e1000:?}");
        assert_eq!(e1000.met, Met::Yes);
        assert_eq!(e1000.measured, "40000 (38000–42000) pkt/s, 3 runs");
        // One run: nothing to spread.
        let virtio = row(&rows, "virtio.ceiling_spread");
        assert_eq!((virtio.ratio, virtio.met), (None, Met::NotApplicable));
        assert_eq!(virtio.measured, "50000 pkt/s, 1 run");
        let spread = |zeros: &[Option<f64>]| {
            let runs: Vec<Run> = zeros
                .iter()
                .enumerate()
                .map(|(n, &z)| run(E1000_CEILING, n + 1, z, &[]))
                .collect();
            judge(&runs, &[])
                .into_iter()
                .find(|r| r.id == "e1000.ceiling_spread")
                .map(|r| (r.ratio, r.met))
                .unwrap()
        };
        // (44,000 − 20,000) / 40,000.
        let (ratio, met) = spread(&[Some(40_000.0), Some(20_000.0), Some(44_000.0)]);
        assert!(close(ratio, 0.6));
        assert_eq!(met, Met::No);
        // Runs where no rate passed count as 0: a median of 0 is no trustworthy ceiling.
        assert_eq!(spread(&[None, None, Some(44_000.0)]), (None, Met::No));
        assert_eq!(
            spread(&[Some(40_000.0), Some(40_000.0)]),
            (Some(0.0), Met::Yes)
        );
    }

    #[test]
    fn the_best_user_program_counts_runs_below_the_range_as_zero() {
        let runs = [
            run(E1000_CEILING, 1, Some(40_000.0), &[]),
            // Batched echo: 0, 0, 36,000 (median 0); udpecho ring 16: 8,000 each run.
            run(E1000_BATCHED, 1, None, &[]),
            run(E1000_BATCHED, 2, None, &[]),
            run(E1000_BATCHED, 3, Some(36_000.0), &[]),
            run(E1000_16, 1, Some(8_000.0), &[]),
            run(E1000_16, 2, Some(8_000.0), &[]),
            run(E1000_16, 3, Some(8_000.0), &[]),
        ];
        let rows = judge(&runs, &[]);
        let best = row(&rows, "e1000.zero_loss_best_vs_ceiling");
        assert_eq!(best.config, "e1000 ring 16 vs e1000 device ceiling ring 64");
        assert!(close(best.ratio, 0.2));
        // No ring-64 udpecho: the card's udpecho is its last listed, ring 16.
        assert_eq!(
            row(&rows, "e1000.zero_loss_udpecho_vs_ceiling").config,
            "e1000 ring 16 vs e1000 device ceiling ring 64"
        );
    }

    #[test]
    fn usertests_time_is_reported_without_a_target() {
        use crate::usertests::Outcome;
        let ut = [UsertestsRun {
            run: 1,
            outcome: Outcome::Passed(Duration::from_secs(150)),
        }];
        let rows = judge(&[], &ut);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].rule, rows[0].met), (None, Met::NotApplicable));
        assert_eq!(
            to_markdown(&rows),
            "| target | configuration | measured | ratio | met |\n|---|---|---|---:|---|\n\
             | usertests (all) time — reported, no target | no network card | 150.00 s | – | n/a |\n"
        );
        assert!(judge(&[], &[]).is_empty());
    }

    #[test]
    fn rows_serialize_with_their_rule_and_verdict() {
        let rows = judge(&both_cards(), &[]);
        let v = serde_json::to_value(row(&rows, "e1000.rtt_p99_vs_ceiling")).unwrap();
        assert_eq!(
            v["rule"],
            serde_json::json!({"on": "ratio", "op": "<=", "limit": 2.0})
        );
        assert_eq!(v["met"], "yes");
        assert_eq!(v["value"]["median"], 0.9);
        let v = serde_json::to_value(row(&rows, "virtio.ceiling_spread")).unwrap();
        assert_eq!(
            (v["met"].clone(), v["ratio"].clone()),
            ("n/a".into(), serde_json::Value::Null)
        );
    }
}
