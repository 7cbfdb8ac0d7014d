//! Choosing the answer: what kind of request arrived and which scripted turn answers it.
//!
//! Pure bookkeeping over the parsed request body, no I/O, so the classification is tested
//! without a server. The rules:
//! - no `tools` (or an empty array): a title request (title generation, summaries), answered
//!   with the script's `title`;
//! - otherwise an agent turn, answered by the next scripted turn in order;
//! - a turn request past the end of the script is unplanned: an HTTP 500 that says so. A
//!   fake model that answered it with something plausible would hide the very loops and
//!   retries the scenarios are there to catch.

use oc_conform_checks::ModelRequestKind;
use oc_conform_scenario::{ModelScript, ModelTurn, StreamFault};
use serde_json::{json, Value};

/// The title answered when the script names none.
pub(crate) const DEFAULT_TITLE: &str = "Test session";

/// Model name echoed in answers when the request names none.
const DEFAULT_MODEL: &str = "fake-model";

/// How much of the last message the summary quotes, in characters.
const EXCERPT_CHARS: usize = 80;

/// What a request looks like, independent of the script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestShape {
    /// Number of tools offered; 0 makes it a title request.
    pub tool_count: usize,
    /// Some message has role `tool`: the turn continues after a tool ran.
    pub has_tool_result: bool,
    /// `stream: true`; otherwise the answer is one `chat.completion` JSON document.
    pub streaming: bool,
    /// The request's `model`, echoed in the answer.
    pub model: String,
    /// A rough token count of the messages, reported back as usage.
    pub prompt_tokens: u64,
    /// One line for the timeline: message count, the last message, tools offered.
    pub summary: String,
    /// The text of the last user message (what a keyed turn is matched against).
    pub last_user_text: String,
    /// A tool result follows the last user message: the turn continues after a tool.
    pub continues_after_tool: bool,
}

impl RequestShape {
    pub(crate) fn of(body: &Value) -> RequestShape {
        let messages: &[Value] = body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let tool_count = body
            .get("tools")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let has_tool_result = messages
            .iter()
            .any(|m| m.get("role") == Some(&json!("tool")));
        let prompt_chars = body.get("messages").map_or(0, |m| m.to_string().len());
        let last_user = messages.iter().rposition(|m| m.get("role") == Some(&json!("user")));
        let after_user = last_user.map_or(messages, |i| &messages[i + 1..]);
        RequestShape {
            tool_count,
            has_tool_result,
            streaming: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_MODEL)
                .to_string(),
            prompt_tokens: (prompt_chars as u64).div_ceil(4),
            summary: summarize(messages, tool_count),
            last_user_text: last_user.map(|i| message_text(&messages[i])).unwrap_or_default(),
            continues_after_tool: after_user.iter().any(|m| m.get("role") == Some(&json!("tool"))),
        }
    }

    pub(crate) fn kind(&self) -> RequestKind {
        if self.tool_count == 0 {
            RequestKind::Title
        } else {
            RequestKind::Turn
        }
    }
}

/// The two kinds of request opencode sends; whether a turn was planned is the script's
/// business, not the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Title,
    Turn,
}

/// The decision for one request, taken the moment it arrives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    /// 0-based, in order of arrival, over all requests.
    pub index: u32,
    pub kind: ModelRequestKind,
    /// The scripted turn answering it (0-based).
    pub turn: Option<usize>,
    /// Wait this long before the first byte.
    pub delay_ms: u64,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// A completion, streamed or not depending on the request.
    Completion(Completion),
    /// An HTTP error instead of a completion. `body` is sent as JSON when it parses as
    /// JSON, as text otherwise.
    Error { status: u16, body: String },
}

/// What the model says, before any wire encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Completion {
    /// May be empty: a turn of tool calls only.
    pub text: String,
    pub calls: Vec<FunctionCall>,
    pub fault: Option<StreamFault>,
}

/// A tool call with its id assigned and its arguments JSON-encoded, as it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// The script being played: which turn comes next.
#[derive(Debug)]
pub(crate) struct Script {
    script: ModelScript,
    requests: u32,
    /// Turn requests answered in order so far, planned or not.
    turn_requests: usize,
    /// Keyed turns (`prompt`) already answered.
    keyed_used: Vec<usize>,
    /// Tool call ids are `call_1`, `call_2`, ... across the whole run, so no two calls of
    /// one session share an id.
    calls: u32,
}

impl Script {
    pub(crate) fn new(script: ModelScript) -> Script {
        Script {
            script,
            requests: 0,
            turn_requests: 0,
            keyed_used: Vec::new(),
            calls: 0,
        }
    }

    /// Classifies one request and picks its answer; consumes a scripted turn when the
    /// request is a turn.
    pub(crate) fn decide(&mut self, shape: &RequestShape) -> Decision {
        let index = self.requests;
        self.requests += 1;
        match shape.kind() {
            RequestKind::Title => Decision {
                index,
                kind: ModelRequestKind::Title,
                turn: None,
                delay_ms: 0,
                answer: Answer::Completion(Completion {
                    text: self
                        .script
                        .title
                        .clone()
                        .unwrap_or_else(|| DEFAULT_TITLE.to_string()),
                    calls: Vec::new(),
                    fault: None,
                }),
            },
            RequestKind::Turn if shape.continues_after_tool && self.script.after_tool.is_some() => Decision {
                index,
                kind: ModelRequestKind::Turn,
                turn: None,
                delay_ms: 0,
                answer: Answer::Completion(Completion {
                    text: self.script.after_tool.clone().unwrap_or_default(),
                    calls: Vec::new(),
                    fault: None,
                }),
            },
            RequestKind::Turn => {
                let keyed = self.script.turns.iter().enumerate().position(|(i, t)| {
                    !self.keyed_used.contains(&i)
                        && t.prompt.as_deref().is_some_and(|p| shape.last_user_text.contains(p))
                });
                let unkeyed_turn = self.turn_requests;
                let chosen = match keyed {
                    Some(i) => {
                        self.keyed_used.push(i);
                        Some(i)
                    }
                    None => {
                        self.turn_requests += 1;
                        // Keyed turns are out of the order: the n-th unkeyed turn answers.
                        self.script
                            .turns
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| t.prompt.is_none())
                            .nth(unkeyed_turn)
                            .map(|(i, _)| i)
                    }
                };
                let turn = unkeyed_turn;
                match chosen.and_then(|i| self.script.turns.get(i).cloned().map(|t| (i, t))) {
                    Some((chosen, scripted)) => Decision {
                        index,
                        kind: ModelRequestKind::Turn,
                        turn: Some(chosen),
                        delay_ms: scripted.delay_ms,
                        answer: self.answer_turn(scripted),
                    },
                    None => Decision {
                        index,
                        kind: ModelRequestKind::Unplanned,
                        turn: None,
                        delay_ms: 0,
                        answer: Answer::Error {
                            status: 500,
                            body: error_body(
                                &format!(
                                    "oc-conform fake model: unplanned request #{} (the scenario scripts {} turns)",
                                    turn + 1,
                                    self.script.turns.len()
                                ),
                                "server_error",
                            ),
                        },
                    },
                }
            }
        }
    }

    fn answer_turn(&mut self, turn: ModelTurn) -> Answer {
        if let Some(e) = turn.http_error {
            let body = e.body.unwrap_or_else(|| {
                error_body(
                    &format!("oc-conform fake model: scripted HTTP error {}", e.status),
                    error_type(e.status),
                )
            });
            return Answer::Error {
                status: e.status,
                body,
            };
        }
        let calls = turn
            .tool_calls
            .into_iter()
            .map(|call| {
                self.calls += 1;
                FunctionCall {
                    id: format!("call_{}", self.calls),
                    name: call.name,
                    // A `Value` always serializes.
                    arguments: call.arguments.to_string(),
                }
            })
            .collect();
        Answer::Completion(Completion {
            text: turn.text.unwrap_or_default(),
            calls,
            fault: turn.fault,
        })
    }
}

/// An OpenAI-style error document.
pub(crate) fn error_body(message: &str, error_type: &str) -> String {
    json!({ "error": { "message": message, "type": error_type } }).to_string()
}

/// The `type` OpenAI gives errors of this status, so clients that branch on it see a
/// familiar value.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 | 403 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "api_error",
    }
}

/// `3 messages, last user: "Run sleep 100"; 12 tools`.
fn summarize(messages: &[Value], tool_count: usize) -> String {
    let Some(last) = messages.last() else {
        return format!("no messages; {tool_count} tools");
    };
    let role = last.get("role").and_then(Value::as_str).unwrap_or("?");
    let mut text = message_text(last);
    if text.is_empty() {
        let called: Vec<&str> = last
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|c| c.pointer("/function/name").and_then(Value::as_str))
            .collect();
        if !called.is_empty() {
            text = format!("tool calls {}", called.join(", "));
        }
    }
    let n = messages.len();
    format!(
        "{n} messages, last {role}: {:?}; {tool_count} tools",
        excerpt(&text)
    )
}

/// The text of a message whose `content` is a string or an array of parts.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The first characters of `text` on one line.
fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_scenario::{HttpError, ToolCall};

    fn turn_request(messages: Value) -> Value {
        json!({
            "model": "fake-model",
            "stream": true,
            "messages": messages,
            "tools": [
                {"type": "function", "function": {"name": "bash", "parameters": {}}},
                {"type": "function", "function": {"name": "read", "parameters": {}}},
            ],
        })
    }

    fn text_turn(text: &str) -> ModelTurn {
        ModelTurn {
            text: Some(text.into()),
            tool_calls: vec![],
            delay_ms: 0,
            http_error: None,
            fault: None,
            prompt: None,
        }
    }

    fn script(turns: Vec<ModelTurn>) -> Script {
        Script::new(ModelScript { turns, title: None, after_tool: None })
    }

    fn text_of(d: &Decision) -> String {
        match &d.answer {
            Answer::Completion(c) => c.text.clone(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn keyed_turns_answer_their_prompt_and_continuations_get_after_tool() {
        let keyed = |key: &str, text: &str| ModelTurn {
            prompt: Some(key.into()),
            ..text_turn(text)
        };
        let mut s = Script::new(ModelScript {
            turns: vec![keyed("[p1]", "one"), text_turn("plain"), keyed("[p2]", "two")],
            title: None,
            after_tool: Some("after".into()),
        });
        let user = |t: &str| json!({"role": "user", "content": [{"type": "text", "text": t}]});
        // The second prompt first: keyed turns do not depend on the order of requests.
        let d = decide(&mut s, turn_request(json!([user("do [p2] now")])));
        assert_eq!((text_of(&d), d.turn), ("two".into(), Some(2)));
        let tool = json!({"role": "tool", "content": "ok"});
        let d = decide(&mut s, turn_request(json!([user("do [p2] now"), {"role": "assistant"}, tool])));
        assert_eq!((text_of(&d), d.turn, d.kind), ("after".into(), None, ModelRequestKind::Turn));
        // A tool result before the last user message is no continuation.
        let d = decide(&mut s, turn_request(json!([user("x [p2]"), tool, user("then [p1]")])));
        assert_eq!(text_of(&d), "one");
        // A keyed turn answers once; unkeyed requests take the unkeyed turns in order.
        let d = decide(&mut s, turn_request(json!([user("again [p1]")])));
        assert_eq!((text_of(&d), d.turn), ("plain".into(), Some(1)));
        let d = decide(&mut s, turn_request(json!([user("again [p1]")])));
        assert_eq!(d.kind, ModelRequestKind::Unplanned);
    }

    fn decide(script: &mut Script, body: Value) -> Decision {
        script.decide(&RequestShape::of(&body))
    }

    #[test]
    fn requests_without_tools_are_titles_and_consume_no_turn() {
        let mut s = script(vec![text_turn("one")]);
        let no_tools = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let empty_tools = json!({"messages": [], "tools": []});

        for body in [no_tools, empty_tools] {
            let d = decide(&mut s, body);
            assert_eq!(d.kind, ModelRequestKind::Title);
            assert_eq!(d.turn, None);
            let Answer::Completion(c) = d.answer else {
                panic!("{:?}", d.answer)
            };
            assert_eq!(c.text, DEFAULT_TITLE);
        }
        let d = decide(&mut s, turn_request(json!([])));
        assert_eq!(
            (d.index, d.kind, d.turn),
            (2, ModelRequestKind::Turn, Some(0))
        );
    }

    #[test]
    fn the_scripted_title_is_used() {
        let mut s = Script::new(ModelScript {
            turns: vec![],
            title: Some("Sleeping".into()),
            after_tool: None,
        });
        let d = decide(&mut s, json!({"messages": []}));
        assert_eq!(
            d.answer,
            Answer::Completion(Completion {
                text: "Sleeping".into(),
                calls: vec![],
                fault: None
            })
        );
    }

    #[test]
    fn turns_are_consumed_in_order_then_requests_are_unplanned() {
        let mut s = script(vec![text_turn("first"), text_turn("second")]);
        let texts: Vec<_> = (0..2)
            .map(|_| match decide(&mut s, turn_request(json!([]))) {
                Decision {
                    kind: ModelRequestKind::Turn,
                    answer: Answer::Completion(c),
                    turn,
                    ..
                } => (turn, c.text),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [(Some(0), "first".into()), (Some(1), "second".into())]
        );

        for n in [3, 4] {
            let d = decide(&mut s, turn_request(json!([])));
            assert_eq!((d.kind, d.turn), (ModelRequestKind::Unplanned, None));
            let Answer::Error { status, body } = d.answer else {
                panic!()
            };
            assert_eq!(status, 500);
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                body["error"]["message"],
                format!(
                    "oc-conform fake model: unplanned request #{n} (the scenario scripts 2 turns)"
                )
            );
        }
    }

    #[test]
    fn an_empty_script_makes_the_first_turn_unplanned() {
        let mut s = script(vec![]);
        let d = decide(&mut s, turn_request(json!([])));
        assert_eq!((d.index, d.kind), (0, ModelRequestKind::Unplanned));
    }

    #[test]
    fn a_tool_message_is_a_tool_result() {
        let before = RequestShape::of(&turn_request(json!([
            {"role": "user", "content": "run it"},
        ])));
        let after = RequestShape::of(&turn_request(json!([
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        ])));
        assert!(!before.has_tool_result);
        assert!(after.has_tool_result);
        assert_eq!(after.kind(), RequestKind::Turn);
    }

    #[test]
    fn the_summary_names_the_last_message_and_the_tools() {
        let shape = RequestShape::of(&turn_request(json!([
            {"role": "system", "content": "You are opencode."},
            {"role": "user", "content": [{"type": "text", "text": "Run\n  sleep 100"}]},
        ])));
        assert_eq!(
            shape.summary,
            r#"2 messages, last user: "Run sleep 100"; 2 tools"#
        );

        let calls = RequestShape::of(&turn_request(json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
            ]},
        ])));
        assert_eq!(
            calls.summary,
            r#"1 messages, last assistant: "tool calls bash"; 2 tools"#
        );

        let long = "x".repeat(200);
        let shape = RequestShape::of(&json!({"messages": [{"role": "user", "content": long}]}));
        assert_eq!(
            shape.summary,
            format!("1 messages, last user: \"{}…\"; 0 tools", "x".repeat(80))
        );
        assert_eq!(RequestShape::of(&json!({})).summary, "no messages; 0 tools");
    }

    #[test]
    fn http_errors_default_to_an_openai_error_document() {
        let mut s = script(vec![
            ModelTurn {
                http_error: Some(HttpError {
                    status: 429,
                    body: None,
                }),
                ..text_turn("ignored")
            },
            ModelTurn {
                http_error: Some(HttpError {
                    status: 503,
                    body: Some("overloaded".into()),
                }),
                ..text_turn("ignored")
            },
        ]);
        let d = decide(&mut s, turn_request(json!([])));
        assert_eq!(
            d.answer,
            Answer::Error {
                status: 429,
                body: r#"{"error":{"message":"oc-conform fake model: scripted HTTP error 429","type":"rate_limit_error"}}"#.into()
            }
        );
        let d = decide(&mut s, turn_request(json!([])));
        assert_eq!(
            d.answer,
            Answer::Error {
                status: 503,
                body: "overloaded".into()
            }
        );
    }

    #[test]
    fn tool_call_ids_are_unique_across_turns_and_arguments_round_trip() {
        let arguments =
            json!({"command": "sleep 100", "description": "wait \"long\"", "n": [1, 2.5, null]});
        let call = |name: &str| ToolCall {
            name: name.into(),
            arguments: arguments.clone(),
        };
        let mut s = script(vec![
            ModelTurn {
                tool_calls: vec![call("bash"), call("read")],
                ..text_turn("")
            },
            ModelTurn {
                tool_calls: vec![call("bash")],
                delay_ms: 250,
                ..text_turn("")
            },
        ]);
        let mut ids = vec![];
        for delay_ms in [0, 250] {
            let d = decide(&mut s, turn_request(json!([])));
            assert_eq!(d.delay_ms, delay_ms);
            let Answer::Completion(c) = d.answer else {
                panic!()
            };
            for call in c.calls {
                assert_eq!(
                    serde_json::from_str::<Value>(&call.arguments).unwrap(),
                    arguments
                );
                ids.push(call.id);
            }
        }
        assert_eq!(ids, ["call_1", "call_2", "call_3"]);
    }

    #[test]
    fn the_request_shape_reads_stream_and_model() {
        let streamed = RequestShape::of(&turn_request(json!([])));
        assert!(streamed.streaming);
        assert_eq!(streamed.model, "fake-model");
        let plain = RequestShape::of(&json!({"messages": []}));
        assert!(!plain.streaming);
        assert_eq!(plain.model, DEFAULT_MODEL);
    }
}
