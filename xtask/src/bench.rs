//! `cargo xtask bench`: builds, then runs the network benchmark of the `bench` crate for each
//! configuration, and the `usertests` phase (xv6's full usertests, timed) once per run, and
//! writes target/bench/{bench.json, bench.csv, summary.md, delivery.svg, latency.svg,
//! throughput.svg} (docs/bench.md).
//!
//! `--quick`: the host's loopback ceiling, and per card (E1000, virtio-net) its device ceiling
//! (`net.echo=1`, with the largest ring measured), the guest with rings 16 and 64, and the
//! batched echo server (`mudpecho`, UDP phases only) with its device ceiling's ring; then
//! virtio-net with packed virtqueues (`packed=on`), its device ceiling and the guest, with the
//! largest ring only, to compare with split virtqueues. One run each, short phases. The full
//! run: rings 16, 64 and 256, three runs each. At the end it prints the targets table
//! ([`bench::targets`]) that `summary.md` opens with.
//! `--nic` and `--ring` narrow the list; `--runs` overrides the number of runs. A configuration
//! the kernel does not support (no device echo mode) is skipped with a note, not a failure.
//! `--guest-time` builds the kernel with its `cost` feature, whose counters give the guest's
//! time per frame (and slow the packet path they time). `--no-usertests` skips the
//! `usertests` phase; a failed `usertests` run is recorded, with its reason, and does not fail
//! the benchmark. The hidden `--only usertests` runs that phase alone.

use std::process::ExitCode;

use ::bench::usertests::{self, Outcome, UsertestsRun};
use ::bench::{self, Nic, Phases, Target, report};
use anyhow::Result;

use crate::{BenchOnly, BenchOpts, BuildOpts};

/// The configurations to measure, the host's ceiling first, then per card its device ceiling
/// and its guests.
fn targets(opts: &BenchOpts) -> Vec<Target> {
    if opts.only.is_some() {
        return Vec::new();
    }
    let rings: Vec<usize> = match (opts.ring, opts.quick) {
        (Some(r), _) => vec![r],
        (None, true) => vec![16, 64],
        (None, false) => vec![16, 64, 256],
    };
    let mut list = vec![Target::Host];
    // Both cards get the same rings: a device ceiling with a short ring would measure how
    // long the host leaves QEMU's I/O thread unscheduled (a full TX ring drops echoes), not
    // the device.
    for (nic, wanted) in [
        (Nic::E1000, crate::Nic::E1000),
        (Nic::Virtio, crate::Nic::Virtio),
    ] {
        if opts.nic.is_some_and(|n| n != wanted) {
            continue;
        }
        list.push(Target::DeviceEcho {
            nic,
            ring: rings.last().copied(),
        });
        list.extend(rings.iter().map(|&r| Target::Guest { nic, ring: Some(r) }));
        // The batched echo server, against the same ring as the device ceiling.
        list.push(Target::BatchedEcho {
            nic,
            ring: rings.last().copied(),
        });
    }
    // Packed virtqueues against split ones, on the ring of the ceilings.
    if opts.nic.is_none_or(|n| n == crate::Nic::VirtioPacked) {
        list.push(Target::DeviceEcho {
            nic: Nic::VirtioPacked,
            ring: rings.last().copied(),
        });
        list.push(Target::Guest {
            nic: Nic::VirtioPacked,
            ring: rings.last().copied(),
        });
    }
    list
}

/// One line of progress: the main figures of a run.
fn progress(config: &str, r: &bench::RunResult) -> String {
    let zero = r.zero_loss.best.as_ref();
    let mut line = format!(
        "bench: {config}: zero loss at {:.0} pkt/s (achieved {:.0}); {}",
        zero.map_or(0.0, |b| b.target),
        zero.map_or(0.0, |b| b.achieved),
        r.latency
            .iter()
            .map(|l| format!("{} msg/s median {:.3} ms", l.rate, l.median))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(t) = &r.tcp {
        line += &format!(
            "; TCP guest→host {:.1} Mbit/s, host→guest {:.1} Mbit/s",
            t.guest_to_host.mbit_per_s(),
            t.host_to_guest.mbit_per_s()
        );
    }
    for h in &r.http {
        line += &format!(
            "; HTTP {} {:.0} req/s ({} errors)",
            if h.plan.keep_alive {
                "keep-alive"
            } else {
                "close"
            },
            h.per_second(),
            h.errors
        );
    }
    if let Some(c) = r.costs.iter().find(|c| c.phase == "total") {
        line += &format!(
            "; generator {:.1} s CPU in {:.1} s",
            c.cpu.as_secs_f64(),
            c.wall.as_secs_f64()
        );
    }
    line
}

/// Whether this bench runs the `usertests` phase.
fn with_usertests(opts: &BenchOpts) -> bool {
    opts.only == Some(BenchOnly::Usertests) || !opts.no_usertests
}

/// One line of progress for a `usertests` run.
fn usertests_progress(r: &UsertestsRun) -> String {
    match &r.outcome {
        Outcome::Passed(d) => format!(
            "bench: usertests (all), {}: passed in {:.1} s",
            usertests::CONFIG,
            d.as_secs_f64()
        ),
        Outcome::Failed(why) => format!(
            "bench: usertests (all), {}, run {} failed: {why}",
            usertests::CONFIG,
            r.run
        ),
    }
}

pub fn run(opts: &BenchOpts) -> Result<ExitCode> {
    crate::qemu::ensure_qemu()?;
    // The kernel's `cost` feature measures the time per layer that the report shows, and
    // slows what it measures (each timer reads a CSR): only on demand.
    let features: &[&str] = if opts.guest_time { &["cost"] } else { &[] };
    let paths = crate::build::build_with(&BuildOpts::default(), features)?;
    let runs = opts.runs.unwrap_or(if opts.quick { 1 } else { 3 });
    let phases = if opts.quick {
        Phases::quick()
    } else {
        Phases::full()
    };
    let options = format!(
        "{} runs={runs} nic={} ring={} smp={} mem={} usertests={} guest-time={}",
        if opts.quick { "--quick" } else { "full" },
        opts.nic.map_or("all", |n| n.harness().name()),
        opts.ring.map_or("default".into(), |r| r.to_string()),
        harness::qemu::DEFAULT_SMP,
        harness::qemu::DEFAULT_MEM,
        match (opts.only, with_usertests(opts)) {
            (Some(BenchOnly::Usertests), _) => "only",
            (None, true) => "yes",
            (None, false) => "no",
        },
        if opts.guest_time { "yes" } else { "no" },
    );
    let mut machine = report::Machine::probe(&options);
    if !with_usertests(opts) {
        machine
            .notes
            .push("usertests skipped (--no-usertests)".into());
    }
    println!("bench: {options}; load: {}", machine.load_before);
    let mut results = Vec::new();
    let mut usertests_runs = Vec::new();
    let mut failed = 0;
    for n in 1..=runs {
        for target in targets(opts) {
            let config = target.label();
            println!("bench: {config}, run {n}/{runs}");
            match bench::run_target(target, &phases) {
                Ok((result, boot)) => {
                    println!("{}", progress(&config, &result));
                    results.push(report::Run {
                        target,
                        config,
                        run: n,
                        boot,
                        result,
                    });
                }
                Err(e) if e.downcast_ref::<bench::Unsupported>().is_some() => {
                    let note = format!("{config} skipped: {e}");
                    eprintln!("bench: {note}");
                    if !machine.notes.contains(&note) {
                        machine.notes.push(note);
                    }
                }
                Err(e) => {
                    eprintln!("bench: {config}, run {n} failed: {e:#}");
                    failed += 1;
                }
            }
        }
        if with_usertests(opts) {
            println!(
                "bench: usertests (all), {}, run {n}/{runs}",
                usertests::CONFIG
            );
            // Not counted in `failed`: a failed run is a result, recorded with its reason.
            let r = UsertestsRun {
                run: n,
                outcome: usertests::run_usertests(),
            };
            println!("{}", usertests_progress(&r));
            usertests_runs.push(r);
        }
    }
    machine.load_after = report::Machine::probe("").load_before;
    let dir = paths.target.join("bench");
    report::write_all(&dir, &machine, &results, &usertests_runs)?;
    println!(
        "bench: wrote {}/{{bench.json,bench.csv,summary.md,delivery.svg,latency.svg,throughput.svg}}",
        dir.display()
    );
    println!(
        "bench: targets, medians of the runs (ratios against this run's ceilings):\n{}",
        bench::targets::to_markdown(&bench::targets::judge(&results, &usertests_runs))
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(quick: bool, nic: Option<crate::Nic>, ring: Option<usize>) -> BenchOpts {
        BenchOpts {
            quick,
            nic,
            ring,
            runs: None,
            no_usertests: false,
            guest_time: false,
            only: None,
        }
    }

    #[test]
    fn usertests_run_unless_skipped_and_alone_when_asked() {
        let mut o = opts(true, None, None);
        assert!(with_usertests(&o));
        o.no_usertests = true;
        assert!(!with_usertests(&o));
        let alone = BenchOpts {
            only: Some(BenchOnly::Usertests),
            ..opts(true, None, None)
        };
        assert!(with_usertests(&alone));
        assert!(targets(&alone).is_empty());
    }

    #[test]
    fn usertests_progress_says_the_time_or_why() {
        let passed = UsertestsRun {
            run: 1,
            outcome: Outcome::Passed(std::time::Duration::from_millis(152_340)),
        };
        assert_eq!(
            usertests_progress(&passed),
            "bench: usertests (all), no network card: passed in 152.3 s"
        );
        let failed = UsertestsRun {
            run: 2,
            outcome: Outcome::Failed("usertests failed: sbrkbugs".into()),
        };
        assert_eq!(
            usertests_progress(&failed),
            "bench: usertests (all), no network card, run 2 failed: usertests failed: sbrkbugs"
        );
    }

    #[test]
    fn quick_and_full_runs_measure_the_documented_configurations() {
        let labels = |o| targets(&o).iter().map(Target::label).collect::<Vec<_>>();
        assert_eq!(
            labels(opts(true, None, None)),
            [
                "host loopback echo",
                "e1000 device ceiling ring 64",
                "e1000 ring 16",
                "e1000 ring 64",
                "e1000 ring 64 batched echo",
                "virtio device ceiling ring 64",
                "virtio ring 16",
                "virtio ring 64",
                "virtio ring 64 batched echo",
                "virtio-packed device ceiling ring 64",
                "virtio-packed ring 64"
            ]
        );
        assert_eq!(
            labels(opts(false, None, None)),
            [
                "host loopback echo",
                "e1000 device ceiling ring 256",
                "e1000 ring 16",
                "e1000 ring 64",
                "e1000 ring 256",
                "e1000 ring 256 batched echo",
                "virtio device ceiling ring 256",
                "virtio ring 16",
                "virtio ring 64",
                "virtio ring 256",
                "virtio ring 256 batched echo",
                "virtio-packed device ceiling ring 256",
                "virtio-packed ring 256"
            ]
        );
        assert_eq!(
            labels(opts(false, Some(crate::Nic::Virtio), Some(64))),
            [
                "host loopback echo",
                "virtio device ceiling ring 64",
                "virtio ring 64",
                "virtio ring 64 batched echo"
            ]
        );
        assert_eq!(
            labels(opts(true, Some(crate::Nic::VirtioPacked), None)),
            [
                "host loopback echo",
                "virtio-packed device ceiling ring 64",
                "virtio-packed ring 64"
            ]
        );
        assert_eq!(
            labels(opts(true, Some(crate::Nic::E1000), Some(32))),
            [
                "host loopback echo",
                "e1000 device ceiling ring 32",
                "e1000 ring 32",
                "e1000 ring 32 batched echo"
            ]
        );
    }
}
