//! Permission replies: an accepted reply must take effect on the server that asked.

use super::view::{
    harness_notes, join_problems, ms, path_only, stream_events, tool_part_updates, witness,
    EventRef,
};
use crate::wire::{self, Event};
use crate::{CheckResult, Entry, EventStream, Observation, Timeline};
use serde_json::Value;

pub const PERMISSION_REPLY_TAKES_EFFECT: &str = "permission-reply-takes-effect";

/// One attempt to answer a permission request, over HTTP or from a fixture plugin.
#[derive(Debug)]
struct Reply<'a> {
    entry: &'a Entry,
    /// The permission (request) id, when it could be told.
    id: Option<String>,
    accepted: bool,
    how: String,
}

fn record_id(record: &Value) -> Option<String> {
    ["requestID", "permissionID", "permission_id", "id"]
        .iter()
        .find_map(|k| record[*k].as_str().map(str::to_string))
        .or_else(|| {
            // `http://host:port/session/<sid>/permissions/<id>`: the path after the host.
            let url = record["url"].as_str()?;
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            rest.find('/')
                .map(|i| &rest[i..])
                .and_then(wire::permission_reply_target)
                .map(str::to_string)
        })
}

fn replies(tl: &Timeline) -> Vec<Reply<'_>> {
    tl.entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Http {
                method,
                path,
                status,
                body,
                error,
                ..
            } if method.eq_ignore_ascii_case("POST") => {
                let id = wire::permission_reply_target(path)?;
                let accepted = (200..300).contains(status) && *body != Value::Bool(false);
                let how = match error {
                    Some(err) => format!("POST {} -> no answer ({err})", path_only(path)),
                    None => format!("POST {} -> {status}", path_only(path)),
                };
                Some(Reply {
                    entry: e,
                    id: Some(id.to_string()),
                    accepted,
                    how,
                })
            }
            Observation::Plugin { record } => {
                let is_reply = match record["event"].as_str() {
                    Some(ev) => ev == "permission-replied",
                    None => {
                        record.get("requestID").is_some() || record.get("permissionID").is_some()
                    }
                };
                if !is_reply {
                    return None;
                }
                let error = record.get("error").filter(|v| !v.is_null());
                let status = record["status"].as_u64();
                let accepted = error.is_none()
                    && !matches!(status, Some(s) if !(200..300).contains(&s))
                    && record["data"] != Value::Bool(false);
                let how = match (error, status) {
                    (Some(err), _) => format!("a plugin reply that failed: {err}"),
                    (None, Some(s)) => format!("a plugin reply answered {s}"),
                    (None, None) => "a plugin reply".to_string(),
                };
                Some(Reply {
                    entry: e,
                    id: record_id(record),
                    accepted,
                    how,
                })
            }
            _ => None,
        })
        .collect()
}

fn event_names(ev: &EventRef, id: &str) -> bool {
    ev.event().permission_id() == Some(id)
}

/// A reply the server accepted leads to `permission.replied`, leaves `GET /permission` and
/// lets the tool leave `pending`, within `grace_ms`.
pub fn permission_reply_takes_effect(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = PERMISSION_REPLY_TAKES_EFFECT;
    let grace = grace_ms as f64;
    let all = replies(tl);
    let (accepted, refused): (Vec<&Reply>, Vec<&Reply>) = all.iter().partition(|r| r.accepted);
    if accepted.is_empty() {
        return match refused.first() {
            Some(_) => CheckResult::fail(
                check,
                format!(
                    "no permission reply was accepted: {}",
                    join_problems(
                        &refused
                            .iter()
                            .map(|r| format!("{} at {}", r.how, ms(r.entry.at_ms)))
                            .collect::<Vec<_>>()
                    )
                ),
                witness(refused.iter().map(|r| r.entry.seq)),
            ),
            None => CheckResult::error(
                check,
                format!(
                    "no permission reply was attempted (no POST /permission/<id>/reply, no plugin `permission-replied` record){}",
                    harness_notes(tl)
                ),
            ),
        };
    }

    let pending: Vec<(&Entry, &Vec<String>)> = tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::PendingPermissions { ids } => Some((e, ids)),
            _ => None,
        })
        .collect();
    let end = tl.end_ms();
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    let mut undecided = Vec::new();
    let mut effects = Vec::new();
    for r in &accepted {
        let t_r = r.entry.at_ms;
        let deadline = t_r + grace;
        let Some(id) = r.id.as_deref() else {
            undecided.push(format!(
                "{} at {} does not say which permission it answered",
                r.how,
                ms(t_r)
            ));
            continue;
        };
        let asked = stream_events(tl, EventStream::Global).find_map(|e| match e.event() {
            Event::PermissionAsked(a) if a.id == Some(id) => Some((e, a)),
            _ => None,
        });
        let mut missing = Vec::new();
        let mut local_seqs = vec![r.entry.seq];
        local_seqs.extend(asked.map(|(a, _)| a.seq()));

        // 1. The server announces it.
        let replied = stream_events(tl, EventStream::Global).find(|e| {
            matches!(e.event(), Event::PermissionReplied(_)) && event_names(e, id) && e.at() <= deadline
        });
        if replied.is_none() {
            missing.push(format!(
                "no permission.replied event for {id} by {}",
                ms(deadline)
            ));
        }

        // 2. It leaves the pending list.
        if pending.is_empty() {
            undecided.push(format!(
                "GET /permission was never recorded: cannot tell whether {id} left the pending list"
            ));
        } else if let Some((e, ids)) = pending.iter().rev().find(|(e, _)| e.at_ms <= deadline) {
            if ids.iter().any(|i| i == id) {
                missing.push(format!(
                    "GET /permission still listed {id} at {} (since {})",
                    ms(deadline),
                    ms(e.at_ms)
                ));
                local_seqs.push(e.seq);
            }
        }

        // 3. The tool call it held leaves `pending`.
        let call = asked.and_then(|(_, a)| a.call_id);
        let sid = asked
            .and_then(|(_, a)| a.session)
            .or(tl.session_id.as_deref());
        if let (Some(call), Some(sid)) = (call, sid) {
            let last = tool_part_updates(tl, sid, EventStream::Global)
                .into_iter()
                .rev()
                .find(|p| p.call_id() == Some(call) && p.event.at() <= deadline);
            if let Some(p) = last.filter(|p| p.status() == "pending") {
                missing.push(format!(
                    "its tool call {call} was still pending at {}",
                    ms(deadline)
                ));
                local_seqs.push(p.event.seq());
            }
        }

        if missing.is_empty() {
            effects.push(format!("{} at {}", r.how, ms(t_r)));
        } else if end < deadline {
            undecided.push(format!(
                "the run ended {} after {} at {}; the check needs {grace_ms} ms of observation",
                ms(end - t_r),
                r.how,
                ms(t_r)
            ));
        } else {
            problems.push(format!(
                "{} at {} was accepted but did not take effect: {}",
                r.how,
                ms(t_r),
                missing.join(", ")
            ));
            seqs.extend(local_seqs);
        }
    }

    if !problems.is_empty() {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    } else if !undecided.is_empty() {
        CheckResult::error(check, join_problems(&undecided))
    } else {
        CheckResult::pass(
            check,
            format!(
                "every accepted reply took effect within {grace_ms} ms: {}",
                join_problems(&effects)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TimelineBuilder, SESSION};
    use crate::Verdict;
    use serde_json::json;

    /// The tool call waits in `running` for permission `per_1` (as opencode does).
    fn asked() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(0.0).pending(&[]);
        b.at(100.0).tool_part("prt_1", "call_1", "pending");
        b.at(110.0).tool_part("prt_1", "call_1", "running");
        b.at(230.0).permission_asked("per_1", "call_1");
        b.at(250.0).pending(&["per_1"]);
        b
    }

    /// per_1 answered over HTTP, then a `permission.replied` for `replied`, the pending list
    /// empty, the tool completed.
    fn http_reply_then_replied_event_for(replied: &str) -> CheckResult {
        let mut b = asked();
        b.at(1000.0)
            .http("POST", "/permission/per_1/reply", 200, json!(true));
        b.at(1002.0).permission_replied(replied, "once");
        b.at(1010.0).pending(&[]);
        b.at(1100.0).tool_part("prt_1", "call_1", "completed");
        b.at(2500.0).harness("end");
        permission_reply_takes_effect(&b.build(), 1000)
    }

    #[test]
    fn passes_when_an_http_reply_takes_effect() {
        let r = http_reply_then_replied_event_for("per_1");
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn fails_when_an_accepted_plugin_reply_is_dropped() {
        // 1.15.13 before the 404: the in-process client says 200 `true`, nothing happens.
        let mut b = asked();
        let asked_event = b.last() - 1;
        let still_pending = b.last();
        b.at(1000.0).plugin(
            json!({"event": "permission-replied", "status": 200, "data": true, "error": null,
            "url": format!("http://localhost:4096/session/{SESSION}/permissions/per_1")}),
        );
        let reply = b.last();
        b.at(3000.0).harness("end");
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![asked_event, still_pending, reply]);
        assert!(
            r.message.contains("a plugin reply answered 200 at 1000 ms was accepted but did not take effect: no permission.replied event for per_1 by 2000 ms, GET /permission still listed per_1 at 2000 ms (since 250 ms)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn another_permissions_replied_event_does_not_count() {
        let r = http_reply_then_replied_event_for("per_2");
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("no permission.replied event for per_1 by 2000 ms"), "{}", r.message);
    }

    #[test]
    fn fails_when_the_tool_stays_pending() {
        let mut b = TimelineBuilder::new();
        b.at(0.0).pending(&[]);
        b.at(100.0).tool_part("prt_1", "call_1", "pending");
        let part = b.last();
        b.at(230.0).permission_asked("per_1", "call_1");
        b.at(1000.0).http(
            "POST",
            &format!("/session/{SESSION}/permissions/per_1"),
            200,
            json!(true),
        );
        b.at(1002.0).permission_replied("per_1", "once");
        b.at(3000.0).harness("end");
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.witness.contains(&part), "{r:?}");
        assert!(
            r.message.contains("its tool call call_1 was still pending"),
            "{}",
            r.message
        );
    }

    #[test]
    fn the_tool_judged_is_the_one_the_answered_permission_held() {
        // per_0 (held call_0, which completes) was asked first; per_1 holds call_1.
        let mut b = TimelineBuilder::new();
        b.at(0.0).pending(&[]);
        b.at(60.0).permission_asked("per_0", "call_0");
        b.at(100.0).tool_part("prt_1", "call_1", "pending");
        let held = b.last();
        b.at(230.0).permission_asked("per_1", "call_1");
        b.at(1000.0).http("POST", "/permission/per_1/reply", 200, json!(true));
        b.at(1002.0).permission_replied("per_1", "once");
        b.at(1010.0).pending(&[]);
        b.at(1100.0).tool_part("prt_0", "call_0", "completed");
        b.at(2500.0).harness("end");
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("its tool call call_1 was still pending"), "{}", r.message);
        assert!(r.witness.contains(&held), "{r:?}");
    }

    /// The effects are judged as they stood at the deadline (reply + grace), and a run
    /// observed exactly that long is judged.
    #[test]
    fn the_tool_is_judged_as_it_stood_at_the_deadline() {
        let judged = |completed_at: Option<f64>, end: f64| {
            let mut b = TimelineBuilder::new();
            b.at(0.0).pending(&[]);
            b.at(100.0).tool_part("prt_1", "call_1", "pending");
            b.at(230.0).permission_asked("per_1", "call_1");
            b.at(1000.0).http("POST", "/permission/per_1/reply", 200, json!(true));
            b.at(1002.0).permission_replied("per_1", "once");
            b.at(1010.0).pending(&[]);
            if let Some(t) = completed_at {
                b.at(t).tool_part("prt_1", "call_1", "completed");
            }
            b.at(end).harness("end");
            permission_reply_takes_effect(&b.build(), 1000)
        };
        assert_eq!(judged(Some(1900.0), 2500.0).verdict, Verdict::Pass);
        let r = judged(Some(2100.0), 2500.0);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("its tool call call_1 was still pending at 2000 ms"), "{}", r.message);
        let r = judged(None, 2000.0);
        assert_eq!(r.verdict, Verdict::Fail, "observed for exactly the grace: {r:?}");
    }

    #[test]
    fn a_refused_reply_fails_and_no_reply_is_an_error() {
        // 1.15.13's ctx.client: 404 PermissionNotFoundError.
        let mut b = asked();
        b.at(1000.0)
            .plugin(json!({"event": "permission-replied", "status": 404,
            "error": {"_tag": "PermissionNotFoundError", "requestID": "per_1"}}));
        let refused = b.last();
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![refused]);
        assert!(
            r.message
                .starts_with("no permission reply was accepted: a plugin reply that failed"),
            "{}",
            r.message
        );

        let r = permission_reply_takes_effect(&asked().build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("no permission reply was attempted"),
            "{}",
            r.message
        );
    }

    /// A reply is a POST to a reply route, or a plugin's record of one (named by its event,
    /// or without one by its request id); it is accepted when answered 2xx and not `false`.
    #[test]
    fn what_counts_as_a_reply_and_as_an_accepted_one() {
        let judged = |reply: &dyn Fn(&mut TimelineBuilder)| {
            let mut b = asked();
            b.at(1000.0);
            reply(&mut b);
            b.at(3000.0).harness("end");
            permission_reply_takes_effect(&b.build(), 1000)
        };
        let refused = "no permission reply was accepted: ";
        let r = judged(&|b| { b.http("POST", "/permission/per_1/reply", 200, json!(false)); });
        assert!(r.message.starts_with(&format!("{refused}POST /permission/per_1/reply -> 200 at 1000 ms")), "{}", r.message);
        let r = judged(&|b| { b.http("POST", "/permission/per_1/reply", 404, json!({"name": "NotFoundError"})); });
        assert!(r.message.starts_with(&format!("{refused}POST /permission/per_1/reply -> 404")), "{}", r.message);
        let r = judged(&|b| { b.http("GET", "/permission/per_1/reply", 200, json!(true)); });
        assert_eq!(r.verdict, Verdict::Error, "a GET is no reply: {r:?}");
        let r = judged(&|b| { b.plugin(json!({"event": "permission-replied", "requestID": "per_1", "status": 404})); });
        assert!(r.message.starts_with(&format!("{refused}a plugin reply answered 404")), "{}", r.message);
        let r = judged(&|b| { b.plugin(json!({"event": "permission-replied", "requestID": "per_1", "status": 200, "data": false})); });
        assert!(r.message.starts_with(&format!("{refused}a plugin reply answered 200")), "{}", r.message);
        for id in ["requestID", "permissionID"] {
            let r = judged(&|b| { b.plugin(json!({id: "per_1", "status": 200, "data": true})); });
            assert!(r.message.contains("a plugin reply answered 200 at 1000 ms was accepted but did not take effect"), "{}", r.message);
        }
    }

    #[test]
    fn needs_grace_of_observation_and_the_pending_list() {
        let mut b = asked();
        b.at(1000.0)
            .http("POST", "/permission/per_1/reply", 200, json!(true));
        b.at(1200.0).harness("end");
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        assert!(
            r.message.contains("the run ended 200 ms after"),
            "{}",
            r.message
        );

        let mut b = TimelineBuilder::new();
        b.at(230.0).permission_asked("per_1", "call_1");
        b.at(1000.0)
            .http("POST", "/permission/per_1/reply", 200, json!(true));
        b.at(1002.0).permission_replied("per_1", "once");
        b.at(3000.0).harness("end");
        let r = permission_reply_takes_effect(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        assert!(
            r.message.contains("GET /permission was never recorded"),
            "{}",
            r.message
        );
    }

    #[test]
    fn reply_paths() {
        assert_eq!(wire::permission_reply_target("/permission/per_1/reply"), Some("per_1"));
        assert_eq!(
            wire::permission_reply_target("/session/s/permissions/per_2?directory=x"),
            Some("per_2")
        );
        assert_eq!(wire::permission_reply_target("/permission"), None);
        assert_eq!(
            record_id(&json!({"url": "http://localhost:4096/session/s/permissions/per_3"})),
            Some("per_3".into())
        );
    }
}
