//! What each call of the custom-tools scenario came to, read from its timeline: the
//! events between the call's prompt step and the next call's. The tool part's last state
//! before the wait's abort (its note, [`ABORT_ON_TIMEOUT_NOTE`]) says whether the tool
//! answered, threw or was still running at the deadline (a hang); the idle events say
//! whether the session came back.

use super::compile::ToolCase;
use oc_conform_checks::{wire, EventStream, Observation, StepPhase, Timeline};
use oc_conform_scenario::ABORT_ON_TIMEOUT_NOTE;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutcome {
    /// The tool part completed: the tool returned.
    Answered,
    /// The tool part ended in `error` before any abort: the tool threw (or rejected).
    Threw,
    /// The tool part was still running when the call's deadline passed.
    Hung,
    /// opencode refused the arguments (its `invalid` tool answered instead).
    Refused,
    /// No tool part of the call was seen (the run ended early, the model was not asked).
    NotRun,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Threw => "threw",
            CallOutcome::Hung => "hung",
            CallOutcome::Refused => "refused",
            CallOutcome::NotRun => "not run",
        }
    }
}

/// One call and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: String,
    pub case: String,
    pub arguments: Value,
    pub outcome: CallOutcome,
    /// The output's start (answered), the error (threw, refused), what the abort left
    /// (hung).
    pub detail: String,
    /// The tool part's running time, from its state (`time.start` .. `time.end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    /// The session went idle after the call (after the abort, for a hang).
    pub back_to_idle: bool,
}

const DETAIL_CHARS: usize = 160;

fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(DETAIL_CHARS).collect();
    if s.chars().count() > DETAIL_CHARS {
        out.push('…');
    }
    out
}

fn step_start(e: &Observation, wanted: &str) -> bool {
    matches!(e, Observation::Step { name, phase: StepPhase::Started, .. } if name == wanted)
}

/// The outcome of each of `cases`, in order, from the scenario's timeline.
pub fn outcomes(cases: &[ToolCase], t: &Timeline) -> Vec<ToolCall> {
    let prompts: Vec<usize> = t
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| step_start(&e.obs, "prompt"))
        .map(|(i, _)| i)
        .collect();
    let session = t.session_id.as_deref();
    cases
        .iter()
        .enumerate()
        .map(|(k, case)| {
            let window = match prompts.get(k) {
                Some(&from) => &t.entries[from..prompts.get(k + 1).copied().unwrap_or(t.entries.len())],
                None => &t.entries[0..0],
            };
            let abort_at = window
                .iter()
                .position(|e| matches!(&e.obs, Observation::Harness { message } if message.ends_with(&format!("({ABORT_ON_TIMEOUT_NOTE})"))))
                .unwrap_or(window.len());
            // Tool parts of this call (the global stream: the directory one repeats them).
            let parts = |range: &[oc_conform_checks::Entry], tool: &str| -> Vec<(usize, Value)> {
                range
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| match &e.obs {
                        Observation::Event {
                            stream: EventStream::Global,
                            event_type,
                            properties,
                            ..
                        } => {
                            let p = wire::decode(event_type, properties).tool_part()?;
                            (p.tool() == Some(tool)).then(|| (i, properties["part"].clone()))
                        }
                        _ => None,
                    })
                    .collect()
            };
            let idle_after = |from: usize| {
                window[from.min(window.len())..]
                    .iter()
                    .any(|e| crate::plugin_report::is_idle_event(&e.obs, session))
            };
            let before = parts(&window[..abort_at], &case.tool);
            let all = parts(window, &case.tool);
            let state = |p: &Value| p.pointer("/state/status").and_then(Value::as_str).unwrap_or("?").to_string();
            let time = |p: &Value| {
                let start = p.pointer("/state/time/start").and_then(Value::as_f64)?;
                let end = p.pointer("/state/time/end").and_then(Value::as_f64)?;
                Some(end - start)
            };
            let text = |p: &Value, ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string();
            let (outcome, detail, ms, back) = match (before.last(), all.last()) {
                (Some((i, p)), _) if state(p) == "completed" => {
                    (CallOutcome::Answered, excerpt(&text(p, "/state/output")), time(p), idle_after(*i))
                }
                (Some((i, p)), _) if state(p) == "error" => {
                    (CallOutcome::Threw, excerpt(&text(p, "/state/error")), time(p), idle_after(*i))
                }
                (Some(_), last) => {
                    let after = match last {
                        Some((_, p)) if state(p) == "error" => {
                            format!("after the abort the tool part ended in error: {}", excerpt(&text(p, "/state/error")))
                        }
                        Some((_, p)) => format!("after the abort the tool part stayed `{}`", state(p)),
                        None => String::new(),
                    };
                    let ms = last.and_then(|(_, p)| time(p));
                    (CallOutcome::Hung, after, ms, idle_after(abort_at))
                }
                (None, _) => match parts(&window[..abort_at], "invalid").last() {
                    Some((i, p)) => {
                        let why = text(p, "/state/output");
                        let why = if why.is_empty() { text(p, "/state/error") } else { why };
                        (CallOutcome::Refused, excerpt(&why), None, idle_after(*i))
                    }
                    None => (CallOutcome::NotRun, "no tool part of this call was seen".into(), None, idle_after(0)),
                },
            };
            ToolCall {
                tool: case.tool.clone(),
                case: case.label.clone(),
                arguments: case.arguments.clone(),
                outcome,
                detail,
                ms,
                back_to_idle: back,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(tool: &str) -> ToolCase {
        ToolCase {
            tool: tool.into(),
            label: "typical".into(),
            arguments: json!({"input": "x"}),
        }
    }

    fn step(t: &mut Timeline, at: f64, index: usize, name: &str) {
        if name == "abort" {
            let message = format!("step {index}: event did not happen within 10000 ms ({ABORT_ON_TIMEOUT_NOTE})");
            t.push(at, Observation::Harness { message });
        } else {
            t.push(at, Observation::Step { index, name: name.into(), phase: StepPhase::Started, note: None });
        }
    }

    fn part(t: &mut Timeline, at: f64, tool: &str, state: Value) {
        for stream in [EventStream::Global, EventStream::Directory] {
            t.push(
                at,
                Observation::Event {
                    stream,
                    event_type: "message.part.updated".into(),
                    session_id: Some("ses_1".into()),
                    properties: json!({"part": {"type": "tool", "tool": tool, "state": state}}),
                },
            );
        }
    }

    fn idle(t: &mut Timeline, at: f64) {
        t.push(
            at,
            Observation::Event {
                stream: EventStream::Global,
                event_type: "session.idle".into(),
                session_id: Some("ses_1".into()),
                properties: json!({"sessionID": "ses_1"}),
            },
        );
    }

    /// The shape measured on 1.15.13 and 1.18.34 (`fixtures/plugin-packages/tool-*`): a
    /// tool that answers, one that throws, one that hangs until the abort.
    #[test]
    fn answered_threw_and_hung_are_told_apart_with_the_session_back_to_idle() {
        let mut t = Timeline::new("plugin-custom-tools", "1.18.34");
        t.session_id = Some("ses_1".into());
        step(&mut t, 0.0, 0, "prompt");
        part(&mut t, 10.0, "echo", json!({"status": "running", "time": {"start": 100}}));
        part(&mut t, 11.0, "echo", json!({"status": "completed", "output": "echo received x", "time": {"start": 100, "end": 112}}));
        idle(&mut t, 20.0);
        step(&mut t, 30.0, 5, "prompt");
        part(&mut t, 40.0, "boom", json!({"status": "error", "error": "boom refuses \"x\"", "time": {"start": 1, "end": 2}}));
        idle(&mut t, 41.0);
        step(&mut t, 50.0, 10, "prompt");
        part(&mut t, 60.0, "hang", json!({"status": "running", "time": {"start": 1}}));
        step(&mut t, 10_060.0, 12, "abort");
        part(&mut t, 10_070.0, "hang", json!({"status": "error", "error": "Tool execution aborted", "time": {"start": 1000, "end": 11000}}));
        idle(&mut t, 10_071.0);
        step(&mut t, 10_100.0, 15, "prompt");
        let got = outcomes(&[case("echo"), case("boom"), case("hang"), case("never")], &t);
        let short: Vec<(CallOutcome, bool)> = got.iter().map(|c| (c.outcome, c.back_to_idle)).collect();
        assert_eq!(
            short,
            [
                (CallOutcome::Answered, true),
                (CallOutcome::Threw, true),
                (CallOutcome::Hung, true),
                (CallOutcome::NotRun, false)
            ]
        );
        assert_eq!(got[0].detail, "echo received x");
        assert_eq!(got[0].ms, Some(12.0));
        assert_eq!(got[1].detail, "boom refuses \"x\"");
        assert_eq!(got[2].detail, "after the abort the tool part ended in error: Tool execution aborted");
    }

    #[test]
    fn a_hang_the_abort_does_not_end_leaves_the_session_busy_and_refused_arguments_are_named() {
        let mut t = Timeline::new("plugin-custom-tools", "1.18.34");
        t.session_id = Some("ses_1".into());
        step(&mut t, 0.0, 0, "prompt");
        part(&mut t, 1.0, "invalid", json!({"status": "completed", "output": "The arguments provided to the tool are invalid"}));
        idle(&mut t, 2.0);
        step(&mut t, 4.0, 5, "prompt");
        part(&mut t, 5.0, "hang", json!({"status": "running"}));
        step(&mut t, 9.0, 7, "abort");
        let got = outcomes(&[case("echo"), case("hang")], &t);
        assert_eq!((got[0].outcome, got[0].back_to_idle), (CallOutcome::Refused, true));
        assert!(got[0].detail.contains("invalid"));
        assert_eq!((got[1].outcome, got[1].back_to_idle), (CallOutcome::Hung, false));
        assert_eq!(got[1].detail, "after the abort the tool part stayed `running`");
    }
}
