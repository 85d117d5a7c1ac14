//! The benchmark's figures, as SVG (plotters' SVG backend: no fonts or system libraries):
//! `delivery.svg`, the share of datagrams echoed against the rate the sender achieved, every rate
//! try of every run, one series per configuration; and `latency.svg`, the median and p99
//! round-trip time against the offered rate, one colour per configuration (both axes logarithmic).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::report::Run;

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
            super::report::median_spread(&values).map(|(m, _, _)| (l.rate, m))
        })
        .collect()
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
    use crate::bench::{Exchange, Latency, RunResult, Search};

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
        for name in ["delivery.svg", "latency.svg"] {
            let svg = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.contains("virtio default ring"), "{name}");
        }
        let points = delivery_points(&runs, "e1000 ring 16");
        assert_eq!(points.len(), 3);
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
