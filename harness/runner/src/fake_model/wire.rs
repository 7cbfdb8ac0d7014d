//! The wire encoding of an answer, as `@ai-sdk/openai-compatible` reads it.
//!
//! Streamed (`stream: true`): `text/event-stream` frames `data: <chat.completion.chunk>\n\n`,
//! in this order: the role, the text in a few content deltas, one delta per tool call
//! (whole arguments at once), the finish reason, the usage (`choices: []`), `data: [DONE]`.
//! Not streamed: one `chat.completion` document. A fault changes how much of that is sent
//! and how the body ends; the server plays the [`Ending`].

use super::script::Completion;
use bytes::Bytes;
use oc_conform_scenario::StreamFault;
use serde_json::{json, Value};

/// Text is streamed in at most this many content deltas.
const TEXT_PIECES: usize = 3;

/// The frame a `malformed-frame` fault sends in place of the answer.
pub(crate) const MALFORMED_FRAME: &str = "data: {not json\n\n";

/// The fields every chunk of one answer repeats.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
    pub prompt_tokens: u64,
}

/// An encoded answer: the parts to send in order, then how the body ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Encoded {
    pub content_type: &'static str,
    pub parts: Vec<Bytes>,
    pub ending: Ending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The body ends normally.
    Complete,
    /// The body ends with an error: the connection is cut, no terminating chunk.
    Cut,
    /// Nothing more is sent until the client goes away or the fake model shuts down.
    Hang,
}

/// The streamed answer.
pub(crate) fn sse(meta: &Meta, completion: &Completion) -> Encoded {
    let role = chunk(meta, json!({"role": "assistant", "content": ""}), None);
    let pieces: Vec<Bytes> = split_text(&completion.text, TEXT_PIECES)
        .into_iter()
        .map(|piece| chunk(meta, json!({ "content": piece }), None))
        .collect();
    let (parts, ending) = match completion.fault {
        None => {
            let mut parts = vec![role];
            parts.extend(pieces);
            parts.extend(completion.calls.iter().enumerate().map(|(i, call)| {
                let delta = json!({"tool_calls": [{
                    "index": i,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }]});
                chunk(meta, delta, None)
            }));
            parts.push(chunk(meta, json!({}), Some(finish_reason(completion))));
            parts.push(frame(&usage_chunk(meta, completion)));
            parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
            (parts, Ending::Complete)
        }
        Some(StreamFault::CutMidStream) => {
            // Part of the text, never all of it when there is more than one piece.
            let keep = (pieces.len() / 2).max(1).min(pieces.len());
            let mut parts = vec![role];
            parts.extend(pieces.into_iter().take(keep));
            (parts, Ending::Cut)
        }
        Some(StreamFault::MalformedFrame) => (
            vec![
                role,
                Bytes::from_static(MALFORMED_FRAME.as_bytes()),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ],
            Ending::Complete,
        ),
        Some(StreamFault::Hang) => (vec![role], Ending::Hang),
    };
    Encoded {
        content_type: "text/event-stream",
        parts,
        ending,
    }
}

/// The answer to a request without `stream: true`: one `chat.completion` document.
pub(crate) fn document(meta: &Meta, completion: &Completion) -> Encoded {
    let mut message = json!({
        "role": "assistant",
        "content": if completion.text.is_empty() { Value::Null } else { json!(completion.text) },
    });
    if !completion.calls.is_empty() {
        message["tool_calls"] = completion
            .calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
    }
    let whole = Bytes::from(
        json!({
            "id": meta.id,
            "object": "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(completion)}],
            "usage": usage(meta, completion),
        })
        .to_string(),
    );
    let (parts, ending) = match completion.fault {
        None => (vec![whole], Ending::Complete),
        Some(StreamFault::CutMidStream) => (vec![whole.slice(..whole.len() / 2)], Ending::Cut),
        Some(StreamFault::MalformedFrame) => {
            (vec![Bytes::from_static(b"{not json")], Ending::Complete)
        }
        Some(StreamFault::Hang) => (vec![], Ending::Hang),
    };
    Encoded {
        content_type: "application/json",
        parts,
        ending,
    }
}

fn chunk(meta: &Meta, delta: Value, finish_reason: Option<&str>) -> Bytes {
    frame(&json!({
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }))
}

fn usage_chunk(meta: &Meta, completion: &Completion) -> Value {
    json!({
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": [],
        "usage": usage(meta, completion),
    })
}

fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn finish_reason(completion: &Completion) -> &'static str {
    if completion.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

/// Rough counts (4 characters a token): plausible, deterministic, and far below any
/// context limit so they never trigger compaction.
fn usage(meta: &Meta, completion: &Completion) -> Value {
    let chars = completion.text.len()
        + completion
            .calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len())
            .sum::<usize>();
    let completion_tokens = (chars as u64).div_ceil(4).max(1);
    json!({
        "prompt_tokens": meta.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": meta.prompt_tokens + completion_tokens,
    })
}

/// Splits `text` into at most `pieces` non-empty pieces of about equal length, on
/// character boundaries.
fn split_text(text: &str, pieces: usize) -> Vec<&str> {
    let chars = text.chars().count();
    if chars == 0 {
        return Vec::new();
    }
    let per_piece = chars.div_ceil(pieces);
    let mut out = Vec::with_capacity(pieces);
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest
            .char_indices()
            .nth(per_piece)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fake_model::script::FunctionCall;

    /// Parses an SSE body back into its `data:` payloads: JSON values, `"[DONE]"` as a
    /// string, and anything unparsable as `{"unparsable": <text>}`.
    pub(crate) fn parse_sse(body: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(body).expect("SSE is UTF-8");
        assert!(
            text.is_empty() || text.ends_with("\n\n"),
            "a frame is cut: {text:?}"
        );
        text.split_terminator("\n\n")
            .map(|frame| {
                let data = frame
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data frame: {frame:?}"));
                match data {
                    "[DONE]" => json!("[DONE]"),
                    _ => {
                        serde_json::from_str(data).unwrap_or_else(|_| json!({ "unparsable": data }))
                    }
                }
            })
            .collect()
    }

    fn meta() -> Meta {
        Meta {
            id: "chatcmpl-oc7".into(),
            created: 1_700_000_000,
            model: "fake-model".into(),
            prompt_tokens: 42,
        }
    }

    fn completion(text: &str, calls: Vec<FunctionCall>, fault: Option<StreamFault>) -> Completion {
        Completion {
            text: text.into(),
            calls,
            fault,
        }
    }

    fn bash_call(id: &str, command: &str) -> FunctionCall {
        FunctionCall {
            id: id.into(),
            name: "bash".into(),
            arguments: json!({"command": command, "description": "x"}).to_string(),
        }
    }

    fn frames(encoded: &Encoded) -> Vec<Value> {
        parse_sse(&encoded.parts.concat())
    }

    /// The chunk's delta and finish reason, or the whole payload for `[DONE]`, usage and
    /// the unparsable: the sequence at a glance.
    fn shape(frames: &[Value]) -> Vec<Value> {
        frames
            .iter()
            .map(|f| match f.pointer("/choices/0") {
                Some(choice) => json!([choice["delta"], choice["finish_reason"]]),
                None if f.get("usage").is_some() => json!({"usage": f["usage"]}),
                None => f.clone(),
            })
            .collect()
    }

    #[test]
    fn a_text_answer_streams_role_text_finish_usage_done() {
        let encoded = sse(&meta(), &completion("Hello, world!", vec![], None));
        assert_eq!(encoded.content_type, "text/event-stream");
        assert_eq!(encoded.ending, Ending::Complete);
        let frames = frames(&encoded);
        assert_eq!(
            shape(&frames),
            vec![
                json!([{"role": "assistant", "content": ""}, null]),
                json!([{"content": "Hello"}, null]),
                json!([{"content": ", wor"}, null]),
                json!([{"content": "ld!"}, null]),
                json!([{}, "stop"]),
                json!({"usage": {"prompt_tokens": 42, "completion_tokens": 4, "total_tokens": 46}}),
                json!("[DONE]"),
            ]
        );
        for f in &frames[..frames.len() - 1] {
            assert_eq!(f["object"], "chat.completion.chunk");
            assert_eq!(
                (&f["id"], &f["model"]),
                (&json!("chatcmpl-oc7"), &json!("fake-model"))
            );
        }
        assert_eq!(frames[5]["choices"], json!([]));
        insta::assert_json_snapshot!("sse_text", frames, {"[].created" => "[created]"});
    }

    #[test]
    fn a_tool_call_answer_ends_with_tool_calls() {
        let calls = vec![
            bash_call("call_1", "sleep 100"),
            bash_call("call_2", "echo hi"),
        ];
        let encoded = sse(&meta(), &completion("Running it.", calls, None));
        let frames = frames(&encoded);
        let shape = shape(&frames);
        assert_eq!(shape.len(), 1 + 3 + 2 + 3);
        assert_eq!(
            shape[4..6],
            [
                json!([{"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "bash", "arguments": "{\"command\":\"sleep 100\",\"description\":\"x\"}"}}]}, null]),
                json!([{"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                    "function": {"name": "bash", "arguments": "{\"command\":\"echo hi\",\"description\":\"x\"}"}}]}, null]),
            ]
        );
        assert_eq!(shape[6], json!([{}, "tool_calls"]));
        assert_eq!(shape[8], json!("[DONE]"));
        insta::assert_json_snapshot!("sse_tool_calls", frames, {"[].created" => "[created]"});
    }

    #[test]
    fn tool_call_arguments_decode_back_to_the_scenario_arguments() {
        use crate::fake_model::script::{Answer, RequestShape, Script};
        use oc_conform_scenario::{ModelScript, ModelTurn, ToolCall};

        let arguments = json!({"command": "printf '%s\\n' \"a b\" && sleep 1", "timeout": 5000, "nested": {"ü": [true, null]}});
        let mut script = Script::new(ModelScript {
            turns: vec![ModelTurn {
                text: None,
                tool_calls: vec![ToolCall {
                    name: "bash".into(),
                    arguments: arguments.clone(),
                }],
                delay_ms: 0,
                http_error: None,
                fault: None,
                prompt: None,
            }],
            title: None,
            after_tool: None,
        });
        let shape = RequestShape::of(&json!({"messages": [], "tools": [{"type": "function"}]}));
        let Answer::Completion(completion) = script.decide(&shape).answer else {
            panic!("a scripted turn answers a completion")
        };
        let frames = frames(&sse(&meta(), &completion));
        let sent = frames[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .expect("arguments are a JSON string");
        assert_eq!(serde_json::from_str::<Value>(sent).unwrap(), arguments);
    }

    #[test]
    fn an_empty_turn_still_finishes() {
        let shape = shape(&frames(&sse(&meta(), &completion("", vec![], None))));
        assert_eq!(shape.len(), 4);
        assert_eq!(shape[1], json!([{}, "stop"]));
    }

    #[test]
    fn cut_mid_stream_sends_part_of_the_text_and_no_done() {
        let encoded = sse(
            &meta(),
            &completion(
                "Hello, world!",
                vec![bash_call("call_1", "x")],
                Some(StreamFault::CutMidStream),
            ),
        );
        assert_eq!(encoded.ending, Ending::Cut);
        assert_eq!(
            shape(&frames(&encoded)),
            vec![
                json!([{"role": "assistant", "content": ""}, null]),
                json!([{"content": "Hello"}, null]),
            ]
        );
    }

    #[test]
    fn malformed_frame_then_done() {
        let encoded = sse(
            &meta(),
            &completion("Hi", vec![], Some(StreamFault::MalformedFrame)),
        );
        assert_eq!(encoded.ending, Ending::Complete);
        assert_eq!(
            shape(&frames(&encoded))[1..],
            [json!({"unparsable": "{not json"}), json!("[DONE]")]
        );
    }

    #[test]
    fn hang_sends_only_the_role() {
        let encoded = sse(&meta(), &completion("Hi", vec![], Some(StreamFault::Hang)));
        assert_eq!(encoded.ending, Ending::Hang);
        assert_eq!(encoded.parts.len(), 1);
    }

    #[test]
    fn the_unstreamed_answer_is_one_document() {
        let encoded = document(
            &meta(),
            &completion("", vec![bash_call("call_1", "ls")], None),
        );
        assert_eq!(encoded.content_type, "application/json");
        let doc: Value = serde_json::from_slice(&encoded.parts.concat()).unwrap();
        insta::assert_json_snapshot!("document_tool_call", doc, {".created" => "[created]"});

        let cut = document(
            &meta(),
            &completion("Hi", vec![], Some(StreamFault::CutMidStream)),
        );
        assert_eq!(cut.ending, Ending::Cut);
        assert!(serde_json::from_slice::<Value>(&cut.parts.concat()).is_err());
    }

    #[test]
    fn text_splits_on_character_boundaries() {
        assert_eq!(split_text("", 3), Vec::<&str>::new());
        assert_eq!(split_text("ab", 3), ["a", "b"]);
        assert_eq!(split_text("héllo wörld", 3), ["héll", "o wö", "rld"]);
        assert_eq!(
            split_text("日本語のテキスト", 3).concat(),
            "日本語のテキスト"
        );
    }
}
