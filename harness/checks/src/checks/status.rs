//! The session's status: what `GET /session/status` says, what the event stream says, and
//! whether the two agree.

use super::view::{
    harness_notes, join_problems, ms, signals, witness, Phase, Signal, StatusHistory,
};
use super::session_of;
use crate::{CheckResult, EventStream, Timeline};

pub const STATUS_REACHES_IDLE: &str = "status-reaches-idle";
pub const ONE_IDLE_PER_BUSY: &str = "one-idle-per-busy";
pub const IDLE_EVENT_MATCHES_STATUS: &str = "idle-event-matches-status";

fn no_status(check: &str, tl: &Timeline, sid: &str) -> CheckResult {
    CheckResult::error(
        check,
        format!(
            "no GET /session/status observation of {sid} was recorded: the status poller may not have run{}",
            harness_notes(tl)
        ),
    )
}

fn blind_events(check: &str, tl: &Timeline, sid: &str) -> CheckResult {
    CheckResult::error(
        check,
        format!(
            "no session.status or session.idle event for {sid} was observed on /global/event: the event stream may be blind{}",
            harness_notes(tl)
        ),
    )
}

/// The HTTP status ends idle after the last busy it showed.
pub fn status_reaches_idle(tl: &Timeline) -> CheckResult {
    let check = STATUS_REACHES_IDLE;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let hist = StatusHistory::of(tl, sid);
    if hist.is_empty() {
        return no_status(check, tl, sid);
    }
    let Some((busy, idle)) = hist.final_turn() else {
        return CheckResult::error(
            check,
            format!(
                "GET /session/status never said busy for {sid}: the turn was not observed (shorter than the poll interval, or never started){}",
                harness_notes(tl)
            ),
        );
    };
    match idle {
        Some(idle) => CheckResult::pass(
            check,
            format!(
                "GET /session/status said {} at {} and idle at {}, and stayed idle to the end of the run ({})",
                busy.status,
                ms(busy.at()),
                ms(idle.at()),
                ms(tl.end_ms())
            ),
        ),
        None => CheckResult::fail(
            check,
            format!(
                "GET /session/status still said {} at the end of the run ({}), last changed at {}",
                busy.status,
                ms(tl.end_ms()),
                ms(busy.at())
            ),
            vec![busy.seq()],
        ),
    }
}

/// Every busy on the event stream ends in exactly one idle.
pub fn one_idle_per_busy(tl: &Timeline) -> CheckResult {
    let check = ONE_IDLE_PER_BUSY;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sigs = signals(tl, sid, EventStream::Global);
    if sigs.is_empty() {
        return blind_events(check, tl, sid);
    }
    if !sigs.iter().any(|s| s.phase == Phase::Busy) {
        return CheckResult::error(
            check,
            format!(
                "no busy event (session.status busy) for {sid} was observed on /global/event: nothing to pair the idle events with{}",
                harness_notes(tl)
            ),
        );
    }

    // A cycle: a run of busy signals and the idle signals after it.
    struct Cycle<'a> {
        busy: Signal<'a>,
        idles: Vec<Signal<'a>>,
    }
    let mut cycles: Vec<Cycle> = Vec::new();
    for s in &sigs {
        match (s.phase, cycles.last_mut()) {
            (Phase::Busy, Some(c)) if c.idles.is_empty() => {}
            (Phase::Busy, _) => cycles.push(Cycle {
                busy: *s,
                idles: vec![],
            }),
            (Phase::Idle, Some(c)) => c.idles.push(*s),
            // An idle before any busy belongs to no turn of this run.
            (Phase::Idle, None) => {}
        }
    }

    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    for c in &cycles {
        match c.idles.len() {
            0 => {
                problems.push(format!(
                    "the {} was never followed by an idle event (the run ended at {})",
                    c.busy.describe(),
                    ms(tl.end_ms())
                ));
                seqs.push(c.busy.seq());
            }
            1 => {}
            n => {
                let times: Vec<String> = c.idles.iter().map(|i| ms(i.at())).collect();
                problems.push(format!(
                    "the {} ended in {n} idles, at {} (duplicate idle, #40882)",
                    c.busy.describe(),
                    times.join(", ")
                ));
                seqs.extend(c.idles.iter().map(Signal::seq));
            }
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!(
                "{} busy period(s) on /global/event each ended in exactly one idle",
                cycles.len()
            ),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

/// Each idle event is matched by an idle HTTP status within `grace_ms`, and the status
/// does not go back to busy before a new busy event.
pub fn idle_event_matches_status(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = IDLE_EVENT_MATCHES_STATUS;
    let grace = grace_ms as f64;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sigs = signals(tl, sid, EventStream::Global);
    let idles: Vec<&Signal> = sigs.iter().filter(|s| s.phase == Phase::Idle).collect();
    if idles.is_empty() {
        return CheckResult::error(
            check,
            format!(
                "no idle event (session.status idle or session.idle) for {sid} was observed on /global/event: nothing to compare with the status{}",
                harness_notes(tl)
            ),
        );
    }
    let hist = StatusHistory::of(tl, sid);
    if hist.is_empty() {
        return no_status(check, tl, sid);
    }
    let end = tl.end_ms();

    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    let mut undecided = Vec::new();
    let mut judged = 0usize;
    for e in idles {
        let t_e = e.at();
        let next_busy = sigs
            .iter()
            .find(|s| s.phase == Phase::Busy && s.seq() > e.seq())
            .map(Signal::at);
        let window_end = next_busy.map_or(t_e + grace, |b| b.min(t_e + grace));

        // 1. The status says idle within grace.
        let matched = match hist.at(t_e) {
            Some(p) if !p.is_busy() => Some(p),
            _ => hist.next_after(t_e, |p| !p.is_busy() && p.at() <= window_end),
        };
        let Some(matched) = matched else {
            if next_busy.is_some_and(|b| b < t_e + grace) {
                // A new turn began before the poll could show the idle: nothing to judge.
                continue;
            }
            if end < t_e + grace {
                undecided.push(format!(
                    "the run ended {} after the {}; the check needs {grace_ms} ms of observation",
                    ms(end - t_e),
                    e.describe()
                ));
                continue;
            }
            let Some(busy) = hist.at(t_e + grace) else {
                undecided.push(format!(
                    "GET /session/status had not reported {sid} by {} ms after the {}",
                    grace_ms,
                    e.describe()
                ));
                continue;
            };
            judged += 1;
            let later = match hist.next_after(t_e + grace, |p| !p.is_busy()) {
                Some(i) => format!("it said idle only at {}", ms(i.at())),
                None => format!("it never said idle before the run ended at {}", ms(end)),
            };
            problems.push(format!(
                "{}, but GET /session/status still said {} at {} (since {}, grace {grace_ms} ms); {later}",
                e.describe(),
                busy.status,
                ms(t_e + grace),
                ms(busy.at()),
            ));
            seqs.extend([e.seq(), busy.seq()]);
            continue;
        };
        judged += 1;

        // 2. No busy status after it unless a new busy event (allowing the poll to see
        // the next turn up to `grace` before its event arrives).
        let from = matched.at().max(t_e);
        let cycle_end = next_busy.unwrap_or(f64::INFINITY);
        let back_to_busy = hist
            .points
            .iter()
            .filter(|q| q.is_busy() && q.at() > from && q.at() < cycle_end && q.seq() > matched.seq())
            .find(|q| match next_busy {
                Some(b) => b - q.at() > grace,
                None => {
                    if end - q.at() < grace {
                        undecided.push(format!(
                            "GET /session/status said busy at {} and the run ended {} later, before a busy event could explain it",
                            ms(q.at()),
                            ms(end - q.at())
                        ));
                        false
                    } else {
                        true
                    }
                }
            });
        if let Some(q) = back_to_busy {
            let after = match next_busy {
                Some(b) => format!("the next busy event came only at {}", ms(b)),
                None => "no busy event followed".to_string(),
            };
            problems.push(format!(
                "{} (GET /session/status idle at {}), but the status said {} again at {}; {after}",
                e.describe(),
                ms(matched.at()),
                q.status,
                ms(q.at())
            ));
            seqs.extend([e.seq(), q.seq()]);
        }
    }

    if !problems.is_empty() {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    } else if !undecided.is_empty() {
        CheckResult::error(check, join_problems(&undecided))
    } else if judged == 0 {
        CheckResult::error(
            check,
            "every idle event was followed by a new busy event within grace: nothing to judge",
        )
    } else {
        CheckResult::pass(
            check,
            format!("{judged} idle event(s) matched by GET /session/status within {grace_ms} ms, with no stray busy after them"),
        )
    }
}
