//! The benchmark's figures, as SVG (plotters' SVG backend: no fonts or system libraries):
//! `delivery.svg`, the share of datagrams echoed against the rate the sender achieved, every rate
//! try of every run, one series per configuration; `latency.svg`, the median and p99
//! round-trip time against the offered rate, one colour per configuration (both axes
//! logarithmic); and `throughput.svg`, bars of UDP zero-loss rate, TCP bulk and HTTP request
//! rates per configuration, beside the ceilings and the performance targets.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Target;
use crate::report::Run;
use crate::summary::median_spread;
use crate::{Nic, targets};

/// Series colours, one per configuration in order of appearance.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The configurations in order of first appearance.
fn configs(runs: &[Run]) -> Vec<&str> {
    let mut list: Vec<&str> = Vec::new();
    for r in runs {
        if !list.contains(&r.config.as_str()) {
            list.push(&r.config);
        }
    }
    list
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing: {e}")
}

/// Every rate try of `config`: (achieved rate, delivery in %), sorted by rate.
fn delivery_points(runs: &[Run], config: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r.config == config)
        .flat_map(|r| {
            r.result
                .zero_loss
                .tries
                .iter()
                .chain(&r.result.delivery99.tries)
        })
        .filter(|t| t.achieved > 0.0)
        .map(|t| (t.achieved, t.delivery() * 100.0))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// Draws `delivery.svg` into `dir`.
pub fn delivery(dir: &Path, runs: &[Run]) -> Result<()> {
    let path = dir.join("delivery.svg");
    let root = SVGBackend::new(&path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "UDP echo: delivery vs achieved send rate",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((500f64..60_000f64).log_scale(), 0f64..101f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("achieved send rate (pkt/s)")
        .y_desc("echoed (%)")
        .draw()
        .map_err(err)?;
    for (i, config) in configs(runs).into_iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points = delivery_points(runs, config);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), colour))
            .map_err(err)?
            .label(config)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// The median over runs of one latency statistic at each rate of `config`.
fn latency_points(runs: &[Run], config: &str, stat: fn(&super::Latency) -> f64) -> Vec<(f64, f64)> {
    let these: Vec<&Run> = runs.iter().filter(|r| r.config == config).collect();
    let Some(first) = these.first() else {
        return Vec::new();
    };
    first
        .result
        .latency
        .iter()
        .filter_map(|l| {
            let values: Vec<f64> = these
                .iter()
                .filter_map(|r| r.result.latency.iter().find(|m| m.rate == l.rate))
                .map(stat)
                .collect();
            median_spread(&values).map(|(m, _, _)| (l.rate, m))
        })
        .collect()
}

/// One bar: its label, its value (the median of the runs; None when no run has one) and its
/// colour.
type Bar = (String, Option<f64>, RGBColor);

/// Bar colours: a guest through the whole kernel, the device ceiling, the host ceiling, and the
/// second bar of a pair (host→guest, new connection per request).
const GUEST: RGBColor = RGBColor(31, 119, 180);
const DEVICE: RGBColor = RGBColor(255, 127, 14);
const HOST: RGBColor = RGBColor(127, 127, 127);
const SECOND: RGBColor = RGBColor(44, 160, 44);
/// The performance targets, drawn as vertical lines (a panel's second target in the second
/// colour).
const GOALS: [RGBColor; 2] = [RGBColor(214, 39, 40), RGBColor(148, 103, 189)];

/// The median over the runs of `config` of a figure some runs may lack.
fn median_over(runs: &[Run], config: &str, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = runs
        .iter()
        .filter(|r| r.config == config)
        .filter_map(f)
        .collect();
    median_spread(&values).map(|(m, _, _)| m)
}

/// The three panels' bars: UDP zero-loss (every configuration), TCP each way and HTTP with and
/// without keep-alive (the `udpecho` guests).
fn throughput_bars(runs: &[Run]) -> [Vec<Bar>; 3] {
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    let mut http = Vec::new();
    for config in configs(runs) {
        let Some(target) = runs.iter().find(|r| r.config == config).map(|r| r.target) else {
            continue;
        };
        let colour = match target {
            Target::Host => HOST,
            Target::DeviceEcho { .. } => DEVICE,
            Target::Guest { .. } | Target::BatchedEcho { .. } => GUEST,
        };
        // A run where no rate passed counts as 0, as in the summary's targets table.
        let zero = median_over(runs, config, |r| {
            Some(r.result.zero_loss.best.as_ref().map_or(0.0, |b| b.achieved))
        })
        .filter(|&z| z > 0.0);
        udp.push((config.to_string(), zero, colour));
        if !matches!(target, Target::Guest { .. }) {
            continue;
        }
        let g2h = median_over(runs, config, |r| {
            r.result.tcp.map(|t| t.guest_to_host.mbit_per_s())
        });
        let h2g = median_over(runs, config, |r| {
            r.result.tcp.map(|t| t.host_to_guest.mbit_per_s())
        });
        tcp.push((format!("{config} guest→host"), g2h, GUEST));
        tcp.push((format!("{config} host→guest"), h2g, SECOND));
        for (keep_alive, name, colour) in [(true, "keep-alive", GUEST), (false, "close", SECOND)] {
            let rate = median_over(runs, config, |r| {
                r.result
                    .http
                    .iter()
                    .find(|h| h.plan.keep_alive == keep_alive)
                    .map(|h| h.per_second())
                    .filter(|v| v.is_finite())
            });
            http.push((format!("{config} {name}"), rate, colour));
        }
    }
    [udp, tcp, http]
}

/// A target line: where, and its legend.
type Goal = (f64, String);

/// One panel of horizontal bars, the first bar on top, each labelled with its value (`missing`
/// when it has none), and each of the `goals` as a vertical line.
fn bar_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    bars: &[Bar],
    goals: &[Goal],
    missing: &str,
) -> Result<()> {
    let rows = bars.len();
    if rows == 0 {
        return Ok(());
    }
    let top = bars
        .iter()
        .filter_map(|b| b.1)
        .chain(goals.iter().map(|g| g.0))
        .fold(1.0, f64::max);
    let labels: Vec<String> = bars.iter().rev().map(|b| b.0.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(270)
        .build_cartesian_2d(0f64..top * 1.25, (0..rows - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .x_desc(unit)
        .draw()
        .map_err(err)?;
    // Row i counts from the bottom; bars[0] goes on top.
    let upper = |i: usize| {
        if i + 1 < rows {
            SegmentValue::Exact(i + 1)
        } else {
            SegmentValue::Last
        }
    };
    chart
        .draw_series(bars.iter().rev().enumerate().map(|(i, b)| {
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (b.1.unwrap_or(0.0), upper(i)),
                ],
                b.2.filled(),
            );
            r.set_margin(3, 3, 0, 0);
            r
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().rev().enumerate().map(|(i, b)| {
            Text::new(
                b.1.map_or(format!(" {missing}"), |v| format!(" {v:.0}")),
                (b.1.unwrap_or(0.0), SegmentValue::CenterOf(i)),
                TextStyle::from(("sans-serif", 13).into_font())
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))
        .map_err(err)?;
    for (i, (goal, label)) in goals.iter().enumerate() {
        let colour = GOALS[i % GOALS.len()];
        chart
            .draw_series(LineSeries::new(
                [(*goal, SegmentValue::Exact(0)), (*goal, SegmentValue::Last)],
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)
}

/// Draws `throughput.svg` into `dir`: UDP zero-loss rates (guests in blue, the device ceilings in
/// orange, the host's in grey), TCP bulk each way and HTTP request rates, the medians of the runs,
/// each panel with its performance targets (UDP: the best user program's share of each card's
/// device ceiling of this run, where there is one).
pub fn throughput(dir: &Path, runs: &[Run]) -> Result<()> {
    let [udp, tcp, http] = throughput_bars(runs);
    let udp_goals: Vec<Goal> = [Nic::E1000, Nic::Virtio]
        .into_iter()
        .filter_map(|nic| {
            let ceiling = targets::ceiling_zero_loss(runs, nic)?;
            Some((
                targets::BEST_SHARE * ceiling,
                format!(
                    "target {:.0}% of the {} ceiling",
                    targets::BEST_SHARE * 100.0,
                    nic.name()
                ),
            ))
        })
        .collect();
    let target = |v: f64, what: &str, unit: &str| (v, format!("target{what} {v:.0} {unit}"));
    let heights =
        [udp.len(), tcp.len(), http.len()].map(|n| if n == 0 { 0 } else { 90 + 26 * n as u32 });
    let path = dir.join("throughput.svg");
    let root =
        SVGBackend::new(&path, (1000, heights.iter().sum::<u32>().max(100))).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (first, rest) = root.split_vertically(heights[0]);
    let (second, third) = rest.split_vertically(heights[1]);
    bar_panel(
        &first,
        "UDP echo: zero-loss rate achieved by the sender, vs the device and host ceilings",
        "pkt/s",
        &udp,
        &udp_goals,
        "< 1000",
    )?;
    bar_panel(
        &second,
        "TCP bulk through QEMU's user network",
        "Mbit/s",
        &tcp,
        &[target(targets::TCP_MBIT, "", "Mbit/s")],
        "n/a",
    )?;
    bar_panel(
        &third,
        "HTTP GET of a small file",
        "req/s",
        &http,
        &[
            target(targets::HTTP_KEEPALIVE, ", keep-alive,", "req/s"),
            target(targets::HTTP_CLOSE, ", new connection,", "req/s"),
        ],
        "n/a",
    )?;
    root.present().map_err(err)
}

/// Draws `latency.svg` into `dir`: median (circles) and p99 (triangles) per configuration.
pub fn latency(dir: &Path, runs: &[Run]) -> Result<()> {
    let path = dir.join("latency.svg");
    let root = SVGBackend::new(&path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "UDP echo round trip: median (●) and p99 (▲) vs offered rate",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (0.5f64..20_000f64).log_scale(),
            (0.01f64..100f64).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offered rate (msg/s)")
        .y_desc("round trip (ms)")
        .draw()
        .map_err(err)?;
    for (i, config) in configs(runs).into_iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let median = latency_points(runs, config, |l| l.median);
        let p99 = latency_points(runs, config, |l| l.p99);
        chart
            .draw_series(LineSeries::new(median.iter().copied(), colour))
            .map_err(err)?
            .label(config)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
        chart
            .draw_series(median.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(p99.iter().copied(), colour.mix(0.5)))
            .map_err(err)?;
        chart
            .draw_series(
                p99.iter()
                    .map(|&p| TriangleMarker::new(p, 5, colour.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exchange, Latency, RunResult, Search};

    fn run(config: &str) -> Run {
        let tries = [(50_000.0, 60), (1_000.0, 1000), (7_000.0, 300)]
            .map(|(rate, received)| Exchange {
                target: rate,
                sent: 1000,
                received,
                achieved: rate * 0.99,
                rtts: Vec::new(),
            })
            .to_vec();
        let latency = [1.0, 10.0, 100.0]
            .map(|rate| Latency {
                rate,
                samples: 3,
                median: 0.5,
                p99: 2.0,
                ..Latency::default()
            })
            .to_vec();
        Run {
            target: Target::Guest {
                nic: crate::Nic::E1000,
                ring: Some(16),
            },
            config: config.into(),
            run: 1,
            boot: String::new(),
            result: RunResult {
                zero_loss: Search { best: None, tries },
                latency,
                ..RunResult::default()
            },
        }
    }

    #[test]
    fn figures_are_svg_files_with_every_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let runs = [run("e1000 ring 16"), run("virtio default ring")];
        delivery(dir.path(), &runs).unwrap();
        latency(dir.path(), &runs).unwrap();
        throughput(dir.path(), &runs).unwrap();
        for name in ["delivery.svg", "latency.svg", "throughput.svg"] {
            let svg = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.contains("virtio default ring"), "{name}");
        }
        let points = delivery_points(&runs, "e1000 ring 16");
        assert_eq!(points.len(), 3);
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
