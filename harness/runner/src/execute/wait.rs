//! Waiting for an observed condition: re-evaluated on every new timeline entry, bounded
//! by a deadline. No timer polling: the recorder wakes the waiter.

use crate::record::Recorder;
use oc_conform_checks::{Entry, EventStream, ModelRequestKind, Observation, ProcessChange, ProcessRole, ServerChange, Timeline};
use oc_conform_scenario::Condition;
use oc_conform_checks::wire;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Whether `cond` holds on the timeline now. Conditions about things that happen
/// (events, plugin records, tool states) look at entries from `since` on, so a wait
/// after an action sees what that action caused even if it came before the wait began;
/// conditions about state (status, processes) look at the current state.
pub fn holds(cond: &Condition, t: &Timeline, since: u64) -> bool {
    let session = t.session_id.as_deref();
    let recent = || t.entries.iter().filter(move |e| e.seq >= since);
    match cond {
        Condition::Event(ty) => recent().any(|e| match &e.obs {
            Observation::Event {
                stream: EventStream::Global,
                event_type,
                session_id,
                ..
            } => wire::names_event(event_type, ty) && (session_id.is_none() || session_id.as_deref() == session),
            _ => false,
        }),
        Condition::Status(s) => current_status(t).as_deref() == Some(s.as_str()),
        Condition::Process(text) => live_processes(t)
            .values()
            .any(|(role, cmd)| *role != ProcessRole::Server && cmd.contains(text.as_str())),
        Condition::ProcessGone(text) => {
            let seen = t.entries.iter().any(|e| match &e.obs {
                Observation::Process(ProcessChange::Appeared(p)) => p.cmdline.contains(text.as_str()),
                Observation::Process(ProcessChange::Exec { cmdline, .. }) => cmdline.contains(text.as_str()),
                _ => false,
            });
            seen && !live_processes(t)
                .values()
                .any(|(_, cmd)| cmd.contains(text.as_str()))
        }
        Condition::ToolState(s) => recent().any(|e| tool_state(e) == Some(s.as_str())),
        Condition::ModelRequests(n) => {
            t.entries
                .iter()
                .filter(|e| matches!(e.obs, Observation::ModelRequest { .. }))
                .count()
                >= *n as usize
        }
        Condition::ModelTurns(n) => {
            t.entries
                .iter()
                .filter(|e| {
                    matches!(
                        e.obs,
                        Observation::ModelRequest {
                            kind: ModelRequestKind::Turn | ModelRequestKind::Unplanned,
                            ..
                        }
                    )
                })
                .count()
                >= *n as usize
        }
        Condition::Plugin(ev) => recent().any(|e| match &e.obs {
            Observation::Plugin { record } => record["event"].as_str() == Some(ev.as_str()),
            _ => false,
        }),
        Condition::ServerExited(want) => {
            let exited = t
                .entries
                .iter()
                .any(|e| matches!(e.obs, Observation::Server(ServerChange::Exited { .. })));
            exited == *want
        }
        // Judged by the waiter with the clock; as a predicate it never holds alone.
        Condition::QuietMs(_) => false,
    }
}

/// The session's status as `GET /session/status` last said it, unless that reading is
/// stale; then the status is in flux (the poller has not caught up) and no status wait
/// holds yet. A reading is stale when
/// - the server's own `session.status` (or `session.idle`) event since then says
///   otherwise: without that, a wait for idle right after a prompt was met by the poll
///   from before the prompt (seen on 1.15.13: the busy event came 40 ms before the poll
///   saw busy);
/// - it says idle from before the answer to the latest accepted prompt or command of the
///   session, and nothing has said busy since that request was sent: the turn has not
///   shown yet (seen on 1.15.13: the bash tool's process appeared 10 ms before the busy
///   event, so a wait for idle right after the tool was met by the poll from before the
///   prompt, and the run was torn down mid-turn).
fn current_status(t: &Timeline) -> Option<String> {
    let session = t.session_id.as_deref()?;
    // The busy/idle reading of the latest status event since the last poll.
    let mut announced_busy: Option<bool> = None;
    for (at, e) in t.entries.iter().enumerate().rev() {
        match &e.obs {
            Observation::Status { session_id, status } if session_id == session => {
                if announced_busy.is_some_and(|busy| busy != wire::is_busy(status)) {
                    return None;
                }
                if !wire::is_busy(status) && turn_not_shown_yet(t, session, at) {
                    return None;
                }
                return Some(status.clone());
            }
            Observation::Event { session_id, .. } if announced_busy.is_none() && session_id.as_deref() == Some(session) => {
                announced_busy = wire::event_of(e).and_then(|ev| ev.busy());
            }
            _ => {}
        }
    }
    None
}

/// Whether the latest accepted request that starts a turn in `session` (a prompt, sync or
/// async, or a command) was answered after the poll at `poll_at`, with no busy seen, from
/// the poll or the server's events, since it was sent.
fn turn_not_shown_yet(t: &Timeline, session: &str, poll_at: usize) -> bool {
    let started = t.entries.iter().enumerate().rev().find_map(|(at, e)| match &e.obs {
        Observation::Http { method, path, status, elapsed_ms, .. }
            if method == "POST" && (200..300).contains(status) && starts_a_turn(path, session) =>
        {
            Some((at, e.at_ms - elapsed_ms))
        }
        _ => None,
    });
    let Some((answered_at, sent_ms)) = started else { return false };
    if answered_at < poll_at {
        return false;
    }
    let busy_since = t.entries.iter().filter(|e| e.at_ms >= sent_ms).any(|e| match &e.obs {
        Observation::Status { session_id, status } => session_id == session && wire::is_busy(status),
        Observation::Event { session_id, .. } => {
            session_id.as_deref() == Some(session) && wire::event_of(e).and_then(|ev| ev.busy()) == Some(true)
        }
        _ => false,
    });
    !busy_since
}

/// `POST /session/{session}/prompt_async`, `/message` or `/command`.
fn starts_a_turn(path: &str, session: &str) -> bool {
    let Some(rest) = path.strip_prefix("/session/").and_then(|p| p.strip_prefix(session)) else { return false };
    let route = rest.split('?').next().unwrap_or(rest);
    matches!(route, "/prompt_async" | "/message" | "/command")
}

fn tool_state(e: &Entry) -> Option<&str> {
    match &e.obs {
        Observation::Event {
            stream: EventStream::Global,
            ..
        } => wire::event_of(e)?.tool_part()?.state(),
        _ => None,
    }
}

/// Live processes of the run: pid -> (role, command line).
pub fn live_processes(t: &Timeline) -> BTreeMap<u32, (ProcessRole, String)> {
    let mut live = BTreeMap::new();
    for e in &t.entries {
        match &e.obs {
            Observation::Process(ProcessChange::Appeared(p)) => {
                live.insert(p.pid, (p.role, p.cmdline.clone()));
            }
            Observation::Process(ProcessChange::Exec { pid, cmdline, role }) => {
                live.insert(*pid, (*role, cmdline.clone()));
            }
            Observation::Process(ProcessChange::Exited { pid })
            | Observation::Process(ProcessChange::Zombie { pid }) => {
                live.remove(pid);
            }
            _ => {}
        }
    }
    live
}

/// Waits until `cond` holds, or `timeout` passes. Returns whether it held.
pub async fn wait_for(rec: &Recorder, cond: &Condition, since: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut changes = rec.subscribe();
    if let Condition::QuietMs(quiet) = cond {
        let quiet = Duration::from_millis(*quiet);
        loop {
            let last = rec.with(|t| t.end_ms());
            let idle_for = Duration::from_secs_f64(((rec.now_ms() - last).max(0.0)) / 1000.0);
            if idle_for >= quiet {
                return true;
            }
            let until_quiet = quiet - idle_for;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Wake on a new entry (quiet restarts) or when the quiet window would be over.
            let _ = tokio::time::timeout(until_quiet.min(left), changes.changed()).await;
        }
    }
    wait_until(rec, timeout, |t| holds(cond, t, since)).await
}

/// Waits until `pred` holds on the timeline, or `timeout` passes; woken by each new entry.
pub async fn wait_until(rec: &Recorder, timeout: Duration, pred: impl Fn(&Timeline) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut changes = rec.subscribe();
    loop {
        changes.borrow_and_update();
        if rec.with(&pred) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !matches!(tokio::time::timeout(left, changes.changed()).await, Ok(Ok(()))) {
            return rec.with(&pred);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_checks::testing::TimelineBuilder;

    fn idle_holds(b: &TimelineBuilder) -> bool {
        holds(&Condition::Status("idle".into()), &b.clone().build(), 0)
    }

    #[test]
    fn a_status_wait_is_not_met_by_a_poll_older_than_the_servers_busy_event() {
        let mut b = TimelineBuilder::new();
        b.at(50.0).status("idle");
        assert!(idle_holds(&b));
        // The prompt's turn began: the event says busy, the poll has not seen it yet.
        b.at(200.0).event_status("busy");
        assert!(!idle_holds(&b), "the idle poll from before the prompt is stale");
        b.at(240.0).status("busy");
        assert!(!idle_holds(&b));
        // The turn ends: events first, then the poll.
        b.at(2300.0).event_status("idle").event_idle();
        assert!(!idle_holds(&b), "the poll still says busy");
        b.at(2310.0).status("idle");
        assert!(idle_holds(&b));
    }

    #[test]
    fn a_status_wait_is_not_met_by_an_idle_poll_from_before_an_accepted_prompt() {
        let prompt = format!("/session/{}/prompt_async", oc_conform_checks::testing::SESSION);
        let mut b = TimelineBuilder::new();
        b.at(137.0).status("idle");
        // The request was sent at 153 ms and answered at 158 ms, after the poll.
        b.at(158.0).http("POST", &prompt, 204, serde_json::Value::Null);
        assert!(!idle_holds(&b), "nothing has shown the turn yet");
        // The tool's process appears before any status says busy (1.15.13).
        b.at(456.0).tool_appears(23686, "/bin/bash -c sleep 2");
        assert!(!idle_holds(&b));
        b.at(466.0).event_status("busy").at(467.0).status("busy");
        assert!(!idle_holds(&b));
        b.at(2470.0).event_status("idle").event_idle().at(2480.0).status("idle");
        assert!(idle_holds(&b), "the turn ended");

        // A turn so short that the poll never saw it busy: the server's busy event, sent
        // after the request, is enough to take the later idle as the turn's end.
        // (The request took 37 ms: sent before the busy event, answered after the idle.)
        let mut b = TimelineBuilder::new();
        b.at(124.0).status("idle").at(336.0).event_status("busy").at(354.0).event_status("idle").event_idle();
        b.at(362.0).push(Observation::Http {
            method: "POST".into(),
            path: prompt.clone(),
            step: Some(0),
            status: 204,
            body: serde_json::Value::Null,
            elapsed_ms: 37.0,
            error: None,
        });
        assert!(idle_holds(&b));

        // A refused prompt starts no turn; another session's prompt is not this one's.
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("idle").at(150.0).http("POST", &prompt, 400, serde_json::json!({}));
        b.at(160.0).http("POST", "/session/ses_other/prompt_async", 204, serde_json::Value::Null);
        assert!(idle_holds(&b));
    }

    #[test]
    fn turn_starting_routes_are_the_sessions_prompt_message_and_command() {
        assert!(starts_a_turn("/session/ses_a/prompt_async", "ses_a"));
        assert!(starts_a_turn("/session/ses_a/message", "ses_a"));
        assert!(starts_a_turn("/session/ses_a/command?directory=x", "ses_a"));
        assert!(!starts_a_turn("/session/ses_a/abort", "ses_a"));
        assert!(!starts_a_turn("/session/ses_ab/message", "ses_a"));
        assert!(!starts_a_turn("/session/ses_b/message", "ses_a"));
        assert!(!starts_a_turn("/session", "ses_a"));
    }

    #[test]
    fn a_later_event_that_agrees_with_the_poll_keeps_it() {
        let mut b = TimelineBuilder::new();
        b.at(50.0).status("idle").at(60.0).event_status("busy").at(70.0).event_idle();
        assert!(idle_holds(&b), "busy and back to idle before the poller looked");
        let busy = Condition::Status("busy".into());
        b.at(80.0).status("busy").at(90.0).event("message.updated", serde_json::json!({}));
        assert!(holds(&busy, &b.clone().build(), 0), "an event that says nothing of status changes nothing");
    }
}
