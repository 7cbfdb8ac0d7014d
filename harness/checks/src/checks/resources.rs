//! What the server process holds as it serves more project directories: `resources`
//! samples of its threads, open fds and resident memory (`sample-resources` steps).
//! Threads and fds are exact counts; RSS moves with garbage collection, so its limit is
//! a band wide enough for that.

use super::view::{ms, witness};
use crate::{CheckResult, Observation, ResourceSample, Timeline};

pub const RESOURCE_GROWTH_PER_DIRECTORY: &str = "resource-growth-per-directory";

/// The most each resource may grow per extra directory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowthLimits {
    pub threads: f64,
    pub fds: f64,
    pub rss_mb: f64,
}

/// Between the first sample with at least `from_directories` directories and the last
/// sample, the server's threads, fds and RSS grow by at most `limits` per directory.
pub fn resource_growth_per_directory(tl: &Timeline, from_directories: u32, limits: GrowthLimits) -> CheckResult {
    let check = RESOURCE_GROWTH_PER_DIRECTORY;
    let samples: Vec<(&crate::Entry, &ResourceSample)> = tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Resources(r) => Some((e, r)),
            _ => None,
        })
        .collect();
    let Some(&(base_entry, base)) = samples.iter().find(|(_, r)| r.directories >= from_directories) else {
        return CheckResult::error(
            check,
            format!("no resources sample with at least {from_directories} directories was recorded ({} samples)", samples.len()),
        );
    };
    let Some(&(last_entry, last)) = samples.last() else {
        return CheckResult::error(check, "no resources sample was recorded");
    };
    let n = last.directories.saturating_sub(base.directories);
    if n == 0 {
        return CheckResult::error(
            check,
            format!(
                "no directory was played between the samples at {} and {} ({} directories at both)",
                ms(base_entry.at_ms),
                ms(last_entry.at_ms),
                base.directories
            ),
        );
    }
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    let growth = [
        ("threads", per(base.threads, last.threads), limits.threads, ""),
        ("fds", per(base.fds, last.fds), limits.fds, ""),
        ("RSS", per(base.rss_kb, last.rss_kb) / 1024.0, limits.rss_mb, " MB"),
    ];
    let series = format!(
        "threads {}; fds {}; RSS MB {}",
        series(&samples, |r| r.threads.to_string()),
        series(&samples, |r| r.fds.to_string()),
        series(&samples, |r| format!("{:.0}", r.rss_kb as f64 / 1024.0)),
    );
    let over: Vec<String> = growth
        .iter()
        .filter(|(_, g, max, _)| g > max)
        .map(|(what, g, max, unit)| format!("{what} grew {g:.2}{unit} per directory (at most {max}{unit})"))
        .collect();
    let span = format!(
        "over {n} directories ({} to {})",
        base.directories, last.directories
    );
    let all: Vec<u64> = samples.iter().map(|(e, _)| e.seq).collect();
    if over.is_empty() {
        let figures: Vec<String> = growth
            .iter()
            .map(|(what, g, _, unit)| format!("{what} {g:+.2}{unit}"))
            .collect();
        CheckResult::pass(
            check,
            format!("per directory {span}: {}; samples: {series}", figures.join(", ")),
        )
    } else {
        CheckResult::fail(check, format!("{} {span}; samples: {series}", over.join("; ")), witness(all))
    }
}

/// `27@0 → 29@10 → 31@30`: a value at each sample's directory count.
fn series(samples: &[(&crate::Entry, &ResourceSample)], value: impl Fn(&ResourceSample) -> String) -> String {
    samples
        .iter()
        .map(|(_, r)| format!("{}@{}", value(r), r.directories))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::Verdict;

    const LIMITS: GrowthLimits = GrowthLimits { threads: 0.2, fds: 0.5, rss_mb: 3.0 };

    fn sampled(points: &[(u32, u64, u64, u64)]) -> Timeline {
        let mut b = TimelineBuilder::new();
        for (i, &(directories, threads, fds, rss_mb)) in points.iter().enumerate() {
            b.at(1000.0 * i as f64).push(Observation::Resources(ResourceSample {
                label: None,
                pid: 100,
                directories,
                threads,
                fds,
                rss_kb: rss_mb * 1024,
            }));
        }
        b.build()
    }

    #[test]
    fn flat_threads_and_fds_with_rss_in_its_band_pass() {
        let tl = sampled(&[(0, 27, 40, 300), (10, 28, 42, 330), (20, 28, 42, 345), (30, 28, 43, 360), (30, 28, 42, 340)]);
        let r = resource_growth_per_directory(&tl, 10, LIMITS);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("over 20 directories (10 to 30)"), "{}", r.message);
        assert!(r.message.contains("threads 27@0 → 28@10"), "{}", r.message);
    }

    #[test]
    fn a_thread_and_fds_per_directory_fail_with_every_sample_as_witness() {
        let tl = sampled(&[(0, 27, 40, 300), (10, 37, 70, 330), (20, 47, 100, 345), (30, 57, 130, 360)]);
        let r = resource_growth_per_directory(&tl, 0, LIMITS);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("threads grew 1.00 per directory (at most 0.2)"), "{}", r.message);
        assert!(r.message.contains("fds grew 3.00 per directory"), "{}", r.message);
        assert!(!r.message.contains("RSS grew"), "{}", r.message);
        assert_eq!(r.witness.len(), 4);
    }

    #[test]
    fn growth_exactly_at_the_limit_passes() {
        let tl = sampled(&[(0, 27, 40, 300), (10, 29, 45, 330)]);
        let r = resource_growth_per_directory(&tl, 0, LIMITS);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("threads +0.20, fds +0.50, RSS +3.00 MB"), "{}", r.message);
    }

    #[test]
    fn rss_past_its_band_fails() {
        let tl = sampled(&[(0, 27, 40, 300), (10, 27, 40, 400), (30, 27, 40, 500)]);
        let r = resource_growth_per_directory(&tl, 0, LIMITS);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("RSS grew 6.67 MB per directory"), "{}", r.message);
    }

    #[test]
    fn without_two_samples_apart_there_is_no_verdict() {
        assert_eq!(resource_growth_per_directory(&sampled(&[]), 0, LIMITS).verdict, Verdict::Error);
        assert_eq!(resource_growth_per_directory(&sampled(&[(0, 1, 1, 1), (0, 9, 9, 9)]), 0, LIMITS).verdict, Verdict::Error);
        assert_eq!(resource_growth_per_directory(&sampled(&[(0, 1, 1, 1), (5, 1, 1, 1)]), 10, LIMITS).verdict, Verdict::Error);
    }
}
