//! The checks: pure functions over a [`Timeline`], one family per file.
//!
//! - `status`: what `GET /session/status` and the event stream say of the session;
//! - `processes`: the process table against the status and the server's life;
//! - `turn`: how the turn ended, what it stored, what reached the fake model;
//! - `permission`, `errors`, `streams`, `plugin`;
//! - `server_url`: the listening line, the socket and `ctx.serverUrl`;
//! - `conversation`: several prompts on one session (model calls, answers, order);
//! - `view`: the derived views every check reads (status over time, busy/idle signals,
//!   process lives, tool parts, stored messages, streams the server closed), built on the
//!   typed records of [`crate::wire`]: no check reads a JSON pointer of opencode's.
//!
//! A check that lacks the observations it needs answers [`Verdict::Error`](crate::Verdict),
//! never a pass; a failure names the times and the entries (`witness`) that contradict.

mod conversation;
mod errors;
mod pending;
mod permission;
mod plugin;
mod processes;
mod server_url;
mod resources;
mod status;
mod subagent;
mod streams;
mod turn;
pub mod view;

use crate::{CheckResult, EventStream, Timeline, Verdict};
use oc_conform_scenario::CheckSpec;

pub use conversation::{answers_keep_their_prompt, messages_in_accepted_order, model_calls_never_overlap};
pub use errors::{errors_are_typed, session_error_reported};
pub use pending::{request_never_asked, request_not_pending, request_resolved};
pub use permission::permission_reply_takes_effect;
pub use plugin::plugin_reported;
pub use server_url::server_url_agrees;
pub use processes::{idle_has_no_tool_process, process_never_seen, server_stays_up, server_tree_gone};
pub use resources::{resource_growth_per_directory, GrowthLimits};
pub use subagent::{model_requests_closed, subagents_end_idle};
pub use status::{idle_event_matches_status, one_idle_per_busy, status_reaches_idle};
pub use streams::{
    event_streams_agree, event_streams_stay_open, session_created_on_both_streams,
    EVENT_STREAMS_STAY_OPEN,
};
pub use turn::{
    messages_stored, model_script_followed, no_model_requests, quiet_after_idle, tool_ends_aborted,
    MODEL_SCRIPT_FOLLOWED,
};

/// Runs one check on a timeline.
pub fn run_check(spec: &CheckSpec, timeline: &Timeline) -> CheckResult {
    let tl = timeline;
    match spec {
        CheckSpec::StatusReachesIdle {} => status_reaches_idle(tl),
        CheckSpec::IdleHasNoToolProcess { grace_ms } => idle_has_no_tool_process(tl, *grace_ms),
        CheckSpec::IdleEventMatchesStatus { grace_ms } => idle_event_matches_status(tl, *grace_ms),
        CheckSpec::OneIdlePerBusy {} => one_idle_per_busy(tl),
        CheckSpec::ToolEndsAborted {} => tool_ends_aborted(tl),
        CheckSpec::QuietAfterIdle { grace_ms } => quiet_after_idle(tl, *grace_ms),
        CheckSpec::PermissionReplyTakesEffect { grace_ms } => {
            permission_reply_takes_effect(tl, *grace_ms)
        }
        CheckSpec::ServerTreeGone { grace_ms } => server_tree_gone(tl, *grace_ms),
        CheckSpec::ServerStaysUp {} => server_stays_up(tl),
        CheckSpec::NoModelRequests {} => no_model_requests(tl),
        CheckSpec::ErrorsAreTyped {} => errors_are_typed(tl),
        CheckSpec::EventStreamsAgree {} => event_streams_agree(tl),
        CheckSpec::SessionCreatedOnBothStreams {} => session_created_on_both_streams(tl),
        CheckSpec::ModelCallsNeverOverlap {} => model_calls_never_overlap(tl),
        CheckSpec::AnswersKeepTheirPrompt {} => answers_keep_their_prompt(tl),
        CheckSpec::MessagesInAcceptedOrder { prompts } => messages_in_accepted_order(tl, prompts),
        CheckSpec::ServerUrlAgrees { port } => server_url_agrees(tl, *port),
        CheckSpec::PluginReported { event } => plugin_reported(tl, event),
        CheckSpec::MessagesStored { min, max } => messages_stored(tl, *min, *max),
        CheckSpec::SessionErrorReported { name } => session_error_reported(tl, name.as_deref()),
        CheckSpec::SubagentsEndIdle { grace_ms } => subagents_end_idle(tl, *grace_ms),
        CheckSpec::ModelRequestsClosed { grace_ms } => model_requests_closed(tl, *grace_ms),
        CheckSpec::ResourceGrowthPerDirectory {
            from_directories,
            max_threads_per_directory,
            max_fds_per_directory,
            max_rss_mb_per_directory,
        } => resource_growth_per_directory(
            tl,
            *from_directories,
            GrowthLimits {
                threads: *max_threads_per_directory,
                fds: *max_fds_per_directory,
                rss_mb: *max_rss_mb_per_directory,
            },
        ),
        CheckSpec::RequestResolved { kind } => request_resolved(tl, *kind),
        CheckSpec::RequestNotPending { kind } => request_not_pending(tl, *kind),
        CheckSpec::RequestNeverAsked { kind } => request_never_asked(tl, *kind),
        CheckSpec::ProcessNeverSeen { command } => process_never_seen(tl, command),
    }
}

/// The event streams a check reads events from: a pass there means nothing once the server
/// ended one of them early (the events after the end are unknown).
fn streams_read(spec: &CheckSpec) -> &'static [EventStream] {
    use EventStream::{Directory, Global};
    match spec {
        CheckSpec::EventStreamsAgree {} | CheckSpec::SessionCreatedOnBothStreams {} => {
            &[Global, Directory]
        }
        CheckSpec::IdleEventMatchesStatus { .. }
        | CheckSpec::OneIdlePerBusy {}
        | CheckSpec::ToolEndsAborted {}
        | CheckSpec::QuietAfterIdle { .. }
        | CheckSpec::PermissionReplyTakesEffect { .. }
        | CheckSpec::ErrorsAreTyped {}
        | CheckSpec::SessionErrorReported { .. }
        | CheckSpec::SubagentsEndIdle { .. }
        | CheckSpec::RequestResolved { .. }
        | CheckSpec::RequestNotPending { .. }
        | CheckSpec::RequestNeverAsked { .. } => &[Global],
        CheckSpec::StatusReachesIdle {}
        | CheckSpec::IdleHasNoToolProcess { .. }
        | CheckSpec::ServerTreeGone { .. }
        | CheckSpec::ServerStaysUp {}
        | CheckSpec::NoModelRequests {}
        | CheckSpec::PluginReported { .. }
        | CheckSpec::MessagesStored { .. }
        | CheckSpec::ModelCallsNeverOverlap {}
        | CheckSpec::AnswersKeepTheirPrompt {}
        | CheckSpec::MessagesInAcceptedOrder { .. }
        | CheckSpec::ServerUrlAgrees { .. }
        | CheckSpec::ModelRequestsClosed { .. }
        | CheckSpec::ResourceGrowthPerDirectory { .. }
        | CheckSpec::ProcessNeverSeen { .. } => &[],
    }
}

/// Runs a scenario's checks, then the always-on `model-script-followed`. When the server ended an event
/// stream while alive, a check that read that stream cannot pass (its pass becomes an
/// error: a hole, not silence), and `event-streams-stay-open` fails with that end as its
/// witness. An end of `/event` in a scenario that reads only `/global/event` judges
/// nothing of it and is left out (`event-stream-complete` is the scenario about `/event`);
/// an end of `/global/event` always counts: the steps stopped there.
pub fn run_all(specs: &[CheckSpec], timeline: &Timeline) -> Vec<CheckResult> {
    let holes: Vec<_> = view::stream_holes(timeline)
        .into_iter()
        .filter(|h| {
            h.stream == EventStream::Global || specs.iter().any(|s| streams_read(s).contains(&h.stream))
        })
        .collect();
    let mut out: Vec<CheckResult> = specs
        .iter()
        .map(|s| {
            let r = run_check(s, timeline);
            let hole = holes.iter().find(|h| streams_read(s).contains(&h.stream));
            match hole {
                Some(h) if r.verdict == Verdict::Pass => CheckResult::error(
                    s.name(),
                    format!(
                        "the server ended the {} stream at {}: the events after that are unknown, so this check cannot pass ({})",
                        h.stream.path(),
                        view::ms(h.end.at_ms),
                        r.message
                    ),
                ),
                _ => r,
            }
        })
        .collect();
    if !holes.is_empty() {
        out.push(event_streams_stay_open(&holes));
    }
    out.push(model_script_followed(timeline));
    out
}

/// The scenario's session, or the Error a session check answers without one.
fn session_of<'a>(check: &str, tl: &'a Timeline) -> Result<&'a str, CheckResult> {
    tl.session_id.as_deref().ok_or_else(|| {
        CheckResult::error(
            check,
            "the timeline names no session: the scenario's session was never created",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::stories;
    use crate::Verdict;

    fn every_spec() -> Vec<CheckSpec> {
        vec![
            CheckSpec::StatusReachesIdle {},
            CheckSpec::IdleHasNoToolProcess { grace_ms: 3500 },
            CheckSpec::IdleEventMatchesStatus { grace_ms: 1000 },
            CheckSpec::OneIdlePerBusy {},
            CheckSpec::ToolEndsAborted {},
            CheckSpec::QuietAfterIdle { grace_ms: 1000 },
            CheckSpec::PermissionReplyTakesEffect { grace_ms: 1000 },
            CheckSpec::ServerTreeGone { grace_ms: 3500 },
            CheckSpec::ServerStaysUp {},
            CheckSpec::NoModelRequests {},
            CheckSpec::ErrorsAreTyped {},
            CheckSpec::EventStreamsAgree {},
            CheckSpec::PluginReported {
                event: "init".into(),
            },
            CheckSpec::MessagesStored { min: 2, max: None },
        ]
    }

    #[test]
    fn run_all_names_every_result_and_adds_the_script_check() {
        let specs = every_spec();
        let results = run_all(&specs, &stories::healthy_abort().build());
        assert_eq!(results.len(), specs.len() + 1);
        for (spec, r) in specs.iter().zip(&results) {
            assert_eq!(r.check, spec.name());
        }
        assert_eq!(results.last().unwrap().check, MODEL_SCRIPT_FOLLOWED);
    }

    #[test]
    fn the_healthy_abort_story_is_judged_as_expected() {
        let tl = stories::healthy_abort().build();
        let verdicts: Vec<(&str, Verdict)> = every_spec()
            .iter()
            .map(|s| (s.name(), run_check(s, &tl).verdict))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("status-reaches-idle", Verdict::Pass),
                ("idle-has-no-tool-process", Verdict::Pass),
                ("idle-event-matches-status", Verdict::Pass),
                ("one-idle-per-busy", Verdict::Pass),
                ("tool-ends-aborted", Verdict::Pass),
                ("quiet-after-idle", Verdict::Pass),
                // Nothing the story did: no verdict, never a pass.
                ("permission-reply-takes-effect", Verdict::Error),
                // The sleep had exited before teardown stopped the server.
                ("server-tree-gone", Verdict::Pass),
                ("server-stays-up", Verdict::Pass),
                ("no-model-requests", Verdict::Fail),
                ("errors-are-typed", Verdict::Pass),
                ("event-streams-agree", Verdict::Pass),
                ("plugin-reported", Verdict::Error),
                ("messages-stored", Verdict::Pass),
            ]
        );
    }

    #[test]
    fn the_phantom_idle_story_fails_every_agreement() {
        let tl = stories::phantom_idle().build();
        for spec in [
            CheckSpec::StatusReachesIdle {},
            CheckSpec::IdleEventMatchesStatus { grace_ms: 1000 },
            CheckSpec::ToolEndsAborted {},
            CheckSpec::EventStreamsAgree {},
        ] {
            let r = run_check(&spec, &tl);
            assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        }
        // Never idle on GET /session/status: the process check has nothing to judge.
        let r = run_check(&CheckSpec::IdleHasNoToolProcess { grace_ms: 3500 }, &tl);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    }
}
