//! The axum app: records each request the moment it arrives, then plays its answer.
//!
//! Answers are real streaming bodies, so a delay, a cut or a hang is what the client
//! actually sees on the socket. Every answer still running ends when the fake model shuts
//! down (cut, as a dying server would), so a hung answer never holds up the harness.

use super::script::{self, Answer, Decision, RequestShape, Script};
use super::wire::{self, Ending};
use super::RecordedRequest;
use crate::record::Recorder;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::Stream;
use oc_conform_checks::{ModelAnswerEnd, Observation};
use serde_json::Value;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// opencode sends whole conversations, tool schemas and file contents; axum's 2 MB default
/// would refuse a long session with a 413 the script never sees.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// State shared by the handlers and the [`super::FakeModel`] handle.
pub(crate) struct Shared {
    pub book: Mutex<Book>,
    pub recorder: Recorder,
    /// Cancelled when the fake model shuts down: ends delays and running answers.
    pub shutdown: CancellationToken,
    pub open_answers: AtomicUsize,
}

/// The script and what it answered; one lock so that request indexes, the timeline's order
/// and the stored requests agree.
pub(crate) struct Book {
    pub script: Script,
    pub requests: Vec<RecordedRequest>,
}

impl Shared {
    pub(crate) fn new(script: Script, recorder: Recorder) -> Shared {
        Shared {
            book: Mutex::new(Book {
                script,
                requests: Vec::new(),
            }),
            recorder,
            shutdown: CancellationToken::new(),
            open_answers: AtomicUsize::new(0),
        }
    }

    pub(crate) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides the answer and records the request, before anything is answered.
    fn admit(&self, body: Value, shape: &RequestShape) -> Decision {
        let mut book = self.book();
        let decision = book.script.decide(shape);
        let seq = self.recorder.record(Observation::ModelRequest {
            index: decision.index,
            kind: decision.kind,
            turn: decision.turn,
            has_tool_result: shape.has_tool_result,
            summary: shape.summary.clone(),
        });
        let at_ms = self
            .recorder
            .with(|t| t.entries.get(seq as usize).map(|e| e.at_ms))
            .unwrap_or_else(|| self.recorder.now_ms());
        book.requests.push(RecordedRequest {
            index: decision.index,
            kind: decision.kind,
            turn: decision.turn,
            body,
            at_ms,
        });
        decision
    }

    fn note(&self, message: String) {
        self.recorder.record(Observation::Harness { message });
    }

    /// Records how the answer to request `index` ended: a check can then tell the
    /// requests opencode still held open from those it was done with.
    fn ended(&self, index: u32, end: ModelAnswerEnd) {
        self.recorder
            .record(Observation::ModelAnswerEnded { index, end });
    }
}

pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat_completions).fallback(unexpected),
        )
        .fallback(unexpected)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(shared)
}

async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            shared.note(format!(
                "fake model: a POST /v1/chat/completions body is not JSON ({e}); answered 400"
            ));
            return error_response(
                StatusCode::BAD_REQUEST,
                script::error_body(
                    &format!("oc-conform fake model: the request body is not JSON: {e}"),
                    "invalid_request_error",
                ),
            );
        }
    };
    let shape = RequestShape::of(&request);
    let decision = shared.admit(request, &shape);

    if decision.delay_ms > 0 {
        // The scripted model being slow, not the harness waiting for something.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(decision.delay_ms)) => {}
            () = shared.shutdown.cancelled() => {
                shared.ended(decision.index, ModelAnswerEnd::OpenAtShutdown);
                return shutting_down();
            }
        }
    }

    match decision.answer {
        Answer::Error { status, body } => {
            shared.ended(decision.index, ModelAnswerEnd::Sent);
            match StatusCode::from_u16(status) {
                Ok(status) => error_response(status, body),
                Err(_) => {
                    shared.note(format!(
                        "fake model: scripted HTTP status {status} is not a status; answered 500"
                    ));
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, body)
                }
            }
        }
        Answer::Completion(completion) => {
            let meta = wire::Meta {
                id: format!("chatcmpl-oc{}", decision.index),
                created: unix_seconds(),
                model: shape.model.clone(),
                prompt_tokens: shape.prompt_tokens,
            };
            let encoded = if shape.streaming {
                wire::sse(&meta, &completion)
            } else {
                wire::document(&meta, &completion)
            };
            let content_type = encoded.content_type;
            let body = Body::from_stream(AnswerStream::new(shared, decision.index, encoded));
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response()
        }
    }
}

/// Anything but `POST /v1/chat/completions`: opencode talking to the fake model in a way
/// it does not model. Recorded, so the run's report shows it.
async fn unexpected(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    shared.note(format!(
        "fake model: unexpected request {method} {uri}; answered 404"
    ));
    error_response(
        StatusCode::NOT_FOUND,
        script::error_body(
            &format!(
                "oc-conform fake model: no route {method} {}; only POST /v1/chat/completions",
                uri.path()
            ),
            "not_found_error",
        ),
    )
}

fn shutting_down() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        script::error_body("oc-conform fake model: shutting down", "server_error"),
    )
}

fn error_response(status: StatusCode, body: String) -> Response {
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The body of one answer: its parts, then its [`Ending`]. Counted in
/// [`Shared::open_answers`] while alive; when the client drops it before its end (it gave
/// up, or opencode aborted the turn) that is recorded.
struct AnswerStream {
    shared: Arc<Shared>,
    index: u32,
    parts: std::vec::IntoIter<Bytes>,
    ending: Ending,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Set once hyper had the chance to flush the parts sent before a cut.
    flushed: bool,
    finished: bool,
}

impl AnswerStream {
    fn new(shared: Arc<Shared>, index: u32, encoded: wire::Encoded) -> AnswerStream {
        shared.open_answers.fetch_add(1, Ordering::SeqCst);
        AnswerStream {
            shutdown: Box::pin(shared.shutdown.clone().cancelled_owned()),
            shared,
            index,
            parts: encoded.parts.into_iter(),
            ending: encoded.ending,
            flushed: false,
            finished: false,
        }
    }

    fn finish(
        &mut self,
        last: Option<io::Result<Bytes>>,
        end: ModelAnswerEnd,
    ) -> Poll<Option<io::Result<Bytes>>> {
        self.finished = true;
        self.shared.ended(self.index, end);
        Poll::Ready(last)
    }
}

impl Stream for AnswerStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.shutdown.as_mut().poll(cx).is_ready() {
            let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "fake model shut down");
            return self.finish(Some(Err(cut)), ModelAnswerEnd::OpenAtShutdown);
        }
        if let Some(part) = self.parts.next() {
            return Poll::Ready(Some(Ok(part)));
        }
        match self.ending {
            Ending::Complete => self.finish(None, ModelAnswerEnd::Sent),
            // hyper drops what it has buffered when a body fails, and it buffers every
            // part that is ready: give it one turn to flush them before the cut, or the
            // client would see no answer at all instead of a partial one.
            Ending::Cut if !self.flushed => {
                self.flushed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ending::Cut => {
                let cut =
                    io::Error::new(io::ErrorKind::ConnectionAborted, "scripted cut-mid-stream");
                self.finish(Some(Err(cut)), ModelAnswerEnd::Cut)
            }
            // Woken only by the shutdown future polled above.
            Ending::Hang => Poll::Pending,
        }
    }
}

impl Drop for AnswerStream {
    fn drop(&mut self) {
        self.shared.open_answers.fetch_sub(1, Ordering::SeqCst);
        if self.finished {
            return;
        }
        if self.shared.shutdown.is_cancelled() {
            self.shared
                .ended(self.index, ModelAnswerEnd::OpenAtShutdown);
        } else {
            self.shared
                .ended(self.index, ModelAnswerEnd::ClosedByClient);
            self.shared.note(format!(
                "fake model: the client closed the answer to request #{} before its end",
                self.index
            ));
        }
    }
}
