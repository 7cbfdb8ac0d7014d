//! The event-stream observer: subscribes to `/global/event` (the reliable stream) and the
//! per-directory `/event`, and records each frame. `server.heartbeat` is dropped (it
//! carries nothing and would make "nothing happened for N ms" impossible to observe), as
//! are `/global/event`'s `sync` envelopes.

use crate::observe::http::Api;
use crate::record::Recorder;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use oc_conform_checks::wire::{self, Event};
use oc_conform_checks::{EventStream, Observation, StreamEndCause};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What the scenario needs to know about its event streams beyond their events: whether
/// one was lost. A stream that ends while the server still answers, and no step meant to
/// end it, leaves the events after that moment unknown. When the harness's connection
/// broke, every check over events would be judging a hole it made: the scenario stops with
/// ERROR instead of a verdict. When the server closed `/global/event` (the stream the steps
/// wait on), the steps stop too, but the checks judge: `event-streams-stay-open` fails.
#[derive(Clone, Default)]
pub struct StreamWatch {
    end_expected: Arc<AtomicBool>,
    by_server: Arc<AtomicBool>,
    lost: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
    inject_drop: bool,
}

impl StreamWatch {
    /// `inject_drop` is fault injection for the harness's own tests: close `/global/event`
    /// from this side when the session first turns busy, as a dropped connection would.
    pub fn new(inject_drop: bool) -> StreamWatch {
        StreamWatch {
            inject_drop,
            ..Default::default()
        }
    }

    /// From now on streams may end (the server is being signalled, stopped or disposed).
    pub fn expect_end(&self) {
        self.end_expected.store(true, Ordering::SeqCst);
    }

    /// Resolves, with the cause, once a stream is lost.
    pub async fn lost(&self) -> String {
        self.lost.cancelled().await;
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// The lost stream was closed by the server while it was alive: an observation about
    /// opencode, for the checks to judge, not a reason to withhold the verdict.
    pub fn lost_by_server(&self) -> bool {
        self.by_server.load(Ordering::SeqCst)
    }

    fn mark_lost(&self, reason: String) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.lost.cancel();
    }
}

/// The `data` of each SSE frame of a response body. The body is decoded as one UTF-8
/// text (a character split across chunks stays whole) by a kept SSE parser that never
/// reconnects: the stream ends where the body ends, so a lost stream is seen.
pub fn sse_data<S, B, E>(body: S) -> impl Stream<Item = Result<String, String>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    body.eventsource().map(|r| match r {
        Ok(ev) => Ok(ev.data),
        Err(EventStreamError::Transport(e)) => Err(e.to_string()),
        Err(e) => Err(format!("undecodable frame: {e}")),
    })
}

/// Opens `path` as an event stream: none when `cancel` fired first, else the response
/// or why there is none (`answered 401`, `failed: ...`).
pub async fn open_events(api: &Api, path: &str, cancel: &CancellationToken) -> Option<Result<reqwest::Response, String>> {
    let resp = tokio::select! {
        r = api.open_stream(path) => r,
        _ = cancel.cancelled() => return None,
    };
    Some(match resp {
        Ok(r) if r.status().is_success() => Ok(r),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(format!("failed: {e}")),
    })
}

/// Subscribes to one stream and records its events until `cancel` fires or the stream
/// ends. `connected` fires when `server.connected` arrives: the subscription is live.
pub async fn observe_path(
    api: Api,
    stream: EventStream,
    path: String,
    rec: Recorder,
    connected: oneshot::Sender<()>,
    cancel: CancellationToken,
    watch: StreamWatch,
) {
    let name = stream.path();
    let resp = match open_events(&api, &path, &cancel).await {
        None => return,
        Some(Ok(r)) => r,
        Some(Err(why)) => {
            rec.record(Observation::Harness {
                message: format!("GET {name} {why}"),
            });
            return;
        }
    };
    let mut connected = Some(connected);
    let mut frames = Box::pin(sse_data(resp.bytes_stream()));
    let cause = loop {
        let data = tokio::select! {
            d = frames.next() => d,
            _ = cancel.cancelled() => return,
        };
        let data = match data {
            Some(Ok(d)) => d,
            Some(Err(error)) => break StreamEndCause::Broke { error },
            None => break StreamEndCause::Ended,
        };
        let Some(ev) = wire::frame(stream, &data) else {
            continue;
        };
        let typed = wire::decode(&ev.event_type, &ev.properties);
        match typed {
            // It carries nothing, and would make "nothing happened for N ms" unobservable.
            Event::ServerHeartbeat => continue,
            Event::ServerConnected => {
                if let Some(tx) = connected.take() {
                    let _ = tx.send(());
                }
            }
            _ => {}
        }
        let inject = watch.inject_drop
            && stream == EventStream::Global
            && typed.busy() == Some(true)
            && matches!(typed, Event::SessionStatus { .. });
        rec.record(Observation::Event {
            stream,
            session_id: wire::session_of(&ev.properties).map(str::to_string),
            event_type: ev.event_type,
            properties: ev.properties,
        });
        if inject {
            break StreamEndCause::Dropped {
                why: "injected by OC_CONFORM_FAULT_DROP_EVENTS_IN".into(),
            };
        }
    };
    // Dropping the body closes the connection: the server sees a real disconnect.
    drop(frames);
    let how = cause.describe(stream);
    let expected = watch.end_expected.load(Ordering::SeqCst);
    if cancel.is_cancelled() {
        return;
    }
    rec.record(Observation::StreamEnded {
        stream,
        cause: cause.clone(),
        expected,
    });
    if expected {
        return;
    }
    // Ended by the server's death: the supervisor reports that, with the exit status. The
    // health answer is recorded: it is the witness that the server was alive.
    let health = api
        .call(&rec, None, "GET", "/global/health", None, Duration::from_secs(2))
        .await;
    if !health.ok() || cancel.is_cancelled() || watch.end_expected.load(Ordering::SeqCst) {
        return;
    }
    // The server closed the stream while alive: an observation about opencode, judged by
    // `event-streams-stay-open` (FAIL). Without /global/event the steps cannot go on.
    if cause == StreamEndCause::Ended {
        if stream == EventStream::Global {
            watch.by_server.store(true, Ordering::SeqCst);
            watch.mark_lost(format!(
                "{how} while the server was alive (GET /global/health still answered {}): the steps stop here",
                health.status
            ));
        }
        return;
    }
    watch.mark_lost(format!(
        "{how} while the server was alive (GET /global/health still answered {}): the events after that are unknown, so no verdict",
        health.status
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn frames(chunks: &[&[u8]]) -> Vec<String> {
        let body = futures::stream::iter(chunks.iter().map(|c| Ok::<_, Infallible>(c.to_vec())));
        futures::executor::block_on(sse_data(body).map(Result::unwrap).collect())
    }

    #[test]
    fn a_character_split_across_chunks_survives() {
        let frame = "data: {\"t\":\"é✓\"}\n\n".as_bytes();
        let cut = frame.iter().position(|&b| b >= 0x80).unwrap() + 1;
        assert_eq!(frames(&[&frame[..cut], &frame[cut..]]), vec!["{\"t\":\"é✓\"}"]);
    }

    #[test]
    fn frames_split_across_chunks_and_crlf() {
        assert_eq!(
            frames(&[b"data: {\"a\":", b"1}\r\n\r\ndata: x\n\n: comment\n\n"]),
            vec!["{\"a\":1}", "x"]
        );
    }

    /// A server whose event stream sends `server.connected` and then closes, while
    /// `GET /global/health` answers 200: the stream the server ended while alive.
    async fn closing_server() -> Api {
        let connected = "data: {\"type\":\"server.connected\",\"properties\":{}}\n\n";
        let app = axum::Router::new()
            .route(
                "/event",
                axum::routing::get(move || async move {
                    ([("content-type", "text/event-stream")], connected)
                }),
            )
            .route(
                "/global/health",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"healthy": true})) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Api::new(&format!("http://{addr}"), "", "/p")
    }

    async fn observe(stream: EventStream) -> (oc_conform_checks::Timeline, StreamWatch) {
        let api = closing_server().await;
        let rec = Recorder::new("s", "v");
        let watch = StreamWatch::new(false);
        let (tx, rx) = oneshot::channel();
        let cancel = CancellationToken::new();
        observe_path(api, stream, "/event".into(), rec.clone(), tx, cancel, watch.clone()).await;
        assert!(rx.await.is_ok(), "server.connected was seen");
        (rec.snapshot(), watch)
    }

    #[tokio::test]
    async fn a_stream_the_server_closes_while_alive_is_recorded_with_the_health_answer() {
        let (tl, watch) = observe(EventStream::Directory).await;
        let seen: Vec<String> = tl.entries.iter().map(|e| e.obs.describe()).collect();
        assert_eq!(
            seen,
            ["dir-event server.connected", "/event stream ended", "GET /global/health -> 200"]
        );
        // Judged by the checks (event-streams-stay-open), not a reason for no verdict.
        assert!(!watch.is_lost());
        assert_eq!(oc_conform_checks::checks::view::stream_holes(&tl).len(), 1);

        // Without /global/event the steps stop, but the verdict is still the checks'.
        let (_, watch) = observe(EventStream::Global).await;
        assert!(watch.is_lost() && watch.lost_by_server());
    }
}
