//! Playing one scenario step against the live server.

use super::Live;
use crate::execute::{subscriber, wait};
use oc_conform_checks::{wire, EventStream, Observation, ResourceSample, ServerChange, StepPhase};
use oc_conform_scenario::{OnTimeout, SignalName, Step};
use serde_json::{json, Value};
use std::time::Duration;

/// How a step went wrong. `Fail`: the scenario's own expectation was not met (a verdict).
/// `Error`: the scenario could not go on (no verdict).
#[derive(Debug, Clone)]
pub enum StepProblem {
    Fail(String),
    Error(String),
}

pub fn step_name(step: &Step) -> String {
    match step {
        Step::Prompt { .. } => "prompt".into(),
        Step::Wait { until, .. } => format!("wait {}", condition_text(until)),
        Step::Abort {} => "abort".into(),
        Step::Http { method, path, .. } => format!("http {method} {path}"),
        Step::PermissionReply { reply } => format!("permission-reply {reply}"),
        Step::Command { name, .. } => format!("command {name}"),
        Step::Signal { signal } => format!("signal SIG{}", signal_number(signal).1),
        Step::Dispose {} => "dispose".into(),
        Step::StopServer {} => "stop-server".into(),
        Step::SampleResources { label } => match label {
            Some(l) => format!("sample-resources {l}"),
            None => "sample-resources".into(),
        },
        Step::TurnsInNewDirectories { count, .. } => format!("turns-in-new-directories {count}"),
        Step::NewSession { name } => format!("new-session {name}"),
        Step::DeleteSession { name } => format!("delete-session {name}"),
        Step::OpenSubscriber { name, global } => {
            format!("open-subscriber {name} ({})", if *global { "/global/event" } else { "/event" })
        }
        Step::CloseSubscriber { name } => format!("close-subscriber {name}"),
    }
}

/// The signal's number and its name as written in a scenario (`TERM`).
fn signal_number(signal: &SignalName) -> (i32, &'static str) {
    match signal {
        SignalName::Term => (libc::SIGTERM, "TERM"),
        SignalName::Int => (libc::SIGINT, "INT"),
        SignalName::Kill => (libc::SIGKILL, "KILL"),
    }
}

fn condition_text(c: &oc_conform_scenario::Condition) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .and_then(|m| m.into_iter().next())
        .map(|(k, v)| format!("{k}={v}"))
        .unwrap_or_default()
}

/// `{session}`, `{session:NAME}` and `{permission}` in a path or body.
fn substitute(text: &str, live: &Live) -> String {
    let permission = live
        .recorder
        .with(last_permission_id)
        .unwrap_or_default();
    let mut out = text.replace("{session}", &live.session_id).replace("{permission}", &permission);
    for (name, id) in &live.sessions {
        out = out.replace(&format!("{{session:{name}}}"), id);
    }
    out
}

fn substitute_value(v: &Value, live: &Live) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(s, live)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_value(x, live)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute_value(x, live)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The id of the last permission request asked on the event stream.
pub fn last_permission_id(t: &oc_conform_checks::Timeline) -> Option<String> {
    t.events(EventStream::Global)
        .filter_map(|(_, ty, p)| match wire::decode(ty, p) {
            wire::Event::PermissionAsked(a) => a.id.map(str::to_string),
            _ => None,
        })
        .last()
}

/// Plays step `index`. `since` is the first entry a following wait should look at.
pub async fn play(live: &mut Live, index: usize, step: &Step, since: u64) -> Result<(), StepProblem> {
    let rec = live.recorder.clone();
    let name = step_name(step);
    rec.record(Observation::Step {
        index,
        name: name.clone(),
        phase: StepPhase::Started,
        note: None,
    });
    let result = play_inner(live, index, step, since).await;
    let (phase, note) = match &result {
        Ok(note) => (StepPhase::Finished, note.clone()),
        Err(StepProblem::Fail(m)) | Err(StepProblem::Error(m)) => {
            (StepPhase::Failed, Some(m.clone()))
        }
    };
    rec.record(Observation::Step {
        index,
        name,
        phase,
        note,
    });
    result.map(|_| ())
}

async fn play_inner(live: &mut Live, index: usize, step: &Step, since: u64) -> Result<Option<String>, StepProblem> {
    let rec = live.recorder.clone();
    let sid = live.session_id.clone();
    let call_timeout = live.call_timeout;
    let api = live.api.clone();
    let expect_2xx = |what: &str, a: &crate::observe::http::Answer| {
        if a.ok() {
            Ok(None)
        } else {
            Err(StepProblem::Error(format!(
                "{what} answered {}: {}",
                a.status,
                a.error.clone().unwrap_or_else(|| truncate(&a.body.to_string(), 300))
            )))
        }
    };
    match step {
        Step::Prompt { text, is_async } => {
            let body = json!({"parts": [{"type": "text", "text": text}]});
            let path = if *is_async {
                format!("/session/{sid}/prompt_async")
            } else {
                format!("/session/{sid}/message")
            };
            let a = api.call(&rec, Some(index), "POST", &path, Some(&body), call_timeout).await;
            expect_2xx(&format!("POST {path}"), &a)
        }
        Step::Wait {
            until,
            timeout_ms,
            on_timeout,
        } => {
            // The core is free for another cell meanwhile.
            let quiet = crate::pace::leaves_core_free(until, *on_timeout);
            let _quiet = live.pace.as_ref().filter(|_| quiet).map(crate::pace::Pace::quiet);
            let ok = wait::wait_for(&rec, until, since, Duration::from_millis(*timeout_ms)).await;
            if ok {
                return Ok(None);
            }
            let msg = format!(
                "{} did not happen within {timeout_ms} ms",
                condition_text(until)
            );
            match on_timeout {
                OnTimeout::Continue => {
                    rec.record(Observation::Harness {
                        message: format!("step {}: {msg} (continuing)", index + 1),
                    });
                    Ok(None)
                }
                OnTimeout::Fail => Err(StepProblem::Fail(msg)),
                OnTimeout::Error => Err(StepProblem::Error(msg)),
                OnTimeout::Abort => {
                    rec.record(Observation::Harness {
                        message: format!(
                            "step {}: {msg} ({})",
                            index + 1,
                            oc_conform_scenario::ABORT_ON_TIMEOUT_NOTE
                        ),
                    });
                    let path = format!("/session/{sid}/abort");
                    let a = api.call(&rec, Some(index), "POST", &path, None, call_timeout).await;
                    expect_2xx(&format!("POST {path}"), &a)
                }
            }
        }
        Step::Abort {} => {
            let path = format!("/session/{sid}/abort");
            let a = api.call(&rec, Some(index), "POST", &path, None, call_timeout).await;
            expect_2xx(&format!("POST {path}"), &a)
        }
        Step::Http {
            method,
            path,
            body,
            expect_status,
            auth,
        } => {
            let path = substitute(path, live);
            let body = body.as_ref().map(|b| substitute_value(b, live));
            let a = if *auth {
                api.call(&rec, Some(index), method, &path, body.as_ref(), call_timeout)
                    .await
            } else {
                api.without_auth()
                    .call(&rec, Some(index), method, &path, call_timeout)
                    .await
            };
            check_status(&format!("{method} {path}"), &a, *expect_status).map(|()| None)
        }
        Step::PermissionReply { reply } => {
            let Some(id) = rec.with(last_permission_id) else {
                return Err(StepProblem::Error(
                    "no permission.asked event was observed to reply to; wait for one first".into(),
                ));
            };
            let [(path, body), (old, old_body)] = wire::permission_reply_requests(&sid, &id, reply);
            let a = api
                .call(&rec, Some(index), "POST", &path, Some(&body), call_timeout)
                .await;
            if a.status == 404 {
                // Releases before the /permission routes: the per-session form.
                let a = api
                    .call(&rec, Some(index), "POST", &old, Some(&old_body), call_timeout)
                    .await;
                return expect_2xx(&format!("POST {old}"), &a);
            }
            expect_2xx(&format!("POST {path}"), &a)
        }
        Step::Command {
            name,
            arguments,
            expect_status,
        } => {
            let path = format!("/session/{sid}/command");
            let body = json!({"command": name, "arguments": arguments});
            let a = api
                .call(&rec, Some(index), "POST", &path, Some(&body), call_timeout)
                .await;
            check_status(&format!("POST {path}"), &a, *expect_status).map(|()| None)
        }
        Step::Signal { signal } => {
            let (sig, label) = signal_number(signal);
            rec.record(Observation::Server(ServerChange::Signalled {
                signal: label.into(),
            }));
            live.server.signal(sig);
            Ok(None)
        }
        Step::Dispose {} => {
            let a = api
                .call(&rec, Some(index), "POST", "/global/dispose", None, call_timeout)
                .await;
            expect_2xx("POST /global/dispose", &a)
        }
        Step::StopServer {} => {
            live.server.stop_group(live.stop_grace).await;
            Ok(None)
        }
        Step::SampleResources { label } => {
            let Some(pid) = rec.with(|t| t.server_pid) else {
                return Err(StepProblem::Error("the server's pid is unknown: nothing to sample".into()));
            };
            let Some(h) = crate::observe::procs::read_holdings(pid) else {
                return Err(StepProblem::Error(format!("/proc/{pid} could not be read: the server is gone")));
            };
            rec.record(Observation::Resources(ResourceSample {
                label: label.clone(),
                pid,
                directories: live.directories_played,
                threads: h.threads,
                fds: h.fds,
                rss_kb: h.rss_kb,
            }));
            Ok(None)
        }
        Step::NewSession { name } => {
            let a = api.call(&rec, Some(index), "POST", "/session", Some(&json!({})), call_timeout).await;
            expect_2xx("POST /session", &a)?;
            let Some(id) = a.body["id"].as_str() else {
                return Err(StepProblem::Error(format!("POST /session answered no id: {}", truncate(&a.body.to_string(), 300))));
            };
            live.sessions.insert(name.clone(), id.to_string());
            Ok(None)
        }
        Step::DeleteSession { name } => {
            let Some(id) = live.sessions.remove(name) else {
                return Err(StepProblem::Error(format!("no session `{name}` is open (the loader checks this)")));
            };
            let path = format!("/session/{id}");
            let a = api.call(&rec, Some(index), "DELETE", &path, None, call_timeout).await;
            expect_2xx(&format!("DELETE {path}"), &a)
        }
        Step::OpenSubscriber { name, global } => {
            let (stream, path) = if *global {
                (EventStream::Global, "/global/event".to_string())
            } else {
                (EventStream::Directory, format!("/event?directory={}", api.directory))
            };
            let (connected, subscriber) = subscriber::open(api.clone(), stream, path.clone());
            // Whatever way this step ends but success, the subscriber is dropped: closed.
            match tokio::time::timeout(call_timeout, connected).await {
                Ok(Ok(Ok(()))) => {
                    live.subscribers.insert(name.clone(), subscriber);
                    Ok(None)
                }
                Ok(Err(_)) => Err(StepProblem::Error(format!("GET {path} (subscriber {name}): its reader ended"))),
                Ok(Ok(Err(why))) => Err(StepProblem::Error(format!("GET {path} (subscriber {name}): {why}"))),
                Err(_) => Err(StepProblem::Error(format!(
                    "GET {path} (subscriber {name}) sent no server.connected within {} ms",
                    call_timeout.as_millis()
                ))),
            }
        }
        Step::CloseSubscriber { name } => {
            let Some(subscriber) = live.subscribers.remove(name) else {
                return Err(StepProblem::Error(format!("no subscriber `{name}` is open (the loader checks this)")));
            };
            // What it read becomes the step's note: the one account of that client.
            match subscriber.close(call_timeout).await {
                Ok(tally) => Ok(Some(tally.describe())),
                Err(why) => Err(StepProblem::Error(format!("closing subscriber {name}: {why}"))),
            }
        }
        Step::TurnsInNewDirectories {
            count,
            text,
            at_once,
            timeout_ms,
        } => {
            let first = live.directories_played + 1;
            let per = (*at_once).max(1);
            let mut next = 0;
            while next < *count {
                let batch = (next..(next + per).min(*count))
                    .map(|i| turn_in_new_directory(&live.api, &rec, Duration::from_millis(*timeout_ms), first + i, index, text));
                let played = futures::future::join_all(batch).await;
                live.directories_played += played.iter().filter(|r| r.is_ok()).count() as u32;
                if let Some(problem) = played.into_iter().find_map(Result::err) {
                    return Err(problem);
                }
                next += per;
            }
            Ok(None)
        }
    }
}

/// Project directory number `n` under the scenario's project, with its `opencode.json`,
/// and one synchronous turn of a new session there.
async fn turn_in_new_directory(
    project_api: &crate::observe::http::Api,
    rec: &crate::record::Recorder,
    call_timeout: Duration,
    n: u32,
    index: usize,
    text: &str,
) -> Result<(), StepProblem> {
    let project = std::path::PathBuf::from(&project_api.directory);
    let dir = project.join("directories").join(format!("d{n}"));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(project.join("opencode.json"), dir.join("opencode.json")).map(|_| ()))
        .map_err(|e| StepProblem::Error(format!("cannot prepare {}: {e}", dir.display())))?;
    let api = project_api.in_directory(&dir.display().to_string());
    let created = api
        .call(rec, Some(index), "POST", "/session", Some(&json!({})), call_timeout)
        .await;
    let Some(sid) = created.body["id"].as_str() else {
        return Err(StepProblem::Error(format!(
            "POST /session in {} answered {}: {}",
            dir.display(),
            created.status,
            created.error.clone().unwrap_or_else(|| truncate(&created.body.to_string(), 300))
        )));
    };
    let path = format!("/session/{sid}/message");
    let body = json!({"parts": [{"type": "text", "text": text}]});
    let a = api.call(rec, Some(index), "POST", &path, Some(&body), call_timeout).await;
    if !a.ok() {
        return Err(StepProblem::Error(format!(
            "POST {path} in {} answered {}: {}",
            dir.display(),
            a.status,
            a.error.clone().unwrap_or_else(|| truncate(&a.body.to_string(), 300))
        )));
    }
    Ok(())
}

fn check_status(
    what: &str,
    a: &crate::observe::http::Answer,
    expect: Option<u16>,
) -> Result<(), StepProblem> {
    if a.status == 0 {
        return Err(StepProblem::Error(format!(
            "{what}: no answer ({})",
            a.error.clone().unwrap_or_default()
        )));
    }
    match expect {
        Some(want) if want != a.status => Err(StepProblem::Fail(format!(
            "{what} answered {} (expected {want}): {}",
            a.status,
            truncate(&a.body.to_string(), 300)
        ))),
        _ => Ok(()),
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
