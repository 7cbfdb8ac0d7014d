//! The two event streams must tell the same story about the session.

use super::session_of;
use super::view::{
    harness_notes, join_problems, ms, path_only, session_events, stream_events, witness,
    EventRef, StreamHole,
};
use crate::wire::Event;
use crate::{CheckResult, EventStream, Timeline};
use std::collections::BTreeMap;

pub const EVENT_STREAMS_AGREE: &str = "event-streams-agree";
pub const EVENT_STREAMS_STAY_OPEN: &str = "event-streams-stay-open";

/// No event stream was ended by the server while it was alive and no step was ending it.
/// Such an end is opencode's doing (the harness's own broken connection is not judged
/// here: it stops the scenario with no verdict); the witness is the end and the health
/// answer after it. `holes` are `view::stream_holes` (or those of them that matter).
pub fn event_streams_stay_open(holes: &[StreamHole]) -> CheckResult {
    let check = EVENT_STREAMS_STAY_OPEN;
    if holes.is_empty() {
        return CheckResult::pass(check, "no event stream was ended by the server while it was alive");
    }
    let problems: Vec<String> = holes
        .iter()
        .map(|h| {
            let status = match &h.health.obs {
                crate::Observation::Http { status, .. } => *status,
                _ => 0,
            };
            format!(
                "the server ended the {} stream at {} while it was alive (GET /global/health answered {status} at {}): the events after that were not delivered",
                h.stream.path(),
                ms(h.end.at_ms),
                ms(h.health.at_ms)
            )
        })
        .collect();
    CheckResult::fail(
        check,
        join_problems(&problems),
        witness(holes.iter().flat_map(|h| [h.end.seq, h.health.seq])),
    )
}

/// The session events compared between streams.
const COMPARED: [&str; 4] = [
    "session.status",
    "session.idle",
    "message.updated",
    "message.part.updated",
];

/// What tells two announcements of the same event apart from two different events.
fn key(ev: &EventRef) -> String {
    match ev.event() {
        Event::SessionStatus { status } => status.unwrap_or("").to_string(),
        Event::MessageUpdated(info) => info.id.unwrap_or("").to_string(),
        Event::PartUpdated(part) => match part.state() {
            Some(st) => format!("{} {st}", part.id().unwrap_or("")),
            None => part.id().unwrap_or("").to_string(),
        },
        _ => String::new(),
    }
}

type Multiset<'a> = BTreeMap<(&'a str, String), Vec<EventRef<'a>>>;

fn multiset<'a>(tl: &'a Timeline, sid: &'a str, stream: EventStream) -> Multiset<'a> {
    let mut m: Multiset = BTreeMap::new();
    for ev in session_events(tl, sid, stream).filter(|e| COMPARED.contains(&e.event_type)) {
        m.entry((ev.event_type, key(&ev))).or_default().push(ev);
    }
    m
}

fn describe(k: &(&str, String)) -> String {
    if k.1.is_empty() {
        k.0.to_string()
    } else {
        format!("{} {}", k.0, k.1)
    }
}

/// The per-directory `/event` carried the same session events as `/global/event`.
pub fn event_streams_agree(tl: &Timeline) -> CheckResult {
    let check = EVENT_STREAMS_AGREE;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let dir_all: Vec<EventRef> = stream_events(tl, EventStream::Directory).collect();
    if dir_all.is_empty() {
        return CheckResult::error(
            check,
            format!(
                "the per-directory /event stream was not recorded{}",
                harness_notes(tl)
            ),
        );
    }
    let global = multiset(tl, sid, EventStream::Global);
    let Some(first_global) = global.values().flatten().min_by_key(|e| e.seq()) else {
        return CheckResult::error(
            check,
            format!(
                "/global/event carried no session event for {sid}: nothing to compare{}",
                harness_notes(tl)
            ),
        );
    };
    let global_count: usize = global.values().map(Vec::len).sum();

    if dir_all
        .iter()
        .all(|e| matches!(e.event(), Event::ServerConnected | Event::ServerHeartbeat))
    {
        return CheckResult::fail(
            check,
            format!(
                "the per-directory /event stream delivered only server.connected (at {}) while /global/event carried {global_count} session event(s), the first at {}",
                ms(dir_all[0].at()),
                ms(first_global.at())
            ),
            witness([dir_all[0].seq(), first_global.seq()]),
        );
    }

    let dir = multiset(tl, sid, EventStream::Directory);
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    let keys: std::collections::BTreeSet<_> = global.keys().chain(dir.keys()).cloned().collect();
    for k in keys {
        let g = global.get(&k).map_or(&[][..], Vec::as_slice);
        let d = dir.get(&k).map_or(&[][..], Vec::as_slice);
        let (extra, missing_on) = if g.len() > d.len() {
            (&g[d.len()..], "/event")
        } else if d.len() > g.len() {
            (&d[g.len()..], "/global/event")
        } else {
            continue;
        };
        let times: Vec<String> = extra.iter().map(|e| ms(e.at())).collect();
        problems.push(format!(
            "{} missing on {missing_on} ({}x, seen on the other stream at {})",
            describe(&k),
            extra.len(),
            times.join(", ")
        ));
        seqs.extend(extra.iter().map(EventRef::seq));
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!("both streams carried the same {global_count} session event(s)"),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

pub const SESSION_CREATED_ON_BOTH_STREAMS: &str = "session-created-on-both-streams";

/// Every session a step created over HTTP (a `POST /session` answered with an id) was
/// announced by `session.created` on `/global/event` and
/// on the per-directory `/event`. A `/event` that was closed, or stayed open but went
/// silent, fails: the witness is the creation, its announcement on `/global/event`, and
/// the last thing `/event` delivered (its end, when it ended).
pub fn session_created_on_both_streams(tl: &Timeline) -> CheckResult {
    let check = SESSION_CREATED_ON_BOTH_STREAMS;
    let created: Vec<(&crate::Entry, &str)> = tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            crate::Observation::Http { method, path, status, body, step: Some(_), .. }
                if method == "POST" && path_only(path) == "/session" && (200..300).contains(status) =>
            {
                crate::wire::session_id(body).map(|id| (e, id))
            }
            _ => None,
        })
        .collect();
    if created.is_empty() {
        return CheckResult::error(check, format!("no step created a session (POST /session){}", harness_notes(tl)));
    }
    if stream_events(tl, EventStream::Directory).next().is_none() {
        return CheckResult::error(
            check,
            format!("the per-directory /event stream was not recorded{}", harness_notes(tl)),
        );
    }
    let announced = |stream: EventStream, id: &str| {
        stream_events(tl, stream).find(|e| crate::wire::created_session(e.event_type, e.props) == Some(id))
    };
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    for (post, id) in &created {
        let Some(global) = announced(EventStream::Global, id) else {
            return CheckResult::error(
                check,
                format!(
                    "/global/event never announced session {id} (created at {}): no reference to judge /event by{}",
                    ms(post.at_ms),
                    harness_notes(tl)
                ),
            );
        };
        if announced(EventStream::Directory, id).is_some() {
            continue;
        }
        // What /event last did before the announcement it missed: ended, or went silent.
        let last_dir = tl.entries.iter().filter(|e| e.seq < global.seq()).rev().find(|e| match &e.obs {
            crate::Observation::Event { stream, .. } | crate::Observation::StreamEnded { stream, .. } => {
                *stream == EventStream::Directory
            }
            _ => false,
        });
        let since = match last_dir.map(|e| &e.obs) {
            Some(crate::Observation::StreamEnded { .. }) => {
                format!("/event had ended at {}", ms(last_dir.map_or(0.0, |e| e.at_ms)))
            }
            Some(obs) => format!("/event stayed silent since {} at {}", obs.describe(), ms(last_dir.map_or(0.0, |e| e.at_ms))),
            None => "/event had delivered nothing".to_string(),
        };
        problems.push(format!(
            "session {id} (created at {}) was announced on /global/event at {} but never on /event: {since}",
            ms(post.at_ms),
            ms(global.at())
        ));
        seqs.extend([post.seq, global.seq()]);
        seqs.extend(last_dir.map(|e| e.seq));
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!("both streams announced the {} session(s) created", created.len()),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{stories, TimelineBuilder};
    use crate::Verdict;
    use serde_json::json;

    #[test]
    fn passes_when_both_streams_carry_the_session() {
        let r = event_streams_agree(&stories::healthy_abort().build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn fails_on_a_blind_directory_stream() {
        // 1.14.48: /event delivers only server.connected.
        let mut b = TimelineBuilder::new();
        b.at(10.0).dir_event("server.connected", json!({}));
        b.at(20.0).global_event("server.connected", json!({}));
        b.at(100.0).event_status("busy");
        b.at(900.0).idle_events();
        let r = event_streams_agree(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![0, 2]);
        assert!(r.message.contains("delivered only server.connected (at 10 ms) while /global/event carried 3 session event(s)"), "{}", r.message);
    }

    #[test]
    fn names_what_is_missing_where() {
        let tl = stories::phantom_idle().build();
        let r = event_streams_agree(&tl);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(
            r.message.contains(
                "session.idle missing on /event (1x, seen on the other stream at 1870 ms)"
            ),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("session.status idle missing on /event"),
            "{}",
            r.message
        );
        assert_eq!(r.witness.len(), 2);

        let mut b = TimelineBuilder::new();
        b.at(10.0).dir_event("server.connected", json!({}));
        b.at(100.0).event_status("busy");
        b.at(110.0).dir_event(
            "session.status",
            json!({"sessionID": "ses_test", "status": {"type": "busy"}}),
        );
        b.at(120.0).dir_event(
            "session.status",
            json!({"sessionID": "ses_test", "status": {"type": "busy"}}),
        );
        let extra = b.last();
        let r = event_streams_agree(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![extra]);
        assert!(
            r.message.contains("missing on /global/event"),
            "{}",
            r.message
        );
    }

    /// Message and part updates are told apart by their ids (and a part's state): the same
    /// count of other messages on /event is no match.
    #[test]
    fn message_and_part_updates_are_compared_by_id() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).dir_event("server.connected", json!({}));
        for (at, m, p) in [(100.0, "msg_1", "prt_1"), (110.0, "msg_2", "prt_2")] {
            let msg = json!({"info": {"id": m, "sessionID": "ses_test", "role": "assistant"}});
            let part = json!({"part": {"id": p, "sessionID": "ses_test", "messageID": m, "type": "tool",
                "state": {"status": "running"}}});
            if m == "msg_1" {
                b.at(at).global_event("message.updated", msg).global_event("message.part.updated", part);
            } else {
                b.at(at).dir_event("message.updated", msg).dir_event("message.part.updated", part);
            }
        }
        let r = event_streams_agree(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("message.updated msg_1 missing on /event"), "{}", r.message);
        assert!(r.message.contains("message.part.updated prt_1 running missing on /event"), "{}", r.message);
    }

    #[test]
    fn needs_both_streams() {
        let r = event_streams_agree(&TimelineBuilder::new().event_status("busy").build());
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("not recorded"), "{}", r.message);
        let r = event_streams_agree(
            &TimelineBuilder::new()
                .dir_event("server.connected", json!({}))
                .build(),
        );
        assert_eq!(r.verdict, Verdict::Error);
    }

    /// A step's `POST /session` (the harness's own session, created before the steps, is
    /// not judged).
    fn created(b: &mut TimelineBuilder, id: &str) {
        step_answered_with_session(b, "POST", "/session", id);
    }

    /// A step's request answered 200 with the session `id` in its body.
    fn step_answered_with_session(b: &mut TimelineBuilder, method: &str, path: &str, id: &str) {
        b.push(crate::Observation::Http {
            method: method.into(),
            path: path.into(),
            step: Some(1),
            status: 200,
            body: json!({"id": id}),
            elapsed_ms: 5.0,
            error: None,
        });
    }

    fn announced(id: &str) -> serde_json::Value {
        json!({"info": {"id": id, "directory": "/tmp/proj"}})
    }

    #[test]
    fn sessions_announced_on_both_streams_pass() {
        let mut b = TimelineBuilder::new();
        b.mirror(true).at(10.0).event("server.connected", json!({}));
        created(&mut b, "ses_a");
        b.event("session.created", announced("ses_a"));
        // Reading or sharing a session answers with a session too, but creates none: no
        // session.created is owed for ses_old.
        step_answered_with_session(&mut b, "GET", "/session/ses_old", "ses_old");
        step_answered_with_session(&mut b, "POST", "/session/ses_old/share", "ses_old");
        b.at(200.0).http("PATCH", "/config", 200, json!({}));
        created(&mut b, "ses_b");
        b.event("session.created", announced("ses_b"));
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("the 2 session(s)"), "{}", r.message);
    }

    #[test]
    fn a_directory_stream_closed_by_a_config_change_fails_with_its_end() {
        // 1.18.34: PATCH /config disposes the instance and ends /event.
        let mut b = TimelineBuilder::new();
        b.mirror(true).at(10.0).event("server.connected", json!({}));
        created(&mut b, "ses_a");
        b.event("session.created", announced("ses_a"));
        b.mirror(false).at(250.0).push(crate::Observation::StreamEnded {
            stream: EventStream::Directory,
            cause: crate::StreamEndCause::Ended,
            expected: false,
        });
        let end = b.last();
        b.at(300.0);
        created(&mut b, "ses_b");
        let post = b.last();
        b.at(301.0).global_event("session.created", announced("ses_b"));
        let global = b.last();
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![end, post, global]);
        assert!(
            r.message.contains("session ses_b (created at 300 ms) was announced on /global/event at 301 ms but never on /event: /event had ended at 250 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_stream_ended_while_healthy_names_the_health_answer() {
        let mut b = TimelineBuilder::new();
        b.at(250.0).push(crate::Observation::StreamEnded {
            stream: EventStream::Directory,
            cause: crate::StreamEndCause::Ended,
            expected: false,
        });
        b.at(260.0).http("GET", "/global/health", 204, json!(null));
        let tl = b.build();
        let holes = crate::checks::view::stream_holes(&tl);
        let r = event_streams_stay_open(&holes);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![0, 1]);
        assert!(
            r.message.contains("ended the /event stream at 250 ms while it was alive (GET /global/health answered 204 at 260 ms)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_directory_stream_that_goes_silent_while_open_fails() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).dir_event("server.connected", json!({}));
        let connected = b.last();
        created(&mut b, "ses_a");
        b.at(20.0).global_event("session.created", announced("ses_a"));
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.witness.contains(&connected), "{r:?}");
        assert!(r.message.contains("/event stayed silent since dir-event server.connected at 10 ms"), "{}", r.message);
    }

    #[test]
    fn without_a_reference_there_is_no_verdict() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).dir_event("server.connected", json!({}));
        b.http("POST", "/session", 200, json!({"id": "ses_setup"}));
        b.event("session.created", announced("ses_setup"));
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Error, "no step created a session: {r:?}");
        created(&mut b, "ses_a");
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Error, "not on /global/event: {r:?}");
        let mut b = TimelineBuilder::new();
        created(&mut b, "ses_a");
        b.global_event("session.created", announced("ses_a"));
        let r = session_created_on_both_streams(&b.build());
        assert_eq!(r.verdict, Verdict::Error, "/event not recorded: {r:?}");
    }
}
