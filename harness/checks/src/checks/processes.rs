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
        return CheckResult::error(check, format!("{why} for {sid}: there is no idle to judge{}", harness_notes(tl)));
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
            None if end < deadline => {
                undecided.push(format!(
                    "the run ended {} after GET /session/status said idle at {}; the check needs {grace_ms} ms of observation",
                    ms(end - t_i),
                    ms(t_i)
                ));
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
        return CheckResult::error(
            check,
            format!(
                "the run ended {} after the server exited at {}; the check needs {grace_ms} ms of observation",
                ms(end - exit.at_ms),
                ms(exit.at_ms)
            ),
        );
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
