//! Processes against what the server says: no tool outlives an idle session, no process of
//! the run outlives the server, and the server itself does not die on its own.

use super::session_of;
use super::view::{
    describe_exit, harness_notes, join_problems, lives, ms, non_server_lives, server_exit,
    server_was_seen, teardown_started, witness, Life, StatusHistory,
};
use crate::{CheckResult, Observation, ProcessRole, Timeline};

pub const IDLE_HAS_NO_TOOL_PROCESS: &str = "idle-has-no-tool-process";
pub const SERVER_TREE_GONE: &str = "server-tree-gone";
pub const SERVER_STAYS_UP: &str = "server-stays-up";
pub const PROCESS_NEVER_SEEN: &str = "process-never-seen";

/// No process of the run whose command line contains `command` was ever seen. The
/// sampler must have seen some other tool process of the run (the scenario's control),
/// else it may simply have been blind: no verdict.
pub fn process_never_seen(tl: &Timeline, command: &str) -> CheckResult {
    let check = PROCESS_NEVER_SEEN;
    let all = lives(tl);
    let seen: Vec<&Life> = all.iter().filter(|l| l.info.cmdline.contains(command)).collect();
    if let Some(first) = seen.first() {
        let problems: Vec<String> = seen
            .iter()
            .map(|l| format!("{} appeared at {} ({})", l.label(), ms(l.appeared.at_ms), fate(l, tl.end_ms())))
            .collect();
        return CheckResult::fail(
            check,
            format!("`{command}` ran: {}", join_problems(&problems)),
            witness(seen.iter().map(|l| l.appeared.seq).chain([first.appeared.seq])),
        );
    }
    let tools = all.iter().filter(|l| l.info.role == ProcessRole::Tool).count();
    if tools == 0 {
        return CheckResult::error(
            check,
            format!(
                "no tool process of the run was seen at all: the sampler may have missed `{command}` too (add a control tool call){}",
                harness_notes(tl)
            ),
        );
    }
    CheckResult::pass(
        check,
        format!("no process with `{command}` in its command line among {tools} tool process(es) seen"),
    )
}

fn fate(life: &Life, end: f64) -> String {
    match life.end_ms() {
        Some(x) => format!("it exited only at {}", ms(x)),
        None => format!("it was still alive when the run ended at {}", ms(end)),
    }
}

/// Once the HTTP status says idle (after busy), no tool process is alive `grace_ms` later,
/// and none runs longer than `grace_ms` while the status stays idle.
pub fn idle_has_no_tool_process(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = IDLE_HAS_NO_TOOL_PROCESS;
    let grace = grace_ms as f64;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let hist = StatusHistory::of(tl, sid);
    let stretches = hist.idle_stretches();
    if stretches.is_empty() {
        let why = if hist.is_empty() {
            "no GET /session/status observation of the session was recorded"
        } else {
            "GET /session/status never said idle after busy"
        };
        return CheckResult::error(
            check,
            format!(
                "{why} for {sid}: there is no idle to judge{}",
                harness_notes(tl)
            ),
        );
    }
    let tools: Vec<Life> = lives(tl)
        .into_iter()
        .filter(|l| l.info.role == ProcessRole::Tool)
        .collect();
    if tools.is_empty() {
        return CheckResult::error(
            check,
            format!(
                "no tool process was observed; the scenario did not exercise a tool{}",
                harness_notes(tl)
            ),
        );
    }
    let end = tl.end_ms();

    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    let mut undecided = Vec::new();
    let mut judged = 0usize;
    for s in &stretches {
        let t_i = s.idle.at();
        let deadline = t_i + grace;
        let closes = s.until.map(|u| u.at());
        match closes {
            // Busy again within grace: the idle never settled.
            Some(c) if c <= deadline => continue,
            // The run ended before idle + grace. Tools seen to exit are decided; one still
            // alive at the end might yet have died in time: no verdict.
            None if end < deadline => {
                match tools.iter().find(|l| l.alive_at(end)) {
                    Some(alive) => undecided.push(format!(
                        "the run ended {} after GET /session/status said idle at {}, with {} still alive; the check needs {grace_ms} ms of observation",
                        ms(end - t_i),
                        ms(t_i),
                        alive.label()
                    )),
                    None => judged += 1,
                }
                continue;
            }
            _ => judged += 1,
        }
        let limit = closes.unwrap_or(f64::INFINITY);
        for life in &tools {
            if life.alive_at(deadline) {
                problems.push(format!(
                    "GET /session/status said idle at {} but {} was still alive at {} (grace {grace_ms} ms); {}",
                    ms(t_i),
                    life.label(),
                    ms(deadline),
                    fate(life, end)
                ));
                seqs.extend([s.idle.seq(), life.appeared.seq]);
                continue;
            }
            // Started while idle and ran longer than grace before the status changed.
            let from = life.appeared.at_ms;
            if from <= deadline || from >= limit {
                continue;
            }
            let ran = match life.end_ms() {
                Some(x) => from + grace < x.min(limit),
                None => from + grace <= end.min(limit),
            };
            if ran {
                problems.push(format!(
                    "{} appeared at {} while GET /session/status said idle (since {}) and was alive {grace_ms} ms later; {}",
                    life.label(),
                    ms(from),
                    ms(t_i),
                    fate(life, end)
                ));
                seqs.extend([s.idle.seq(), life.appeared.seq]);
            }
        }
    }

    if !problems.is_empty() {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    } else if !undecided.is_empty() {
        CheckResult::error(check, join_problems(&undecided))
    } else if judged == 0 {
        CheckResult::error(
            check,
            format!("every idle of GET /session/status was followed by busy within {grace_ms} ms: no settled idle to judge"),
        )
    } else {
        CheckResult::pass(
            check,
            format!(
                "no tool process was alive {grace_ms} ms after any of {judged} settled idle status(es) ({} tool process(es) seen)",
                tools.len()
            ),
        )
    }
}

/// Once the server has exited, no process of the run is alive `grace_ms` later.
pub fn server_tree_gone(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = SERVER_TREE_GONE;
    let grace = grace_ms as f64;
    let Some(exit) = server_exit(tl) else {
        return CheckResult::error(
            check,
            format!(
                "the server was not observed to exit: the check needs a run that stops the server{}",
                harness_notes(tl)
            ),
        );
    };
    if !tl
        .entries
        .iter()
        .any(|e| matches!(e.obs, Observation::Process(_)))
    {
        return CheckResult::error(
            check,
            format!("the process sampler recorded nothing{}", harness_notes(tl)),
        );
    }
    let others = non_server_lives(tl);
    if others.is_empty() {
        return CheckResult::error(
            check,
            "no process of the run other than the server was observed; the scenario did not exercise a tool",
        );
    }
    let deadline = exit.at_ms + grace;
    let end = tl.end_ms();
    if end < deadline {
        // Processes seen to exit are decided; one still alive might yet die in time.
        return match others.iter().find(|l| l.alive_at(end)) {
            Some(alive) => CheckResult::error(
                check,
                format!(
                    "the run ended {} after the server exited at {}, with {} still alive; the check needs {grace_ms} ms of observation",
                    ms(end - exit.at_ms),
                    ms(exit.at_ms),
                    alive.label()
                ),
            ),
            None => CheckResult::pass(
                check,
                format!(
                    "all {} other process(es) of the run had exited by {}, within {grace_ms} ms of the server's exit at {}",
                    others.len(),
                    ms(others.iter().filter_map(Life::end_ms).fold(exit.at_ms, f64::max)),
                    ms(exit.at_ms)
                ),
            ),
        };
    }
    let mut problems = Vec::new();
    let mut seqs = vec![exit.seq];
    for life in others.iter().filter(|l| l.alive_at(deadline)) {
        let parent = life
            .parent_note()
            .map(|n| format!(", {n}"))
            .unwrap_or_default();
        problems.push(format!(
            "{} was still alive at {}, {grace_ms} ms after the server exited at {} ({}){parent}",
            life.label(),
            ms(deadline),
            ms(exit.at_ms),
            describe_exit(exit)
        ));
        seqs.push(life.appeared.seq);
        if let Some(o) = life.orphaned() {
            seqs.push(o.seq);
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!(
                "all {} other process(es) of the run were gone {grace_ms} ms after the server exited at {}",
                others.len(),
                ms(exit.at_ms)
            ),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

/// The server did not exit before the harness began tearing the run down.
pub fn server_stays_up(tl: &Timeline) -> CheckResult {
    let check = SERVER_STAYS_UP;
    if !server_was_seen(tl) {
        return CheckResult::error(
            check,
            format!("the server was never observed running{}", harness_notes(tl)),
        );
    }
    let exit = server_exit(tl);
    let teardown = teardown_started(tl);
    match (exit, teardown) {
        (Some(x), Some(td)) if x.seq < td.seq => CheckResult::fail(
            check,
            format!(
                "the server exited at {} ({}), before the harness began teardown at {}",
                ms(x.at_ms),
                describe_exit(x),
                ms(td.at_ms)
            ),
            vec![x.seq],
        ),
        (Some(x), None) => CheckResult::fail(
            check,
            format!(
                "the server exited at {} ({}) and the run recorded no teardown",
                ms(x.at_ms),
                describe_exit(x)
            ),
            vec![x.seq],
        ),
        (_, Some(td)) => CheckResult::pass(
            check,
            format!("the server stayed up until teardown began at {}", ms(td.at_ms)),
        ),
        (None, None) => CheckResult::error(
            check,
            format!(
                "no teardown step was recorded: cannot tell whether the server stayed up until the harness stopped it (it was up at the end of the run, {})",
                ms(tl.end_ms())
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{stories, TimelineBuilder, SERVER_PID};
    use crate::{StepPhase, Verdict};

    /// Busy at 100 ms, `sleep 100` from 200 ms, status idle at 812 ms.
    fn idle_at_812() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy");
        b.at(200.0).tool_appears(4242, "sleep 100");
        b.at(812.0).status("idle");
        b
    }

    #[test]
    fn process_never_seen_fails_on_the_command_and_needs_a_control() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).tool_appears(4242, "sleep 0.5");
        b.at(700.0).exits(4242);
        let r = process_never_seen(&b.build(), "sleep 7.78");
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        // The stale reply ran it: a bash wrapper and its child both carry the text.
        b.at(900.0).tool_appears(4300, "/bin/bash -c sleep 7.78");
        b.at(910.0).exec(4300, "sleep 7.78", ProcessRole::Tool);
        let r = process_never_seen(&b.build(), "sleep 7.78");
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("`sleep 7.78` ran"), "{}", r.message);
        assert!(!r.witness.is_empty());
        // No tool process at all: the sampler may have been blind.
        let mut b = TimelineBuilder::new();
        b.process_appears(SERVER_PID, 1, ProcessRole::Server, "opencode serve");
        assert_eq!(process_never_seen(&b.build(), "sleep 7.78").verdict, Verdict::Error);
    }

    #[test]
    fn idle_has_no_tool_process_passes_on_the_healthy_abort() {
        let r = idle_has_no_tool_process(&stories::healthy_abort().build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_has_no_tool_process_fails_when_the_tool_outlives_idle() {
        let mut b = idle_at_812();
        b.at(4400.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![1, 2]); // the sleep, the idle status
        assert_eq!(
            r.message,
            "GET /session/status said idle at 812 ms but `sleep 100` (pid 4242) was still alive at 4312 ms (grace 3500 ms); it was still alive when the run ended at 4400 ms"
        );
    }

    #[test]
    fn idle_has_no_tool_process_follows_a_fork_into_its_exec() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy");
        b.at(200.0)
            .process_appears(4242, SERVER_PID, ProcessRole::Opencode, "opencode serve");
        b.at(210.0).exec(4242, "sleep 100", ProcessRole::Tool);
        let exec = b.last();
        b.at(812.0).status("idle");
        let idle = b.last();
        b.at(4400.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![exec, idle]);
        assert!(
            r.message
                .contains("`sleep 100` (pid 4242) was still alive at 4312 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn idle_has_no_tool_process_tolerates_a_tool_dying_within_grace() {
        let mut b = idle_at_812();
        b.at(3000.0).zombie(4242); // a zombie runs nothing
        b.at(4400.0).exits(4242);
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_has_no_tool_process_lets_a_tool_of_the_turn_end_within_grace() {
        // `sleep 100` started before the idle and exits 312 ms before idle + grace.
        let mut b = idle_at_812();
        b.at(4000.0).exits(4242);
        b.at(6000.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn idle_has_no_tool_process_catches_a_tool_started_while_idle() {
        let mut b = idle_at_812();
        b.at(900.0).exits(4242);
        b.at(5000.0).tool_appears(77, "sleep 5");
        let late = b.last();
        b.at(9000.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![2, late]);
        assert!(
            r.message
                .contains("appeared at 5000 ms while GET /session/status said idle"),
            "{}",
            r.message
        );
    }

    /// A tool started while idle fails once it lived longer than grace, to the ms (until it
    /// exited, or until the run ended).
    #[test]
    fn idle_has_no_tool_process_times_a_tool_started_while_idle() {
        let verdict = |exit_at: Option<f64>, end: f64| {
            let mut b = idle_at_812();
            b.at(900.0).exits(4242);
            b.at(5000.0).tool_appears(77, "sleep 5");
            if let Some(t) = exit_at {
                b.at(t).exits(77);
            }
            b.at(end).harness("end");
            idle_has_no_tool_process(&b.build(), 3500).verdict
        };
        assert_eq!(verdict(Some(9000.0), 9500.0), Verdict::Fail);
        assert_eq!(verdict(Some(8500.0), 9500.0), Verdict::Pass);
        // Still alive when the run ended: judged by the end.
        assert_eq!(verdict(None, 7000.0), Verdict::Pass);
        assert_eq!(verdict(None, 8500.0), Verdict::Fail);
    }

    #[test]
    fn idle_has_no_tool_process_skips_an_idle_that_did_not_settle() {
        let mut b = idle_at_812();
        b.at(1000.0).status("busy"); // the next step of the turn
        b.at(2000.0).exits(4242);
        b.at(2100.0).status("idle");
        b.at(6000.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("1 settled idle"), "{}", r.message);
    }

    /// An idle that held for the whole grace is judged, whether busy came back after it or
    /// the run ended exactly at idle + grace.
    #[test]
    fn idle_has_no_tool_process_judges_an_idle_that_held_for_the_grace() {
        let mut b = idle_at_812();
        b.at(5000.0).status("busy");
        b.at(6000.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "busy again after the grace: {r:?}");
        let mut b = idle_at_812();
        b.at(4312.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "observed for exactly the grace: {r:?}");
        assert!(r.message.contains("was still alive at 4312 ms"), "{}", r.message);
    }

    #[test]
    fn idle_has_no_tool_process_needs_idle_a_tool_and_enough_time() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").tool_appears(1, "sleep 1");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("never said idle after busy"),
            "{}",
            r.message
        );

        let mut b = TimelineBuilder::new();
        b.at(100.0)
            .status("busy")
            .at(812.0)
            .status("idle")
            .at(9000.0)
            .harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message
                .starts_with("no tool process was observed; the scenario did not exercise a tool"),
            "{}",
            r.message
        );

        let mut b = idle_at_812();
        b.at(2012.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error);
        assert_eq!(
            r.message,
            "the run ended 1200 ms after GET /session/status said idle at 812 ms, with `sleep 100` (pid 4242) still alive; the check needs 3500 ms of observation"
        );
        // A tool seen to exit is decided without waiting out the grace.
        let mut b = idle_at_812();
        b.at(830.0).exits(4242);
        b.at(2012.0).harness("end");
        let r = idle_has_no_tool_process(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    fn server_killed_with_orphan() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(0.0).server_started();
        b.at(10.0)
            .process_appears(SERVER_PID, 1, ProcessRole::Server, "opencode serve");
        b.at(1000.0).tool_appears(4289, "sleep 100");
        b.at(2000.0).step("signal", StepPhase::Started);
        b.at(2010.0).server_exited(None, Some(15)).exits(SERVER_PID);
        b.at(2030.0).reparented(4289, 1);
        b
    }

    #[test]
    fn server_tree_gone_fails_on_an_orphan() {
        let mut b = server_killed_with_orphan();
        b.at(6000.0).harness("end");
        let r = server_tree_gone(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![3, 5, 7]); // appeared, server exit, re-parented to 1
        assert!(
            r.message.contains("`sleep 100` (pid 4289) was still alive at 5510 ms, 3500 ms after the server exited at 2010 ms (killed by signal 15), re-parented to 1 at 2030 ms (an orphan)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn server_tree_gone_judges_a_run_observed_exactly_for_grace() {
        let r = server_tree_gone(&server_killed_with_orphan().at(5510.0).harness("end").build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn server_tree_gone_passes_when_the_tree_dies() {
        let mut b = server_killed_with_orphan();
        b.at(2100.0).exits(4289);
        let r = server_tree_gone(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}"); // decided as soon as it exited
        assert_eq!(
            r.message,
            "all 1 other process(es) of the run had exited by 2100 ms, within 3500 ms of the server's exit at 2010 ms"
        );
        b.at(6000.0).harness("end");
        let r = server_tree_gone(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn server_tree_gone_needs_an_exit_a_tree_and_enough_time() {
        let mut b = TimelineBuilder::new();
        b.at(0.0).server_started().tool_appears(1, "sleep 1");
        let r = server_tree_gone(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("not observed to exit"), "{}", r.message);

        let r = server_tree_gone(
            &server_killed_with_orphan()
                .at(3000.0)
                .harness("end")
                .build(),
            3500,
        );
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message
                .contains("the run ended 990 ms after the server exited at 2010 ms, with `sleep 100` (pid 4289) still alive"),
            "{}",
            r.message
        );

        let mut b = TimelineBuilder::new();
        b.at(0.0)
            .process_appears(SERVER_PID, 1, ProcessRole::Server, "opencode serve");
        b.at(10.0)
            .server_exited(Some(0), None)
            .at(9000.0)
            .harness("end");
        let r = server_tree_gone(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("did not exercise a tool"),
            "{}",
            r.message
        );
    }

    #[test]
    fn server_stays_up_judges_exit_against_teardown() {
        let r = server_stays_up(&stories::healthy_abort().build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");

        let mut b = TimelineBuilder::new();
        b.at(0.0).server_started();
        b.at(500.0).server_exited(Some(1), None);
        let exit = b.last();
        b.at(600.0).step("teardown", StepPhase::Started);
        let r = server_stays_up(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![exit]);
        assert_eq!(
            r.message,
            "the server exited at 500 ms (exit code 1), before the harness began teardown at 600 ms"
        );

        let r = server_stays_up(&TimelineBuilder::new().server_started().build());
        assert_eq!(r.verdict, Verdict::Error);
        let r = server_stays_up(&TimelineBuilder::new().harness("x").build());
        assert_eq!(r.verdict, Verdict::Error);
    }
}
