//! Where a scenario's server comes from, and all that this changes in playing it: a
//! server of its own, the run's shared server, or a server someone else started. What
//! each mode offers a scenario is stated in `oc_conform_scenario::requirements`; this is
//! how each gives it: how the server is reached, which processes and plugin records are
//! the scenario's to watch, where its `server.log` comes from, and what teardown does.
//! The rest of playing a scenario is the same on every mode (`super::play`).

use super::{AttachTo, Settings, Target};
use crate::observe::{http::Api, plugins::PluginLog, procs, procs::ProcessSampler};
use crate::record::Recorder;
use crate::sandbox::Sandbox;
use crate::server::{LogPart, ServerConfig, ServerHandle, SharedView};
use crate::shared_server::SharedServerInfo;
use oc_conform_checks::Observation;
use oc_conform_scenario::ServerMode;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The server a scenario plays on.
pub enum ServerSource {
    /// Started in the scenario's sandbox for it alone, stopped at its teardown.
    Own,
    /// The run's shared server (see `shared_server`): the scenario gets its own project
    /// directory, and its tool processes are those working there.
    Shared(SharedServerInfo),
    /// A server someone else started: reached over HTTP only, never signalled nor stopped.
    Attached(AttachTo),
}

impl ServerSource {
    /// The server `settings` ask for when the run shares none: the user's server
    /// (`run --server-url`) or one of the scenario's own.
    pub fn from_settings(settings: &Settings) -> Self {
        match &settings.attach {
            Some(a) => ServerSource::Attached(a.clone()),
            None => ServerSource::Own,
        }
    }

    pub fn mode(&self) -> ServerMode {
        match self {
            ServerSource::Own => ServerMode::Own,
            ServerSource::Shared(_) => ServerMode::Shared,
            ServerSource::Attached(_) => ServerMode::Attached,
        }
    }

    /// The fake model's port: fixed for a server configured to reach it there.
    pub(super) fn model_port(&self) -> u16 {
        match self {
            ServerSource::Attached(a) => a.model_port,
            ServerSource::Own | ServerSource::Shared(_) => 0,
        }
    }

    /// Starts or reaches the server for the scenario in `sandbox`, with the observers its
    /// mode allows. `cancel` ends what follows the server when the observation ends.
    pub(super) async fn connect(
        &self,
        target: &Target<'_>,
        settings: &Settings,
        sandbox: &Sandbox,
        rec: &Recorder,
        cancel: &CancellationToken,
        scenario_port: Option<oc_conform_scenario::Port4096>,
    ) -> Result<OnServer, String> {
        let log_path = target.artifacts_dir.join("server.log");
        match self {
            ServerSource::Own => {
                let server = ServerHandle::start(
                    ServerConfig {
                        port_4096: match scenario_port {
                            Some(oc_conform_scenario::Port4096::Free) => crate::port4096::PortUse::Free,
                            _ => crate::port4096::PortUse::Busy,
                        },
                        ..ServerConfig::in_sandbox(target.binary, sandbox, log_path, settings.start_timeout)
                    },
                    rec,
                )
                .await
                .map_err(|e| e.to_string())?;
                Ok(OnServer {
                    sampler: Some(ProcessSampler::new(server.pid, server.run_marker())),
                    plugin_log: Some(PluginLog::new(sandbox.plugin_log.clone())),
                    server,
                    teardown: Teardown::Own,
                })
            }
            ServerSource::Shared(info) => {
                // Declared first, so that whatever way this ends, the scenario's processes
                // are ended while its project directory still tells them apart.
                let sweep = SharedSweep {
                    marker: info.run_marker.clone(),
                    project: sandbox.project.clone(),
                    spare: info.pid,
                    done: false,
                };
                // From before the scenario's first request to the end of its teardown,
                // the server's lines are this cell's part of its log.
                let part = info
                    .log
                    .copy_part_to(&log_path)
                    .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
                let view = SharedView {
                    url: &info.url,
                    password: &info.password,
                    pid: info.pid,
                    exited: info.exited.clone(),
                    note: info.note.clone(),
                    part_log: &log_path,
                };
                let server = ServerHandle::on_shared(view, rec, settings.start_timeout, cancel.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(OnServer {
                    sampler: Some(ProcessSampler::in_directory(info.pid, &info.run_marker, &sandbox.project)),
                    plugin_log: Some(PluginLog::shared(info.plugin_log.clone(), &sandbox.project)),
                    server,
                    teardown: Teardown::Shared { sweep, log_part: part },
                })
            }
            ServerSource::Attached(a) => {
                // The cell's server.log says where the log is, so a report's link to it
                // leads somewhere true.
                let _ = std::fs::write(
                    &log_path,
                    format!(
                        "oc-conform did not start the server at {}: its log is kept by whoever started it.\n",
                        a.url
                    ),
                );
                let server = ServerHandle::attach(&a.url, &a.password, rec, settings.start_timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                // Its processes are not the harness's to watch, and no plugin of the
                // harness reports from it.
                Ok(OnServer {
                    sampler: None,
                    plugin_log: None,
                    server,
                    teardown: Teardown::Attached,
                })
            }
        }
    }
}

/// The scenario's server, what its mode lets the scenario watch, and how to leave it.
pub(super) struct OnServer {
    pub server: ServerHandle,
    pub sampler: Option<ProcessSampler>,
    pub plugin_log: Option<PluginLog>,
    pub teardown: Teardown,
}

/// What the end of a scenario does to its server.
pub(super) enum Teardown {
    /// Stop it: SIGTERM, grace, SIGKILL to its group, then the run marker's stragglers.
    Own,
    /// Leave it as found for the next scenario: the scenario's processes killed, its
    /// session deleted, its instance disposed (its plugins stop with it).
    Shared {
        sweep: SharedSweep,
        /// Copying the server's log into the cell's ends when this is dropped.
        log_part: LogPart,
    },
    /// Leave it as found: no test session in its list.
    Attached,
}

impl Teardown {
    /// Ends the scenario's use of `server`; returns the pids of the run's processes that
    /// were still alive and had to be killed.
    pub(super) async fn finish(self, server: &mut ServerHandle, api: &Api, rec: &Recorder, session_id: &str, grace: Duration) -> Vec<u32> {
        let session = ("DELETE", format!("/session/{session_id}"));
        match self {
            Teardown::Own => server.stop(grace).await,
            Teardown::Shared { sweep, log_part } => {
                let left = tokio::task::spawn_blocking(move || sweep.kill()).await.unwrap_or_default();
                let before = log_part.disposals().unwrap_or(0);
                clean_up(server, api, rec, &[session, ("POST", "/instance/dispose".into())]).await;
                // The disposal's log line comes just after the answer; it is this cell's.
                if !server.has_exited() {
                    log_part.wait_for_disposal(before, DISPOSAL_LOG_DEADLINE).await;
                }
                left
            }
            Teardown::Attached => {
                clean_up(server, api, rec, &[session]).await;
                vec![]
            }
        }
    }
}

/// How long a shared cell's teardown waits for its instance's disposal to be logged
/// (measured: within a few ms; releases that log none pay this once per cell).
const DISPOSAL_LOG_DEADLINE: Duration = Duration::from_millis(500);

/// The calls that leave a server the scenario does not own as it was found.
async fn clean_up(server: &ServerHandle, api: &Api, rec: &Recorder, calls: &[(&str, String)]) {
    if server.has_exited() {
        return;
    }
    for (method, path) in calls {
        let a = api.call_quiet(method, path, None, Duration::from_secs(10)).await;
        if !a.ok() {
            rec.record(Observation::Harness {
                message: format!("clean-up {method} {path} answered {} {}", a.status, a.error.unwrap_or_default()),
            });
        }
    }
}

/// A scenario's processes on a shared server: marked with the server's run marker and
/// working in the scenario's project. Killed at teardown, or on drop if play() ended
/// another way.
pub(super) struct SharedSweep {
    marker: String,
    project: PathBuf,
    spare: u32,
    done: bool,
}

impl SharedSweep {
    fn sweep(&self) -> Vec<u32> {
        procs::kill_marked_in(&self.marker, &self.project, self.spare, Duration::from_secs(2))
    }

    /// Kills the scenario's processes now (teardown); the drop then has nothing to do.
    fn kill(mut self) -> Vec<u32> {
        self.done = true;
        self.sweep()
    }
}

impl Drop for SharedSweep {
    fn drop(&mut self) {
        if !self.done {
            self.sweep();
        }
    }
}
