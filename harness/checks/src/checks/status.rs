//! The session's status: what `GET /session/status` says, what the event stream says, and
//! whether the two agree.

use super::session_of;
use super::view::{
    harness_notes, join_problems, ms, signals, status_poll_blind_during, witness, Phase, Signal,
    StatusHistory,
};
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
        // Idle from the first poll to the last: the status does end idle. (A turn shorter
        // than the poll interval would look the same, and would also have ended idle.)
        if let Some(blind) = status_poll_blind_during(tl, 0.0, tl.end_ms()) {
            return CheckResult::error(
                check,
                format!(
                    "GET /session/status never said busy, but the poll failed from {} on{}",
                    ms(blind.at_ms),
                    harness_notes(tl)
                ),
            );
        }
        return CheckResult::pass(
            check,
            format!(
                "GET /session/status said idle from {} to the end of the run ({}); it never showed busy",
                ms(hist.points[0].at()),
                ms(tl.end_ms())
            ),
        );
    };
    if idle.is_none() {
        if let Some(blind) = status_poll_blind_during(tl, busy.at(), tl.end_ms()) {
            return CheckResult::error(
                check,
                format!(
                    "GET /session/status last said {} at {}, then the poll failed from {} on: the end state was not observed",
                    busy.status,
                    ms(busy.at()),
                    ms(blind.at_ms)
                ),
            );
        }
    }
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
            if let Some(blind) = status_poll_blind_during(tl, t_e, t_e + grace) {
                undecided.push(format!(
                    "the status poll failed at {}, within {grace_ms} ms of the {}",
                    ms(blind.at_ms),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{stories, TimelineBuilder, SESSION};
    use crate::Verdict;
    use serde_json::json;

    fn busy_turn() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").event_status("busy");
        b
    }

    #[test]
    fn status_reaches_idle_passes_on_the_healthy_abort() {
        let r = status_reaches_idle(&stories::healthy_abort().build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn status_reaches_idle_fails_when_status_stays_busy() {
        let mut b = busy_turn();
        let busy = 0;
        b.at(5000.0).harness("poll");
        let r = status_reaches_idle(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![busy]);
        assert!(
            r.message
                .contains("still said busy at the end of the run (5000 ms)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn status_reaches_idle_fails_on_the_phantom_idle() {
        let r = status_reaches_idle(&stories::phantom_idle().build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn status_reaches_idle_needs_status_and_a_busy() {
        let r = status_reaches_idle(&TimelineBuilder::new().at(5.0).event_status("busy").build());
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("status poller"), "{}", r.message);
        let r = status_reaches_idle(
            &TimelineBuilder::new()
                .without_session()
                .status("idle")
                .build(),
        );
        assert_eq!(r.verdict, Verdict::Error);
        // The poll failing while the status said busy: the end was not seen.
        let mut b = busy_turn();
        b.at(500.0)
            .harness("status poll failed: connection refused");
        b.at(5000.0).harness("end");
        let r = status_reaches_idle(&b.build());
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("the poll failed from 500 ms on"),
            "{}",
            r.message
        );
    }

    #[test]
    fn status_reaches_idle_passes_when_the_session_never_went_busy() {
        // A command whose hook throws: no turn, the session stays idle (seed 002).
        let mut b = TimelineBuilder::new();
        b.at(5.0).status("idle");
        b.at(900.0).http(
            "POST",
            "/session/ses_test/command",
            500,
            json!({"name": "UnknownError"}),
        );
        let r = status_reaches_idle(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("it never showed busy"), "{}", r.message);
        b.at(950.0).harness("status poll failed: timeout");
        assert_eq!(status_reaches_idle(&b.build()).verdict, Verdict::Error);
    }

    #[test]
    fn one_idle_per_busy_counts_a_status_idle_and_its_session_idle_once() {
        let mut b = busy_turn();
        b.at(200.0).event_status("busy"); // opencode says busy twice per turn
        b.at(300.0).idle_events();
        let r = one_idle_per_busy(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        // Older streams: session.idle alone.
        let mut b = busy_turn();
        b.at(300.0).event_idle();
        assert_eq!(one_idle_per_busy(&b.build()).verdict, Verdict::Pass);
    }

    #[test]
    fn one_idle_per_busy_fails_on_duplicate_idles() {
        // What 1.18.34 does after an abort: two idle pairs 65 ms apart.
        let mut b = busy_turn();
        b.at(5214.0).idle_events();
        let first = b.last() - 1;
        b.at(5279.0).idle_events();
        let second = b.last() - 1;
        let r = one_idle_per_busy(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![first, second]);
        assert!(
            r.message.contains("2 idles, at 5214 ms, 5279 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn one_idle_per_busy_fails_when_busy_never_ends() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(400.0).event_status("busy");
        let busy = b.last();
        b.at(900.0).harness("end");
        let r = one_idle_per_busy(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![busy]);
        assert!(
            r.message.contains("never followed by an idle"),
            "{}",
            r.message
        );
    }

    #[test]
    fn one_idle_per_busy_needs_events() {
        let r = one_idle_per_busy(&TimelineBuilder::new().status("busy").build());
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("may be blind"), "{}", r.message);
        let r = one_idle_per_busy(&TimelineBuilder::new().idle_events().build());
        assert_eq!(r.verdict, Verdict::Error);
    }

    #[test]
    fn one_idle_per_busy_ignores_other_sessions() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.event("session.idle", json!({"sessionID": "ses_other"}));
        assert_eq!(one_idle_per_busy(&b.build()).verdict, Verdict::Pass);
    }

    #[test]
    fn idle_event_matches_status_passes_on_the_healthy_abort() {
        let r = idle_event_matches_status(&stories::healthy_abort().build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_catches_the_phantom_idle() {
        let tl = stories::phantom_idle().build();
        let r = idle_event_matches_status(&tl, 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        let idle_event = tl
            .entries
            .iter()
            .find(|e| e.obs.describe() == "event session.status idle")
            .unwrap()
            .seq;
        let busy_status = tl
            .entries
            .iter()
            .find(|e| e.obs.describe() == "GET /session/status: busy")
            .unwrap()
            .seq;
        assert_eq!(r.witness, vec![busy_status, idle_event]);
        assert!(
            r.message.contains("session.status idle event at 1870 ms, but GET /session/status still said busy at 2870 ms (since 1100 ms"),
            "{}",
            r.message
        );
        assert!(r.message.contains("never said idle"), "{}", r.message);
    }

    #[test]
    fn idle_event_matches_status_fails_when_status_goes_busy_again() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        let idle = b.last() - 1;
        b.at(320.0).status("idle");
        b.at(2000.0).status("busy");
        let busy = b.last();
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![idle, busy]);
        assert!(
            r.message.contains("said busy again at 2000 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn idle_event_matches_status_allows_the_poll_to_see_the_next_turn_first() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(320.0).status("idle");
        b.at(2000.0).status("busy");
        b.at(2040.0).event_status("busy");
        b.at(2500.0).idle_events().status("idle");
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_ends_a_cycle_at_the_next_busy_event_not_the_next_idle() {
        // Two healthy turns, the second longer than grace: its busy status belongs to
        // the second turn (its busy event came first), not a stray busy after the first
        // turn's idle.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(320.0).status("idle");
        b.at(2000.0).event_status("busy");
        b.at(2050.0).status("busy");
        b.at(5000.0).idle_events();
        b.at(5030.0).status("idle");
        b.at(7000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.starts_with("2 idle event(s) matched"), "{}", r.message);
    }

    #[test]
    fn idle_event_matches_status_fails_a_late_idle_status_with_or_before_a_later_turn() {
        // The status says idle only 2200 ms after the idle event; the next turn, if
        // any, starts later still. Grace (1000 ms) bounds the wait, not the next turn.
        for later_turn in [true, false] {
            // Idle before the turn began: not the idle that answers the idle event.
            let mut b = TimelineBuilder::new();
            b.at(50.0).status("idle");
            b.at(100.0).status("busy").event_status("busy");
            b.at(300.0).idle_events();
            b.at(2500.0).status("idle");
            if later_turn {
                b.at(4000.0).event_status("busy").status("busy");
                b.at(4300.0).idle_events().status("idle");
            }
            b.at(6000.0).harness("end");
            let r = idle_event_matches_status(&b.build(), 1000);
            assert_eq!(r.verdict, Verdict::Fail, "later turn {later_turn}: {r:?}");
            assert!(
                r.message.contains("still said busy at 1300 ms (since 100 ms, grace 1000 ms); it said idle only at 2500 ms"),
                "{}",
                r.message
            );
        }
    }

    #[test]
    fn idle_event_matches_status_is_not_excused_by_a_poll_failure_after_grace() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(2000.0).harness("status poll failed: timeout");
        b.at(2500.0).harness("status poll answered again");
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_is_not_matched_by_a_busy_kind_of_status() {
        // After the idle event the status changes, but to `retry`: still not idle.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(500.0).status("retry");
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("still said retry at 1300 ms"), "{}", r.message);
    }

    #[test]
    fn idle_event_matches_status_does_not_judge_an_idle_a_new_turn_overtook() {
        // The next turn's busy event comes 500 ms after the idle event, before the poll
        // showed idle: that idle cannot be judged; the second one is.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(800.0).event_status("busy");
        b.at(1500.0).idle_events();
        b.at(1520.0).status("idle");
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.starts_with("1 idle event(s) matched"), "{}", r.message);

        // A turn that starts only when grace has run out excuses nothing.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(1300.0).event_status("busy");
        b.at(1500.0).idle_events();
        b.at(1520.0).status("idle");
        b.at(4000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_judges_a_run_observed_exactly_for_grace() {
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(1300.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_takes_only_busy_statuses_for_stray_busy() {
        // The poll reports idle twice after the idle event; the next turn comes later.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(320.0).status("idle");
        b.at(500.0).status("idle");
        b.at(3000.0).event_status("busy");
        b.at(3050.0).status("busy");
        b.at(3500.0).idle_events().status("idle");
        b.at(6000.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_event_matches_status_allows_the_next_turn_up_to_grace_early() {
        let turns = |busy_status_at: f64| {
            let mut b = busy_turn();
            b.at(300.0).idle_events();
            b.at(320.0).status("idle");
            b.at(busy_status_at).status("busy");
            b.at(3000.0).event_status("busy");
            b.at(3500.0).idle_events().status("idle");
            b.at(6000.0).harness("end");
            idle_event_matches_status(&b.build(), 1000)
        };
        // The poll sees the next turn exactly grace before its busy event: allowed.
        let r = turns(2000.0);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        // 2000 ms before it: a stray busy.
        let r = turns(1000.0);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("said busy again at 1000 ms; the next busy event came only at 3000 ms"), "{}", r.message);
    }

    #[test]
    fn idle_event_matches_status_cannot_judge_a_busy_status_just_before_the_end() {
        let busy_again_at = |t: f64| {
            let mut b = busy_turn();
            b.at(300.0).idle_events();
            b.at(320.0).status("idle");
            b.at(t).status("busy");
            b.at(4000.0).harness("end");
            idle_event_matches_status(&b.build(), 1000)
        };
        // Busy again 500 ms before the run ended, no busy event: a busy event might have
        // come within grace, had the run lasted.
        let r = busy_again_at(3500.0);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        assert!(r.message.contains("said busy at 3500 ms and the run ended 500 ms later"), "{}", r.message);
        // Busy again exactly grace before the end, and no busy event in that time: a
        // stray busy, judged.
        let r = busy_again_at(3000.0);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("said busy again at 3000 ms; no busy event followed"), "{}", r.message);
    }

    #[test]
    fn idle_event_matches_status_needs_observations() {
        let r = idle_event_matches_status(&busy_turn().build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        let mut b = TimelineBuilder::new();
        b.at(100.0).event_status("busy").at(200.0).idle_events();
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("status poller"), "{}", r.message);
        // Status still busy, but the poll was blind.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(350.0).harness("status poll failed: timeout");
        b.at(3000.0).harness("status poll answered again");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("the status poll failed at 350 ms"),
            "{}",
            r.message
        );
        // Status still busy, but the run ended before grace ran out.
        let mut b = busy_turn();
        b.at(300.0).idle_events();
        b.at(800.0).harness("end");
        let r = idle_event_matches_status(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("the run ended 500 ms after"),
            "{}",
            r.message
        );
    }

    #[test]
    fn status_of_other_sessions_is_ignored() {
        let mut b = busy_turn();
        b.at(300.0).idle_events().status("idle");
        // Another session turning busy after ours went idle says nothing of ours.
        b.at(400.0).push(crate::Observation::Status {
            session_id: "ses_other".into(),
            status: "busy".into(),
        });
        let r = status_reaches_idle(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(SESSION, "ses_test");
    }
}
