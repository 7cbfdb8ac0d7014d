//! The HTTP side: the API client every request of the run goes through (always with the
//! run's password), and the poller that records what `GET /session/status` and
//! `GET /permission` say, on change.

use crate::record::Recorder;
use oc_conform_checks::wire::{self, Event};
use oc_conform_checks::Observation;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A client for one server and one project directory.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    pub base: String,
    password: String,
    pub directory: String,
}

/// The answer to one call. `status` is 0 when no answer came.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub error: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Api {
    pub fn new(base: &str, password: &str, directory: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            password: password.to_string(),
            directory: directory.to_string(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth("opencode", Some(&self.password))
            .header("x-opencode-directory", &self.directory)
    }

    /// The same server and password, for another project directory (another instance).
    pub fn in_directory(&self, directory: &str) -> Api {
        Api {
            directory: directory.to_string(),
            ..self.clone()
        }
    }

    /// An API client without the password: what any other local user's client sends.
    pub fn without_auth(&self) -> UnauthenticatedApi {
        UnauthenticatedApi(self.clone())
    }

    /// Opens a long-lived stream (SSE). No overall timeout: the caller cancels it.
    pub async fn open_stream(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.request(reqwest::Method::GET, path)
            .header("accept", "text/event-stream")
            .send()
            .await
    }

    /// One call, not recorded (polls).
    pub async fn call_quiet(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        self.send(self.request(method, path), body, timeout).await
    }

    async fn send(&self, req: reqwest::RequestBuilder, body: Option<&Value>, timeout: Duration) -> Answer {
        let mut req = req.timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
                    Value::Null
                } else {
                    Value::String(text)
                });
                Answer {
                    status,
                    body,
                    error: None,
                }
            }
            Err(e) => Answer {
                status: 0,
                body: Value::Null,
                error: Some(if e.is_timeout() {
                    format!("no answer within {timeout:?}")
                } else {
                    e.to_string()
                }),
            },
        }
    }

    /// One call, recorded in the timeline with its answer.
    pub async fn call(
        &self,
        rec: &Recorder,
        step: Option<usize>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Answer {
        let started = Instant::now();
        let answer = self.call_quiet(method, path, body, timeout).await;
        rec.record(Observation::Http {
            method: method.to_string(),
            path: path.to_string(),
            step,
            status: answer.status,
            body: answer.body.clone(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: answer.error.clone(),
        });
        answer
    }
}

pub struct UnauthenticatedApi(Api);

impl UnauthenticatedApi {
    /// One call without credentials, recorded like any other.
    pub async fn call(&self, rec: &Recorder, step: Option<usize>, method: &str, path: &str, timeout: Duration) -> Answer {
        let api = &self.0;
        let started = Instant::now();
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let req = api
            .client
            .request(m, format!("{}{path}", api.base))
            .header("x-opencode-directory", &api.directory);
        let answer = api.send(req, None, timeout).await;
        rec.record(Observation::Http {
            method: method.to_string(),
            path: format!("{path} (no credentials)"),
            step,
            status: answer.status,
            body: answer.body.clone(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: answer.error.clone(),
        });
        answer
    }
}

/// After an event announces a change, the poller polls at once, then again after each of
/// these delays while the answer still disagrees with what the events announced: every
/// 5 ms for the first 60 ms (1.18.34's status map lags its idle event by up to ~40 ms in
/// one case of ten), then spaced out; a stuck status is followed for 2.5 s, past the
/// checks' agreement grace.
const FOLLOW_UP_MS: [u64; 17] = [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 100, 200, 400, 800, 940];

/// Polls status (and pending permissions when asked) when the event stream announces a
/// change (a `session.*` or `permission.*` event), following up until the answer agrees,
/// and otherwise every `interval` to catch changes no event announced. Every request costs
/// opencode 10-20 ms of CPU whatever it asks (measured on 1.18.34: a 25 ms poll took 0.6
/// of a core), so polling is driven by events, not by a fast clock. Records changes only.
/// `sessions` are always reported, as "idle" while absent.
pub struct Poller {
    pub api: Api,
    pub sessions: Vec<String>,
    pub permissions: bool,
    pub interval: Duration,
    /// How many timeline entries the recorded statuses account for: every change their
    /// events announced was polled, and the answer agreed or the follow-ups ran out (or
    /// the poll fails). The teardown waits for it to reach the timeline's length, so a
    /// run that ends right after an idle event still has the poll that saw it.
    pub confirmed: tokio::sync::watch::Sender<usize>,
}

impl Poller {
    pub async fn run(self, rec: Recorder, cancel: CancellationToken) {
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        let mut last_perms: Option<Vec<String>> = None;
        let mut failing = false;
        let timeout = Duration::from_secs(5);
        let mut changes = rec.subscribe();
        let mut seen = 0usize;
        // What the events announced and no poll has confirmed yet.
        let mut unconfirmed: BTreeMap<String, String> = BTreeMap::new();
        let mut permission_news = false;
        let mut follow_up: Option<usize> = None;
        let mut next_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next_at) => {}
                r = changes.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let news = rec.with(|t| {
                        let news = announcements(&t.entries[seen.min(t.entries.len())..]);
                        seen = t.entries.len();
                        news
                    });
                    if news.is_empty() {
                        if follow_up.is_none() {
                            self.confirmed.send_replace(seen);
                        }
                        continue;
                    }
                    for n in news {
                        match n {
                            Announced::Status { session, status } => {
                                unconfirmed.insert(session, status);
                            }
                            Announced::Permission => permission_news = true,
                        }
                    }
                    follow_up = Some(0);
                }
            }
            let answer = tokio::select! {
                a = self.api.call_quiet("GET", "/session/status", None, timeout) => a,
                _ = cancel.cancelled() => return,
            };
            if !answer.ok() {
                if !failing {
                    failing = true;
                    rec.record(Observation::Harness {
                        message: format!(
                            "status poll failed: {}",
                            answer.error.unwrap_or_else(|| format!("HTTP {}", answer.status))
                        ),
                    });
                }
                // No answer will confirm anything: the teardown must not wait for one.
                self.confirmed.send_replace(seen);
                next_at = tokio::time::Instant::now() + self.interval;
                continue;
            }
            if failing {
                failing = false;
                rec.record(Observation::Harness {
                    message: "status poll answered again".into(),
                });
            }
            let mut now = wire::status_map(&answer.body);
            for s in &self.sessions {
                now.entry(s.clone()).or_insert_with(|| "idle".into());
            }
            for (id, status) in &now {
                if last.get(id) != Some(status) {
                    rec.record(Observation::Status {
                        session_id: id.clone(),
                        status: status.clone(),
                    });
                }
            }
            // A session that left the map went idle.
            for (id, status) in &last {
                if !now.contains_key(id) && status != "idle" {
                    rec.record(Observation::Status {
                        session_id: id.clone(),
                        status: "idle".into(),
                    });
                    now.insert(id.clone(), "idle".into());
                }
            }
            unconfirmed.retain(|id, status| !status.is_empty() && now.get(id).map_or(status != "idle", |s| s != status));
            last = now;

            if self.permissions {
                let answer = self.api.call_quiet("GET", "/permission", None, timeout).await;
                if answer.ok() {
                    let ids = wire::pending_permission_ids(&answer.body);
                    if last_perms.as_ref() != Some(&ids) {
                        rec.record(Observation::PendingPermissions { ids: ids.clone() });
                        last_perms = Some(ids);
                        permission_news = false;
                    }
                }
            }

            let settled = unconfirmed.is_empty() && !(self.permissions && permission_news);
            follow_up = follow_up.filter(|&i| !settled && i < FOLLOW_UP_MS.len());
            let wait = match follow_up {
                Some(i) => {
                    follow_up = Some(i + 1);
                    Duration::from_millis(FOLLOW_UP_MS[i])
                }
                None => {
                    unconfirmed.clear();
                    permission_news = false;
                    self.confirmed.send_replace(seen);
                    self.interval
                }
            };
            next_at = tokio::time::Instant::now() + wait;
        }
    }
}

/// A change an event announced, for the poller to confirm.
#[derive(Debug, PartialEq)]
enum Announced {
    Status { session: String, status: String },
    Permission,
}

/// The status and permission changes that new entries' events announce.
fn announcements(entries: &[oc_conform_checks::Entry]) -> Vec<Announced> {
    entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Event {
                event_type,
                session_id,
                properties,
                ..
            } => {
                let session = session_id.clone().unwrap_or_default();
                match wire::decode(event_type, properties) {
                    Event::SessionStatus { status } => Some(Announced::Status {
                        session,
                        status: status.unwrap_or("unknown").to_string(),
                    }),
                    Event::SessionIdle => Some(Announced::Status {
                        session,
                        status: "idle".into(),
                    }),
                    // An error may come with a status change, or none: one look settles it.
                    Event::SessionError(_) => Some(Announced::Status {
                        session,
                        status: String::new(),
                    }),
                    Event::PermissionAsked(_) | Event::PermissionReplied(_) => Some(Announced::Permission),
                    _ if event_type.starts_with("permission.") => Some(Announced::Permission),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_checks::EventStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A server whose `GET /session/status` says `ses_1` is busy until `idle` is set, and
    /// answers 150 ms late (a server under load) with what held when the request arrived.
    async fn slow_status_server(idle: Arc<AtomicBool>) -> Api {
        let app = axum::Router::new().route(
            "/session/status",
            axum::routing::get(move || {
                let idle = idle.clone();
                async move {
                    let was_idle = idle.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    match was_idle {
                        true => axum::Json(serde_json::json!({})),
                        false => axum::Json(serde_json::json!({"ses_1": {"type": "busy"}})),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Api::new(&format!("http://{addr}"), "", "/p")
    }

    fn status_event(rec: &Recorder, kind: &str) -> usize {
        rec.record(Observation::Event {
            stream: EventStream::Global,
            event_type: "session.status".into(),
            session_id: Some("ses_1".into()),
            properties: serde_json::json!({"sessionID": "ses_1", "status": {"type": kind}}),
        });
        rec.with(|t| t.entries.len())
    }

    fn last_status(rec: &Recorder) -> Option<String> {
        rec.with(|t| {
            t.entries.iter().rev().find_map(|e| match &e.obs {
                Observation::Status { status, .. } => Some(status.clone()),
                _ => None,
            })
        })
    }

    #[tokio::test]
    async fn confirmed_reaches_an_idle_event_only_once_the_poll_that_saw_it_is_recorded() {
        let idle = Arc::new(AtomicBool::new(false));
        let rec = Recorder::new("s", "v");
        let (confirmed, mut seen) = tokio::sync::watch::channel(0);
        let cancel = CancellationToken::new();
        let poller = Poller {
            api: slow_status_server(idle.clone()).await,
            sessions: vec!["ses_1".into()],
            permissions: false,
            // Only the events make it poll within the test.
            interval: Duration::from_secs(30),
            confirmed,
        };
        tokio::spawn(poller.run(rec.clone(), cancel.clone()));
        let deadline = Duration::from_secs(5);

        let busy_at = status_event(&rec, "busy");
        tokio::time::timeout(deadline, seen.wait_for(|&n| n >= busy_at)).await.unwrap().unwrap();
        assert_eq!(last_status(&rec).as_deref(), Some("busy"));

        idle.store(true, Ordering::SeqCst);
        let idle_at = status_event(&rec, "idle");
        tokio::time::timeout(deadline, seen.wait_for(|&n| n >= idle_at)).await.unwrap().unwrap();
        // What the teardown relies on: by then the poll that followed the idle event is in
        // the timeline (it answered 150 ms after the event).
        assert_eq!(last_status(&rec).as_deref(), Some("idle"));
        cancel.cancel();
    }
}
