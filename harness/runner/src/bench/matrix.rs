//! Where a matrix run's wall time goes, against its CPU floor (the CPU seconds its
//! process tree used, divided by the cores): from the tree's load samples
//! ([`crate::tree_load`]) and when each scenario run started and ended.
//!
//! Each sampled interval's core-seconds are split into: used (the floor), runnable but
//! not running (the machine's other load), and idle cores, the last by what the run was
//! doing then: no scenario playing (installs, probes, the end), fewer scenarios than
//! jobs (a queue draining, a version boundary), or every job playing a scenario that is
//! waiting (a tool's sleep, a quiet window, a model's scripted delay). Divided by the
//! cores, the parts add up to the wall time.

use crate::tree_load::TreeSample;
use crate::report::{Event, Reporter};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One scenario run's span, in seconds on the samples' clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpan {
    pub scenario: String,
    pub version: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// The spans of the runs in a timed event stream (`at_s`, event): each
/// `scenario-started` paired with its `scenario-finished`. A run that never finished
/// (an interrupt) ends at the last event.
pub fn run_spans(events: &[(f64, Event)]) -> Vec<RunSpan> {
    let end = events.last().map_or(0.0, |(t, _)| *t);
    let mut open: BTreeMap<(String, String, usize), f64> = BTreeMap::new();
    let mut spans = Vec::new();
    for (at, e) in events {
        match e {
            Event::ScenarioStarted { scenario, version, run } => {
                open.insert((scenario.clone(), version.clone(), *run), *at);
            }
            Event::ScenarioFinished { scenario, version, run, .. } => {
                if let Some(start_s) = open.remove(&(scenario.clone(), version.clone(), *run)) {
                    spans.push(RunSpan { scenario: scenario.clone(), version: version.clone(), start_s, end_s: *at });
                }
            }
            _ => {}
        }
    }
    spans.extend(open.into_iter().map(|((scenario, version, _), start_s)| RunSpan { scenario, version, start_s, end_s: end }));
    spans.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    spans
}

/// A reporter that keeps the scenario runs' start and end events with when they came,
/// on the clock that starts at `origin` (the load sampler's).
#[derive(Clone)]
pub struct TimedRuns {
    origin: Instant,
    events: Arc<Mutex<Vec<(f64, Event)>>>,
}

impl TimedRuns {
    pub fn new(origin: Instant) -> TimedRuns {
        TimedRuns { origin, events: Arc::default() }
    }

    pub fn spans(&self) -> Vec<RunSpan> {
        run_spans(&self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Reporter for TimedRuns {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        if matches!(event, Event::ScenarioStarted { .. } | Event::ScenarioFinished { .. }) {
            let at = self.origin.elapsed().as_secs_f64();
            self.events.lock().unwrap_or_else(|p| p.into_inner()).push((at, event.clone()));
        }
        Ok(())
    }
}

/// Seconds of wall time, each part as core-seconds / cores, so they add up to `wall_s`
/// (less `residual_s`: samples are snapshots, and a thread runnable between two looks
/// is not seen).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WallBreakdown {
    pub wall_s: f64,
    pub cores: usize,
    pub jobs: usize,
    /// CPU seconds the tree used, as sampled.
    pub cpu_s: f64,
    /// `cpu_s / cores`: the floor.
    pub used_s: f64,
    /// Threads of the tree runnable but not running: other load on the machine.
    pub contended_s: f64,
    /// Idle cores while no scenario played: installs, probes, the run's start and end.
    pub idle_no_scenario_s: f64,
    /// Idle cores while fewer scenarios than jobs played: queues draining.
    pub idle_slots_free_s: f64,
    /// Idle cores while every job played a scenario: the scenarios' own waits.
    pub idle_scenarios_waiting_s: f64,
    /// Wall time with fewer runnable threads than cores (not divided by the cores).
    pub starved_wall_s: f64,
    /// `wall_s` less the parts above.
    pub residual_s: f64,
}

/// Splits the run's wall time (`samples` from start to end) by what the cores did.
pub fn breakdown(samples: &[TreeSample], spans: &[RunSpan], cores: usize, jobs: usize) -> WallBreakdown {
    let cores_f = cores.max(1) as f64;
    let mut b = WallBreakdown {
        cores,
        jobs,
        ..Default::default()
    };
    for pair in samples.windows(2) {
        let (from, to) = (pair[0].at_s, pair[1].at_s);
        let dt = to - from;
        if dt <= 0.0 {
            continue;
        }
        b.wall_s += dt;
        let used = pair[1].cpu_s;
        b.cpu_s += used;
        // The later look stands for the interval (its CPU is the interval's).
        let wanting = (pair[1].runnable as f64).min(cores_f);
        b.contended_s += (wanting * dt - used).max(0.0) / cores_f;
        let idle = (cores_f - wanting) * dt / cores_f;
        let mid = (from + to) / 2.0;
        let playing = spans.iter().filter(|s| s.start_s <= mid && mid < s.end_s).count();
        match playing {
            0 => b.idle_no_scenario_s += idle,
            n if n < jobs => b.idle_slots_free_s += idle,
            _ => b.idle_scenarios_waiting_s += idle,
        }
        if wanting < cores_f {
            b.starved_wall_s += dt;
        }
    }
    b.used_s = b.cpu_s / cores_f;
    b.residual_s = b.wall_s - b.used_s - b.contended_s - b.idle_no_scenario_s - b.idle_slots_free_s - b.idle_scenarios_waiting_s;
    b
}

/// When each version's scenarios played: first start, last end, runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionSpan {
    pub version: String,
    pub first_start_s: f64,
    pub last_end_s: f64,
    pub runs: usize,
}

/// Seconds with exactly `n` runs playing at once, at index `n`, from the first start to
/// the last end (how far the scheduler went beyond `--jobs`).
pub fn playing_s(spans: &[RunSpan]) -> Vec<f64> {
    let mut edges: Vec<(f64, i32)> = spans.iter().flat_map(|s| [(s.start_s, 1), (s.end_s, -1)]).collect();
    // At one instant, ends before starts: a cell that follows another is not both.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<f64> = Vec::new();
    let (mut playing, mut since) = (0usize, edges.first().map_or(0.0, |e| e.0));
    for (at, change) in edges {
        if playing > 0 {
            if out.len() <= playing {
                out.resize(playing + 1, 0.0);
            }
            out[playing] += at - since;
        }
        playing = playing.saturating_add_signed(change as isize);
        since = at;
    }
    out
}

/// Per version, in order of first start.
pub fn version_spans(spans: &[RunSpan]) -> Vec<VersionSpan> {
    let mut by: BTreeMap<&str, VersionSpan> = BTreeMap::new();
    for s in spans {
        let v = by.entry(&s.version).or_insert_with(|| VersionSpan {
            version: s.version.clone(),
            first_start_s: s.start_s,
            last_end_s: s.end_s,
            runs: 0,
        });
        v.first_start_s = v.first_start_s.min(s.start_s);
        v.last_end_s = v.last_end_s.max(s.end_s);
        v.runs += 1;
    }
    let mut out: Vec<VersionSpan> = by.into_values().collect();
    out.sort_by(|a, b| a.first_start_s.total_cmp(&b.first_start_s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_checks::Verdict;

    fn sample(at_s: f64, runnable: u32, cpu_s: f64) -> TreeSample {
        TreeSample { at_s, runnable, cpu_s }
    }

    fn span(scenario: &str, start_s: f64, end_s: f64) -> RunSpan {
        RunSpan { scenario: scenario.into(), version: "1".into(), start_s, end_s }
    }

    #[test]
    fn idle_cores_are_charged_to_what_the_run_was_doing() {
        // 2 cores, 2 jobs. 0-1 s: nothing plays, one thread runnable (an install).
        // 1-2 s: one scenario, one thread. 2-3 s: two scenarios, both waiting.
        // 3-4 s: two scenarios, three threads runnable, but only 1.5 CPU s used.
        let samples = [sample(0.0, 0, 0.0), sample(1.0, 1, 1.0), sample(2.0, 1, 1.0), sample(3.0, 0, 0.0), sample(4.0, 3, 1.5)];
        let spans = [span("a", 1.0, 4.0), span("b", 2.0, 4.0)];
        let b = breakdown(&samples, &spans, 2, 2);
        assert_eq!(b.wall_s, 4.0);
        assert_eq!(b.cpu_s, 3.5);
        assert_eq!(b.used_s, 1.75);
        assert_eq!(b.idle_no_scenario_s, 0.5);
        assert_eq!(b.idle_slots_free_s, 0.5);
        assert_eq!(b.idle_scenarios_waiting_s, 1.0);
        assert_eq!(b.contended_s, 0.25);
        assert_eq!(b.starved_wall_s, 3.0);
        assert_eq!(b.residual_s, 0.0);
    }

    #[test]
    fn more_jobs_than_cores_counts_slots_by_jobs() {
        let samples = [sample(0.0, 0, 0.0), sample(1.0, 0, 0.0)];
        let spans = [span("a", 0.0, 1.0), span("b", 0.0, 1.0)];
        assert_eq!(breakdown(&samples, &spans, 2, 3).idle_slots_free_s, 1.0);
        assert_eq!(breakdown(&samples, &spans, 2, 2).idle_scenarios_waiting_s, 1.0);
    }

    #[test]
    fn time_is_counted_by_how_many_runs_played_at_once() {
        // a 0-4, b 1-3, c 3-5 (starts as b ends), a gap, d 6-7.
        let spans = [span("a", 0.0, 4.0), span("b", 1.0, 3.0), span("c", 3.0, 5.0), span("d", 6.0, 7.0)];
        assert_eq!(playing_s(&spans), [0.0, 3.0, 3.0]);
        assert!(playing_s(&[]).is_empty());
    }

    #[test]
    fn runs_are_paired_by_scenario_version_and_run() {
        let started = |s: &str, v: &str, run| Event::ScenarioStarted { scenario: s.into(), version: v.into(), run };
        let finished = |s: &str, v: &str, run| Event::ScenarioFinished {
            scenario: s.into(),
            version: v.into(),
            run,
            verdict: Verdict::Pass,
            failed_checks: vec![],
            duration_ms: 0,
            error: None,
        };
        let events = [
            (0.0, started("a", "1", 1)),
            (1.0, started("a", "2", 1)),
            (2.0, finished("a", "2", 1)),
            (3.0, finished("a", "1", 1)),
            (3.5, started("a", "1", 2)),
            (4.0, Event::Note { text: String::new() }),
        ];
        let spans = run_spans(&events);
        let got: Vec<(&str, f64, f64)> = spans.iter().map(|s| (s.version.as_str(), s.start_s, s.end_s)).collect();
        assert_eq!(got, [("1", 0.0, 3.0), ("2", 1.0, 2.0), ("1", 3.5, 4.0)]);
        let versions = version_spans(&spans);
        assert_eq!((versions[0].version.as_str(), versions[0].first_start_s, versions[0].last_end_s, versions[0].runs), ("1", 0.0, 4.0, 2));
        assert_eq!(versions[1].runs, 1);
    }
}
