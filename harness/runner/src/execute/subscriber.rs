//! The extra event-stream clients of `open-subscriber` / `close-subscriber`: one more
//! subscriber the server must serve. It does not feed the timeline (its events would be
//! counted twice by the checks); what it read is tallied and written, when it is closed,
//! as the note of its `close-subscriber` step, so a run shows what such a client got.

use crate::observe::http::Api;
use oc_conform_checks::{wire, EventStream};
use std::collections::BTreeMap;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// An open extra subscriber: dropping it closes its connection.
pub struct Subscriber {
    _stop: DropGuard,
    stop: CancellationToken,
    reader: JoinHandle<Tally>,
}

/// What a subscriber read: events by session (`None`: events that name none) and type.
#[derive(Debug, Default)]
pub struct Tally {
    events: BTreeMap<Option<String>, BTreeMap<String, u32>>,
    /// Why the stream ended before the harness closed it (the server ended it, it broke).
    ended_early: Option<String>,
}

impl Tally {
    fn count(&mut self, session: Option<&str>, event_type: &str) {
        *self
            .events
            .entry(session.map(str::to_string))
            .or_default()
            .entry(event_type.to_string())
            .or_default() += 1;
    }

    /// `read 9 events: server.connected 1 | ses_x: message.updated 3, session.idle 1`,
    /// sessions in id order, then why the stream ended first, if it did.
    pub fn describe(&self) -> String {
        let total: u32 = self.events.values().flat_map(|m| m.values()).sum();
        let groups: Vec<String> = self
            .events
            .iter()
            .map(|(session, types)| {
                let types: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
                match session {
                    Some(s) => format!("{s}: {}", types.join(", ")),
                    None => types.join(", "),
                }
            })
            .collect();
        let mut s = format!("read {total} events: {}", groups.join(" | "));
        if let Some(why) = &self.ended_early {
            s.push_str(&format!("; its stream had ended before the close ({why})"));
        }
        s
    }
}

/// Opens a client of `path` (on `stream`'s framing) that reads until it is closed. The
/// receiver resolves once the stream's `server.connected` arrived (or with why it never
/// will).
pub fn open(api: Api, stream: EventStream, path: String) -> (oneshot::Receiver<Result<(), String>>, Subscriber) {
    use futures::StreamExt;
    let (tx, rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    let reader = tokio::spawn(async move {
        let mut tally = Tally::default();
        let resp = match crate::observe::events::open_events(&api, &path, &cancel).await {
            None => return tally,
            Some(Ok(r)) => r,
            Some(Err(why)) => {
                let _ = tx.send(Err(why));
                return tally;
            }
        };
        let mut tx = Some(tx);
        let mut frames = Box::pin(crate::observe::events::sse_data(resp.bytes_stream()));
        let why_not_connected = loop {
            // The close wins over a frame that is ready at the same time: what the tally
            // holds arrived before the close.
            let frame = tokio::select! {
                biased;
                _ = cancel.cancelled() => return tally,
                f = frames.next() => f,
            };
            match frame {
                Some(Ok(data)) => {
                    let Some(ev) = wire::frame(stream, &data) else { continue };
                    tally.count(wire::session_of(&ev.properties), &ev.event_type);
                    if matches!(wire::decode(&ev.event_type, &ev.properties), wire::Event::ServerConnected) {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                }
                Some(Err(e)) => {
                    tally.ended_early = Some(format!("broke: {e}"));
                    break e;
                }
                None => {
                    tally.ended_early = Some("the server ended it".into());
                    break "the stream ended before server.connected".into();
                }
            }
        };
        if let Some(tx) = tx.take() {
            let _ = tx.send(Err(why_not_connected));
        }
        tally
    });
    let subscriber = Subscriber {
        _stop: stop.clone().drop_guard(),
        stop,
        reader,
    };
    (rx, subscriber)
}

impl Subscriber {
    /// Closes the connection and returns what was read, once the reader has stopped
    /// (within `timeout`: it stops at its next poll).
    pub async fn close(self, timeout: std::time::Duration) -> Result<Tally, String> {
        self.stop.cancel();
        match tokio::time::timeout(timeout, self.reader).await {
            Ok(Ok(tally)) => Ok(tally),
            Ok(Err(e)) => Err(format!("its reader failed: {e}")),
            Err(_) => Err(format!("its reader did not stop within {} ms", timeout.as_millis())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_tally_reads_by_session_then_type() {
        let mut t = Tally::default();
        t.count(None, "server.connected");
        t.count(Some("ses_b"), "session.idle");
        t.count(Some("ses_a"), "message.updated");
        t.count(Some("ses_a"), "message.updated");
        assert_eq!(
            t.describe(),
            "read 4 events: server.connected 1 | ses_a: message.updated 2 | ses_b: session.idle 1"
        );
        t.ended_early = Some("the server ended it".into());
        assert!(t.describe().ends_with("; its stream had ended before the close (the server ended it)"));
    }
}
