//! The scripted model: an OpenAI-compatible chat-completions server on loopback that
//! answers opencode from a scenario's [`ModelScript`] and records every request.
//!
//! - `script`: which answer a request gets (title, the next scripted turn, or unplanned);
//! - `wire`: the `chat.completion.chunk` SSE encoding `@ai-sdk/openai-compatible` reads;
//! - `server`: the axum app, recording each request before answering it.
//!
//! A request the script did not plan for is answered with an HTTP 500 that says so and is
//! recorded as [`ModelRequestKind::Unplanned`]: never a silent "ok".

mod script;
mod server;
mod wire;

#[cfg(test)]
mod tests;

use crate::record::Recorder;
use oc_conform_checks::{ModelRequestKind, Observation};
use oc_conform_scenario::ModelScript;
use serde::{Deserialize, Serialize};
use server::Shared;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long [`FakeModel::shutdown`] lets the server close its connections before it is
/// aborted. Running answers are cut at once, so this is only ever reached by a stuck
/// connection.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// One request the fake model received, body included: the run's `model-requests.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// 0-based, in order of arrival; the same index as the timeline's `ModelRequest`.
    pub index: u32,
    pub kind: ModelRequestKind,
    /// The scripted turn that answered it (0-based), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<usize>,
    pub body: serde_json::Value,
    /// When it arrived, on the recorder's clock (the timeline entry's `at_ms`).
    pub at_ms: f64,
}

/// A running fake model. Dropping it aborts the server; [`FakeModel::shutdown`] stops it
/// gracefully.
pub struct FakeModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl FakeModel {
    /// Binds `127.0.0.1` on a free port and starts serving `script`; every request is
    /// recorded into `recorder`.
    pub async fn start(script: ModelScript, recorder: Recorder) -> io::Result<FakeModel> {
        Self::start_on(0, script, recorder).await
    }

    /// [`FakeModel::start`] on a given loopback port (0: any free one). Attach mode uses a
    /// fixed port, so a server started with `--print-attach-config`'s config finds it.
    pub async fn start_on(port: u16, script: ModelScript, recorder: Recorder) -> io::Result<FakeModel> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(script::Script::new(script), recorder));
        let app = server::app(shared.clone());
        let stop = shared.shutdown.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        });
        Ok(FakeModel {
            addr,
            shared,
            server: Some(server),
        })
    }

    /// The provider's `baseURL`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound loopback address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.book().requests.clone()
    }

    /// Answers still being sent: a hung answer stays open until the client closes it.
    pub fn open_answers(&self) -> usize {
        self.shared.open_answers.load(Ordering::SeqCst)
    }

    /// Stops accepting requests, cuts the answers still running, and waits (at most
    /// [`SHUTDOWN_GRACE`]) for the connections to close. What goes wrong is recorded, not
    /// returned: the run goes on to its report either way.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        let Some(mut server) = self.server.take() else {
            return;
        };
        let problem = match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("fake model: the server failed: {e}")),
            Ok(Err(e)) => Some(format!("fake model: the server task failed: {e}")),
            Err(_) => {
                server.abort();
                Some(format!(
                    "fake model: connections still open {} ms after shutdown; aborted",
                    SHUTDOWN_GRACE.as_millis()
                ))
            }
        };
        if let Some(message) = problem {
            self.shared
                .recorder
                .record(Observation::Harness { message });
        }
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
