//! End to end: a real [`FakeModel`] on loopback, real HTTP requests, the recorder checked.

use super::wire::tests::parse_sse;
use super::FakeModel;
use crate::record::Recorder;
use futures::StreamExt;
use oc_conform_checks::{ModelAnswerEnd, ModelRequestKind, Observation, Timeline};
use oc_conform_scenario::{HttpError, ModelScript, ModelTurn, StreamFault, ToolCall};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {DEADLINE:?}"))
}

/// Waits until the timeline satisfies `done`, woken by each new entry.
async fn wait_until(recorder: &Recorder, what: &str, done: impl Fn(&Timeline) -> bool) {
    let mut changed = recorder.subscribe();
    within(what, async {
        while !recorder.with(&done) {
            changed.changed().await.expect("the recorder lives");
        }
    })
    .await
}

fn turn(text: &str) -> ModelTurn {
    ModelTurn {
        text: Some(text.into()),
        tool_calls: vec![],
        delay_ms: 0,
        http_error: None,
        fault: None,
        prompt: None,
    }
}

fn faulted(fault: StreamFault) -> ModelTurn {
    ModelTurn {
        fault: Some(fault),
        ..turn("This answer goes wrong.")
    }
}

async fn start(turns: Vec<ModelTurn>) -> (FakeModel, Recorder) {
    let recorder = Recorder::new("fake-model-test", "0.0.0");
    let model = FakeModel::start(ModelScript { turns, title: None, after_tool: None }, recorder.clone())
        .await
        .expect("the fake model starts");
    (model, recorder)
}

/// What opencode sends for an agent turn.
fn turn_request(messages: Value) -> Value {
    json!({
        "model": "fake-model",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": messages,
        "tools": [{"type": "function", "function": {"name": "bash", "description": "run", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
    })
}

/// What opencode sends to generate a title: no tools.
fn title_request() -> Value {
    json!({
        "model": "fake-model",
        "stream": true,
        "messages": [{"role": "system", "content": "Generate a title"}, {"role": "user", "content": "hi"}],
    })
}

async fn post(model: &FakeModel, body: &Value) -> reqwest::Response {
    let url = format!("{}/chat/completions", model.base_url());
    within(
        "POST /v1/chat/completions",
        reqwest::Client::new().post(url).json(body).send(),
    )
    .await
    .expect("the request is answered")
}

/// Reads an SSE answer to its end; `Err` carries the frames read before the body failed.
async fn read_sse(response: reqwest::Response) -> Result<Vec<Value>, Vec<Value>> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    let failed = within("the answer's body", async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(_) => return true,
            }
        }
        false
    })
    .await;
    let frames = parse_sse(&body);
    if failed {
        Err(frames)
    } else {
        Ok(frames)
    }
}

fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter_map(|f| {
            f.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

fn finish_reason(frames: &[Value]) -> Option<&str> {
    frames.iter().find_map(|f| {
        f.pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
    })
}

/// `(index, kind, turn, has_tool_result)` of each recorded model request.
fn model_requests(recorder: &Recorder) -> Vec<(u32, ModelRequestKind, Option<usize>, bool)> {
    recorder.with(|t| {
        t.entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::ModelRequest {
                    index,
                    kind,
                    turn,
                    has_tool_result,
                    ..
                } => Some((*index, *kind, *turn, *has_tool_result)),
                _ => None,
            })
            .collect()
    })
}

fn harness_messages(t: &Timeline) -> Vec<String> {
    t.entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Harness { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

// Multi-threaded like the runner: the answer streams and the client run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plays_the_script_in_order_and_records_every_request() {
    let arguments = json!({"command": "sleep 100", "description": "Sleep"});
    let (model, recorder) = start(vec![
        ModelTurn {
            tool_calls: vec![ToolCall {
                name: "bash".into(),
                arguments: arguments.clone(),
            }],
            ..turn("Let me run that.")
        },
        turn("All done."),
        ModelTurn {
            http_error: Some(HttpError {
                status: 429,
                body: None,
            }),
            ..turn("never sent")
        },
        faulted(StreamFault::CutMidStream),
        faulted(StreamFault::MalformedFrame),
    ])
    .await;
    assert!(model.base_url().starts_with("http://127.0.0.1:"));
    assert!(model.base_url().ends_with("/v1"));

    // The title request consumes no turn.
    let frames = read_sse(post(&model, &title_request()).await)
        .await
        .expect("a whole answer");
    assert_eq!(text_of(&frames), "Test session");
    assert_eq!(finish_reason(&frames), Some("stop"));
    assert_eq!(frames.last(), Some(&json!("[DONE]")));

    // Turn 0: the tool call, arguments intact.
    let user = json!({"role": "user", "content": "Run sleep 100"});
    let frames = read_sse(post(&model, &turn_request(json!([user]))).await)
        .await
        .expect("a whole answer");
    assert_eq!(text_of(&frames), "Let me run that.");
    assert_eq!(finish_reason(&frames), Some("tool_calls"));
    let call = frames
        .iter()
        .find_map(|f| f.pointer("/choices/0/delta/tool_calls/0"))
        .expect("a tool call delta");
    assert_eq!(
        (&call["id"], &call["function"]["name"]),
        (&json!("call_1"), &json!("bash"))
    );
    let sent: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(sent, arguments);
    let usage = frames
        .iter()
        .find(|f| f.get("usage").is_some())
        .expect("a usage chunk");
    assert_eq!(usage["choices"], json!([]));

    // Turn 1: the turn continuing after the tool result.
    let continued = turn_request(json!([
        user,
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": ""},
    ]));
    let frames = read_sse(post(&model, &continued).await)
        .await
        .expect("a whole answer");
    assert_eq!(text_of(&frames), "All done.");
    assert_eq!(finish_reason(&frames), Some("stop"));

    // Turn 2: the scripted HTTP error.
    let response = post(&model, &turn_request(json!([user]))).await;
    assert_eq!(response.status(), 429);
    let error: Value = within("the error body", response.json()).await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");

    // Turn 3: cut mid-stream, no [DONE].
    let frames = read_sse(post(&model, &turn_request(json!([user]))).await)
        .await
        .expect_err("the body fails");
    assert!(!frames.is_empty());
    assert!(!frames.contains(&json!("[DONE]")));
    assert_eq!(finish_reason(&frames), None);
    assert!("This answer goes wrong.".starts_with(&text_of(&frames)));

    // Turn 4: a frame that is not JSON, then [DONE].
    let frames = read_sse(post(&model, &turn_request(json!([user]))).await)
        .await
        .expect("a whole body");
    assert_eq!(
        frames[1..],
        [json!({"unparsable": "{not json"}), json!("[DONE]")]
    );

    // Past the script: an explicit 500.
    let response = post(&model, &turn_request(json!([user]))).await;
    assert_eq!(response.status(), 500);
    let error: Value = within("the error body", response.json()).await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "oc-conform fake model: unplanned request #6 (the scenario scripts 5 turns)"
    );

    use ModelRequestKind::{Title, Turn, Unplanned};
    assert_eq!(
        model_requests(&recorder),
        [
            (0, Title, None, false),
            (1, Turn, Some(0), false),
            (2, Turn, Some(1), true),
            (3, Turn, Some(2), false),
            (4, Turn, Some(3), false),
            (5, Turn, Some(4), false),
            (6, Unplanned, None, false),
        ]
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 7);
    assert_eq!(requests[0].body, title_request());
    assert_eq!(requests[2].body, continued);
    let timeline = recorder.snapshot();
    let request_times: Vec<f64> = timeline
        .entries
        .iter()
        .filter(|e| matches!(e.obs, Observation::ModelRequest { .. }))
        .map(|e| e.at_ms)
        .collect();
    assert_eq!(
        requests.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        request_times
    );
    let line = serde_json::to_string(&requests[6]).unwrap();
    assert!(
        line.starts_with(r#"{"index":6,"kind":"unplanned","body":"#),
        "{line}"
    );
    // The early end of the cut answer is the script's doing, not the client's.
    assert_eq!(harness_messages(&timeline), Vec::<String>::new());

    within("shutdown", model.shutdown()).await;
}

#[tokio::test]
async fn other_routes_and_bad_bodies_are_refused_and_recorded() {
    let (model, recorder) = start(vec![]).await;
    let client = reqwest::Client::new();
    let response = within(
        "GET /v1/models",
        client.get(format!("{}/models", model.base_url())).send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = within("the error body", response.json()).await.unwrap();
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GET /v1/models"));

    let url = format!("{}/chat/completions", model.base_url());
    let response = within("GET", client.get(&url).send()).await.unwrap();
    assert_eq!(response.status(), 404);
    let response = within("POST", client.post(&url).body("{oops").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let messages = recorder.with(harness_messages);
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].contains("unexpected request GET /v1/models"));
    assert!(messages[1].contains("unexpected request GET /v1/chat/completions"));
    assert!(messages[2].contains("not JSON"));
    assert!(model.requests().is_empty());
    within("shutdown", model.shutdown()).await;
}

#[tokio::test]
async fn an_unstreamed_request_gets_one_document() {
    let (model, _recorder) = start(vec![]).await;
    let mut body = title_request();
    body.as_object_mut().unwrap().remove("stream");
    let response = post(&model, &body).await;
    assert_eq!(response.status(), 200);
    let doc: Value = within("the document", response.json()).await.unwrap();
    assert_eq!(doc["object"], "chat.completion");
    assert_eq!(doc["choices"][0]["message"]["content"], "Test session");
    assert_eq!(doc["choices"][0]["finish_reason"], "stop");
    within("shutdown", model.shutdown()).await;
}

#[tokio::test]
async fn a_delay_holds_back_the_first_byte_but_not_the_record() {
    let (model, recorder) = start(vec![ModelTurn {
        delay_ms: 300,
        ..turn("Slow.")
    }])
    .await;
    let started = Instant::now();
    let response = post(&model, &turn_request(json!([]))).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let first = model.requests()[0].at_ms;
    assert!(recorder.now_ms() - first >= 300.0, "recorded on arrival");
    assert_eq!(text_of(&read_sse(response).await.unwrap()), "Slow.");
    within("shutdown", model.shutdown()).await;
}

#[tokio::test]
async fn a_hung_answer_ends_when_the_client_goes_away() {
    let (model, recorder) = start(vec![faulted(StreamFault::Hang)]).await;
    let response = post(&model, &turn_request(json!([]))).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = within("the first chunk", stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        parse_sse(&first)[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(model.open_answers(), 1);

    drop(stream);
    wait_until(&recorder, "the early close is recorded", |t| {
        harness_messages(t)
            .iter()
            .any(|m| m.contains("closed the answer to request #0 before its end"))
    })
    .await;
    assert_eq!(model.open_answers(), 0);
    within("shutdown", model.shutdown()).await;
}

#[tokio::test]
async fn shutdown_cuts_hung_and_delayed_answers() {
    let (model, recorder) = start(vec![
        faulted(StreamFault::Hang),
        ModelTurn {
            delay_ms: 600_000,
            ..turn("Never.")
        },
    ])
    .await;
    let hung = post(&model, &turn_request(json!([]))).await;
    let reader = tokio::spawn(read_sse(hung));
    let url = format!("{}/chat/completions", model.base_url());
    let delayed = tokio::spawn(
        reqwest::Client::new()
            .post(url)
            .json(&turn_request(json!([])))
            .send(),
    );
    wait_until(&recorder, "both requests arrive", |t| {
        t.entries
            .iter()
            .filter(|e| matches!(e.obs, Observation::ModelRequest { .. }))
            .count()
            == 2
    })
    .await;

    let started = Instant::now();
    within("shutdown", model.shutdown()).await;
    assert!(
        started.elapsed() < super::SHUTDOWN_GRACE,
        "cut, not waited out"
    );

    let frames = within("the hung reader", reader)
        .await
        .unwrap()
        .expect_err("cut");
    assert_eq!(frames.len(), 1);
    let delayed = within("the delayed request", delayed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delayed.status(), 503);
    // Cut by the shutdown, not closed by the client.
    assert_eq!(recorder.with(harness_messages), Vec::<String>::new());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let (model, _recorder) = start(vec![]).await;
    let url = format!("{}/chat/completions", model.base_url());
    drop(model);
    let client = reqwest::Client::new();
    let refused = async {
        // The abort lands on the runtime's next turn; wait on the refusal itself.
        loop {
            if client
                .post(&url)
                .json(&title_request())
                .send()
                .await
                .is_err()
            {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    within("the port closes", refused).await;
}

fn answer_ends(t: &Timeline) -> Vec<(u32, ModelAnswerEnd)> {
    t.entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::ModelAnswerEnded { index, end } => Some((*index, *end)),
            _ => None,
        })
        .collect()
}

/// How each answer ended is in the timeline: a whole answer and an HTTP error as sent,
/// a hung one the client dropped as closed by the client, one still hung at shutdown
/// as open at shutdown.
#[tokio::test]
async fn each_answers_end_is_recorded() {
    let (model, recorder) = start(vec![
        turn("Whole."),
        ModelTurn {
            http_error: Some(HttpError { status: 401, body: None }),
            ..turn("")
        },
        faulted(StreamFault::Hang),
        faulted(StreamFault::Hang),
    ])
    .await;
    read_sse(post(&model, &turn_request(json!([]))).await).await.unwrap();
    assert_eq!(post(&model, &turn_request(json!([]))).await.status(), 401);
    let dropped = post(&model, &turn_request(json!([]))).await;
    drop(dropped);
    wait_until(&recorder, "the dropped answer's end", |t| answer_ends(t).len() == 3).await;
    let held = post(&model, &turn_request(json!([]))).await;
    within("shutdown", model.shutdown()).await;
    drop(held);
    assert_eq!(
        recorder.with(answer_ends),
        [
            (0, ModelAnswerEnd::Sent),
            (1, ModelAnswerEnd::Sent),
            (2, ModelAnswerEnd::ClosedByClient),
            (3, ModelAnswerEnd::OpenAtShutdown),
        ]
    );
}
