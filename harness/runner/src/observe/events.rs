//! The event-stream observer: subscribes to `/global/event` (the reliable stream) and the
//! per-directory `/event`, and records each frame. `server.heartbeat` is dropped (it
//! carries nothing and would make "nothing happened for N ms" impossible to observe), as
//! are `/global/event`'s `sync` envelopes.

use crate::observe::http::Api;
use crate::record::Recorder;
use futures::StreamExt;
use oc_conform_checks::{EventStream, Observation};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What the scenario needs to know about its event streams beyond their events: whether
/// one was lost. A stream that ends while the server still answers, and no step meant to
/// end it, leaves the events after that moment unknown: every check over events would be
/// judging a hole, so the scenario stops with ERROR instead of a verdict.
#[derive(Clone, Default)]
pub struct StreamWatch {
    end_expected: Arc<AtomicBool>,
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

    fn mark_lost(&self, reason: String) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.lost.cancel();
    }
}

/// Splits an SSE byte stream into the `data` payloads of complete frames.
#[derive(Default)]
pub struct SseParser {
    buf: String,
}

impl SseParser {
    /// Feeds bytes; returns the data of every frame completed by them.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        if self.buf.contains('\r') {
            self.buf = self.buf.replace("\r\n", "\n");
        }
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let frame: String = self.buf.drain(..end + 2).collect();
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                out.push(data.join("\n"));
            }
        }
        out
    }
}

/// The session an event is about, wherever this event type keeps it.
pub fn session_of(properties: &Value) -> Option<String> {
    [
        "/sessionID",
        "/info/sessionID",
        "/part/sessionID",
        "/message/sessionID",
    ]
    .iter()
    .find_map(|p| properties.pointer(p).and_then(Value::as_str))
    .map(str::to_string)
}

/// Turns one frame's data into (type, properties); `None` for frames to drop.
pub fn decode(stream: EventStream, data: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(data).ok()?;
    let payload = match stream {
        EventStream::Global => v.get("payload").cloned().unwrap_or(v),
        EventStream::Directory => v,
    };
    let ty = payload.get("type")?.as_str()?.to_string();
    if ty == "sync" || ty == "server.heartbeat" {
        return None;
    }
    let props = payload.get("properties").cloned().unwrap_or(Value::Null);
    Some((ty, props))
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
    let name = match stream {
        EventStream::Global => "/global/event",
        EventStream::Directory => "/event",
    };
    let resp = tokio::select! {
        r = api.open_stream(&path) => r,
        _ = cancel.cancelled() => return,
    };
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            rec.record(Observation::Harness {
                message: format!("GET {name} answered {}", r.status()),
            });
            return;
        }
        Err(e) => {
            rec.record(Observation::Harness {
                message: format!("GET {name} failed: {e}"),
            });
            return;
        }
    };
    let mut connected = Some(connected);
    let mut parser = SseParser::default();
    let mut body = resp.bytes_stream();
    let how = loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            _ = cancel.cancelled() => return,
        };
        let chunk = match chunk {
            Some(Ok(c)) => c,
            Some(Err(e)) => break format!("{name} stream broke ({e})"),
            None => break format!("{name} stream ended"),
        };
        let mut inject = false;
        for data in parser.push(&chunk) {
            let Some((event_type, properties)) = decode(stream, &data) else {
                continue;
            };
            if event_type == "server.connected" {
                if let Some(tx) = connected.take() {
                    let _ = tx.send(());
                }
            }
            inject |= watch.inject_drop
                && stream == EventStream::Global
                && event_type == "session.status"
                && properties.pointer("/status/type") == Some(&Value::from("busy"));
            rec.record(Observation::Event {
                stream,
                session_id: session_of(&properties),
                event_type,
                properties,
            });
        }
        if inject {
            // Dropping the body closes the connection: the server sees a real disconnect.
            break format!("{name} stream broke (injected by OC_CONFORM_FAULT_DROP_EVENTS_IN)");
        }
    };
    drop(body);
    rec.record(Observation::Harness { message: how.clone() });
    if cancel.is_cancelled() || watch.end_expected.load(Ordering::SeqCst) {
        return;
    }
    // Ended by the server's death: the supervisor reports that, with the exit status.
    let health = api.call_quiet("GET", "/global/health", None, Duration::from_secs(2)).await;
    if health.ok() && !cancel.is_cancelled() && !watch.end_expected.load(Ordering::SeqCst) {
        watch.mark_lost(format!(
            "{how} while the server was alive (GET /global/health still answered {}): the events after that are unknown, so no verdict",
            health.status
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_split_across_chunks_and_crlf() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"a\":").is_empty());
        assert_eq!(p.push(b"1}\r\n\r\ndata: x\n\n: comment\n\n"), vec!["{\"a\":1}", "x"]);
    }

    #[test]
    fn global_envelopes_are_unwrapped_and_sync_dropped() {
        let d = json!({"directory": "/p", "payload": {"type": "session.idle", "properties": {"sessionID": "ses_1"}}});
        let (ty, props) = decode(EventStream::Global, &d.to_string()).unwrap();
        assert_eq!(ty, "session.idle");
        assert_eq!(session_of(&props).as_deref(), Some("ses_1"));
        let sync = json!({"directory": "/p", "payload": {"type": "sync", "properties": {}}});
        assert!(decode(EventStream::Global, &sync.to_string()).is_none());
        let hb = json!({"type": "server.heartbeat", "properties": {}});
        assert!(decode(EventStream::Directory, &hb.to_string()).is_none());
    }

    #[test]
    fn session_is_found_in_parts_and_infos() {
        let part = json!({"part": {"sessionID": "ses_2", "type": "tool"}});
        assert_eq!(session_of(&part).as_deref(), Some("ses_2"));
        let info = json!({"info": {"sessionID": "ses_3"}});
        assert_eq!(session_of(&info).as_deref(), Some("ses_3"));
        assert_eq!(session_of(&json!({})), None);
    }
}
