//! Servers shared by the scenarios that need no server of their own: per version, as
//! many as scenarios run at once, started on first use. Starting `opencode serve` costs
//! about 2.5 CPU seconds here, and a warm server plays a scenario with half the CPU of a
//! fresh one; on a 2-core machine that CPU is the suite's wall time.
//!
//! A scenario shares only if nothing it does or judges depends on owning the process:
//! no environment (read once per process), no signals, stops or global disposes, no
//! waits on the server's exit or checks on its whole tree. Each gets its own project
//! directory (its own opencode instance, config, plugins and fake model) sent as
//! `x-opencode-directory`, exactly as `run --server-url` plays against a user's server;
//! its tool processes are told from other scenarios' by their working directory (that
//! project), and at teardown its session is deleted, its instance disposed and its
//! leftover processes killed. One scenario at a time per shared server, so no scenario's
//! timing depends on another's turn, and the server's plugin log holds only the current
//! scenario's records. A shared server that dies is started again for the next
//! scenario; the scenario it died under is ERROR.

use crate::install::Installed;
use crate::record::Recorder;
use crate::sandbox::{Sandbox, SandboxSpec};
use crate::server::{ServerConfig, ServerHandle, ServerLog};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The run's shared server, as a scenario played on it sees it.
#[derive(Clone)]
pub struct SharedServerInfo {
    pub url: String,
    pub password: String,
    pub pid: u32,
    /// Said first in the timeline, so a reader knows whose server the scenario played on.
    pub note: String,
    pub exited: tokio::sync::watch::Receiver<Option<String>>,
    /// The server's output: the scenario copies its part into its own `server.log`.
    pub log: ServerLog,
    /// The server's `OC_CONFORM_PLUGIN_LOG`: the scenario's plugins report there, and
    /// the scenario reads what is appended while it plays (one scenario at a time).
    pub plugin_log: PathBuf,
    /// The server's run marker: its tools carry it; the scenario's are those working in
    /// its project directory.
    pub run_marker: String,
}

/// Why no shared server could be had.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LeaseError {
    pub message: String,
    /// The log of the server that failed to start, if one was started.
    pub log: Option<PathBuf>,
}

/// A running shared server and what it needs to stay alive.
struct Running {
    server: ServerHandle,
    sandbox: Sandbox,
    scenarios: usize,
}

type Slot = Arc<Mutex<Option<Running>>>;

/// The shared servers of one run, by opencode binary, started on first use: as many per
/// binary as scenarios run at once (`jobs`), so a scenario never waits for one.
#[derive(Clone)]
pub struct SharedServers {
    slots: Arc<std::sync::Mutex<BTreeMap<PathBuf, Vec<Slot>>>>,
    per_binary: usize,
}

/// The right to play one scenario on a shared server; the next waits until it is dropped.
pub struct Lease {
    slot: OwnedMutexGuard<Option<Running>>,
}

impl Lease {
    /// How a scenario reaches the server (None once it is gone).
    pub fn info(&self) -> Option<SharedServerInfo> {
        let r = self.slot.as_ref()?;
        Some(SharedServerInfo {
            url: r.server.url.clone(),
            password: r.server.password().to_string(),
            pid: r.server.pid,
            note: self.describe(),
            exited: r.server.exit_watch(),
            log: r.server.log().clone(),
            plugin_log: r.sandbox.plugin_log.clone(),
            run_marker: r.sandbox.run_marker.clone(),
        })
    }

    /// A line for the scenario's timeline: which server, whose, and how warm.
    pub fn describe(&self) -> String {
        match self.slot.as_ref() {
            Some(r) => format!(
                "played on the run's shared opencode server (pid {}, scenario {} on it; started by the harness \
                 for the run, stopped when the run ends, never by a scenario; this scenario's part of its log \
                 is its server.log, all of it {})",
                r.server.pid,
                r.scenarios,
                r.server.log_path().display()
            ),
            None => String::new(),
        }
    }

    /// After the scenario: a server that died is dropped (the next lease starts another).
    pub fn release(mut self) {
        if self.slot.as_ref().is_some_and(|r| r.server.has_exited()) {
            *self.slot = None;
        }
    }
}

impl SharedServers {
    /// Up to `jobs` servers per binary (the run's parallelism).
    pub fn new(jobs: usize) -> Self {
        SharedServers {
            slots: Arc::default(),
            per_binary: jobs.max(1),
        }
    }

    /// A free shared server for `target`, started if there is none (or it died). With
    /// at most `jobs` scenarios at once there is always a free one or room for one; the
    /// wait below is only a fallback. `log_dir` gets `server.log` (`server-2.log`, ...).
    pub async fn lease(&self, target: &Installed, log_dir: &Path, start_timeout: Duration) -> Result<Lease, LeaseError> {
        let (free, slot, index) = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let list = slots.entry(target.binary.clone()).or_default();
            let free = list.iter().enumerate().find_map(|(i, s)| s.clone().try_lock_owned().ok().map(|g| (g, i)));
            match free {
                Some((guard, i)) => (Some(guard), None, i),
                None if list.len() < self.per_binary => {
                    list.push(Slot::default());
                    (None, list.last().cloned(), list.len() - 1)
                }
                None => (None, list.first().cloned(), 0),
            }
        };
        let mut slot = match (free, slot) {
            (Some(guard), _) => guard,
            (None, Some(slot)) => slot.lock_owned().await,
            (None, None) => {
                return Err(LeaseError {
                    message: "no shared server slot".into(),
                    log: None,
                })
            }
        };
        let log_name = if index == 0 {
            "server.log".to_string()
        } else {
            format!("server-{}.log", index + 1)
        };
        if slot.as_ref().is_some_and(|r| r.server.has_exited()) {
            *slot = None;
        }
        if slot.is_none() {
            let log = log_dir.join(log_name);
            let started = start(target, &log, start_timeout).await;
            *slot = Some(started.map_err(|message| LeaseError { message, log: Some(log) })?);
        }
        if let Some(r) = slot.as_mut() {
            r.scenarios += 1;
        }
        Ok(Lease { slot })
    }

    /// Stops every shared server (SIGTERM, grace, SIGKILL to its group).
    pub async fn stop_all(&self, grace: Duration) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flatten()
            .cloned()
            .collect();
        stop_slots(slots, grace).await;
    }

    /// Stops the shared servers of `binary` (its version has no scenario left to share
    /// them), so they hold no memory or CPU while other versions play.
    pub async fn stop_binary(&self, binary: &Path, grace: Duration) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner()).remove(binary).unwrap_or_default();
        stop_slots(slots, grace).await;
    }
}

async fn stop_slots(slots: Vec<Slot>, grace: Duration) {
    for slot in slots {
        if let Some(mut r) = slot.lock().await.take() {
            r.server.stop(grace).await;
        }
    }
}

async fn start(target: &Installed, log_path: &Path, start_timeout: Duration) -> Result<Running, String> {
    let (server, sandbox) = start_bare("shared-server", target, log_path, start_timeout).await?;
    Ok(Running {
        server,
        sandbox,
        scenarios: 0,
    })
}

/// `opencode serve` in a sandbox of its own whose project points at no model: a server
/// to share, or to probe. `label` names it in errors and in its recorder.
pub(crate) async fn start_bare(
    label: &str,
    target: &Installed,
    log_path: &Path,
    start_timeout: Duration,
) -> Result<(ServerHandle, Sandbox), String> {
    if let Some(dir) = log_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let name = label.replace('-', " ");
    // Each scenario's project config names its own fake model; the server's own project
    // points nowhere, so nothing reaches a model through it.
    let sandbox = Sandbox::create(&SandboxSpec {
        model_base_url: "http://127.0.0.1:9/v1".into(),
        plugins: vec![],
        plugin_lib: None,
        opencode_config: Default::default(),
        env: Default::default(),
        plugin_params: Default::default(),
        label: label.into(),
    })
    .map_err(|e| format!("cannot create the {name}'s sandbox: {e}"))?;
    let recorder = Recorder::new(label, &target.version);
    let server = ServerHandle::start(
        ServerConfig::in_sandbox(&target.binary, &sandbox, log_path.to_path_buf(), start_timeout),
        &recorder,
    )
    .await
    .map_err(|e| format!("cannot start the {name}: {e}"))?;
    Ok((server, sandbox))
}
