//! The rate search (the highest rate a service echoes with a given delivery) and the
//! statistics of round-trip times.

use std::io;

use crate::udp::Exchange;
use crate::{SEARCH_MAX_TRIES, SEARCH_PRECISION};

/// The result of a rate search.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The passing try with the highest target rate, if any passed.
    pub best: Option<Exchange>,
    /// Every try, in order.
    pub tries: Vec<Exchange>,
}

/// Finds the highest target rate in `range` whose try delivers at least `threshold` of its
/// datagrams: tries the top, then the bottom, then bisects (geometric midpoints) until the bracket
/// is within `SEARCH_PRECISION` or after `SEARCH_MAX_TRIES` bisections. `prior` tries (of an
/// earlier search) narrow the bracket first and are not repeated.
pub fn search(
    range: (f64, f64),
    threshold: f64,
    prior: &[Exchange],
    mut try_rate: impl FnMut(f64) -> io::Result<Exchange>,
) -> io::Result<Search> {
    let passes = |e: &Exchange| e.delivery() >= threshold;
    let mut best: Option<Exchange> = prior
        .iter()
        .filter(|e| passes(e))
        .max_by(|a, b| a.target.total_cmp(&b.target))
        .cloned();
    let lowest_fail_above = |best: &Option<Exchange>, tries: &[Exchange]| {
        let floor = best.as_ref().map_or(f64::MIN, |b| b.target);
        tries
            .iter()
            .filter(|e| !passes(e) && e.target > floor)
            .map(|e| e.target)
            .min_by(f64::total_cmp)
    };
    let mut fail = lowest_fail_above(&best, prior);
    let mut tries = Vec::new();
    let mut record = |e: Exchange, best: &mut Option<Exchange>, fail: &mut Option<f64>| {
        if passes(&e) {
            if best.as_ref().is_none_or(|b| e.target > b.target) {
                *best = Some(e.clone());
            }
        } else if fail.is_none_or(|f| e.target < f) {
            *fail = Some(e.target);
        }
        tries.push(e);
    };
    if fail.is_none() && best.as_ref().is_none_or(|b| b.target < range.1) {
        record(try_rate(range.1)?, &mut best, &mut fail);
    }
    if best.is_none() && fail.is_some_and(|f| f > range.0) {
        record(try_rate(range.0)?, &mut best, &mut fail);
    }
    for _ in 0..SEARCH_MAX_TRIES {
        let (Some(lo), Some(hi)) = (best.as_ref().map(|b| b.target), fail) else {
            break;
        };
        if hi / lo <= SEARCH_PRECISION {
            break;
        }
        record(try_rate((lo * hi).sqrt().round())?, &mut best, &mut fail);
    }
    Ok(Search { best, tries })
}

/// Summary statistics of round-trip times, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub rate: f64,
    pub samples: u32,
    pub lost: u32,
    pub avg: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The `p`-th percentile of `sorted` by nearest rank (NaN when empty).
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Latency {
    /// The statistics of an exchange (nearest-rank percentiles).
    pub fn of(ex: &Exchange) -> Latency {
        let mut ms: Vec<f64> = ex.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| nearest_rank(&ms, p);
        Latency {
            rate: ex.target,
            samples: ms.len() as u32,
            lost: ex.sent - ex.received,
            avg: if ms.is_empty() {
                f64::NAN
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
            median: pct(50.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RATE_RANGE;
    use std::time::Duration;

    fn ex(target: f64, received: u32) -> Exchange {
        Exchange {
            target,
            sent: 1000,
            received,
            achieved: target,
            rtts: Vec::new(),
        }
    }

    /// A service that loses nothing up to `cap` pkt/s and a share of the excess above.
    fn fake(cap: f64) -> impl FnMut(f64) -> io::Result<Exchange> {
        move |rate| {
            let got = if rate <= cap {
                1000.0
            } else {
                1000.0 * cap / rate
            };
            Ok(ex(rate, got as u32))
        }
    }

    #[test]
    fn search_brackets_the_capacity() {
        let s = search(RATE_RANGE, 1.0, &[], fake(7000.0)).unwrap();
        let best = s.best.unwrap().target;
        assert!(
            (7000.0 / SEARCH_PRECISION..=7000.0).contains(&best),
            "{best}"
        );
        assert!(s.tries.len() <= SEARCH_MAX_TRIES + 2);
        assert_eq!(s.tries[0].target, 50_000.0);
        assert_eq!(s.tries[1].target, 1_000.0);
    }

    #[test]
    fn search_reports_the_ends_of_the_range() {
        let top = search(RATE_RANGE, 1.0, &[], fake(1e9)).unwrap();
        assert_eq!((top.best.unwrap().target, top.tries.len()), (50_000.0, 1));
        let none = search(RATE_RANGE, 1.0, &[], fake(10.0)).unwrap();
        assert!(none.best.is_none());
        assert_eq!(none.tries.len(), 2);
    }

    #[test]
    fn a_second_search_reuses_the_first_ones_tries() {
        let first = search(RATE_RANGE, 1.0, &[], fake(7000.0)).unwrap();
        let mut calls = 0;
        let mut f = fake(7000.0);
        let s = search(RATE_RANGE, 0.99, &first.tries, |r| {
            calls += 1;
            f(r)
        })
        .unwrap();
        let best = s.best.unwrap().target;
        // 99% delivery holds up to 7000/0.99, and never below the zero-loss rate.
        assert!(
            best >= first.best.unwrap().target && best <= 7071.0,
            "{best}"
        );
        assert!(calls <= 3, "{calls}");
    }

    #[test]
    fn latency_uses_nearest_rank_percentiles() {
        let mut e = ex(100.0, 100);
        e.rtts = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&e);
        assert_eq!((l.samples, l.lost), (100, 900));
        assert_eq!((l.median, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
        assert!((l.avg - 50.5).abs() < 1e-9);
    }
}
