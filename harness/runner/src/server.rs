//! The server supervisor: `opencode serve` in its own process group, its listening line
//! parsed, its health awaited, its output captured, and a stop that always ends with
//! nothing of the run left alive (SIGTERM to the group, a grace period, SIGKILL, then the
//! run marker's stragglers). Dropping a handle kills synchronously, so an error, a panic
//! or a timeout in the runner still cleans up; `cleanup_all` serves the signal handler.

use crate::observe::procs;
use crate::record::Recorder;
use oc_conform_checks::{Observation, ServerChange};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opencode serve exited before it was listening ({status}); last log lines:\n{log_tail}")]
    ExitedEarly { status: String, log_tail: String },
    #[error("opencode serve printed no listening line within {0:?}; last log lines:\n{1}")]
    NoListeningLine(Duration, String),
    #[error("{0}")]
    Port4096(String),
    #[error("the server at {url} cannot be used: {detail}")]
    Attach { url: String, detail: String },
    #[error("opencode serve at {url} did not answer GET /global/health within {timeout:?} (last: {last}); last log lines:\n{log_tail}")]
    NotHealthy {
        url: String,
        timeout: Duration,
        last: String,
        log_tail: String,
    },
}

pub struct ServerConfig<'a> {
    pub binary: &'a Path,
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    pub password: &'a str,
    pub run_marker: &'a str,
    pub log_path: PathBuf,
    pub start_timeout: Duration,
    /// What port 4096 must be while the server starts (`--port 0` binds it when free).
    pub port_4096: crate::port4096::PortUse,
}

impl<'a> ServerConfig<'a> {
    /// A server of `binary` living in `sandbox`: its project as the working directory,
    /// its scrubbed environment, password and run marker.
    pub fn in_sandbox(binary: &'a Path, sandbox: &'a crate::sandbox::Sandbox, log_path: PathBuf, start_timeout: Duration) -> Self {
        ServerConfig {
            binary,
            cwd: &sandbox.project,
            env: sandbox.env(),
            password: &sandbox.password,
            run_marker: &sandbox.run_marker,
            log_path,
            start_timeout,
            port_4096: Default::default(),
        }
    }
}

/// Processes groups and run markers that must die if the harness is interrupted.
static LIVE: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

/// Kills every server group and every marked process this harness started. For the
/// SIGINT/SIGTERM handler: synchronous, no allocation-heavy work, idempotent.
pub fn cleanup_all() {
    let live = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for (pgid, marker) in live {
        kill_group(pgid, libc::SIGKILL);
        procs::kill_marked(&marker, Duration::from_secs(2));
    }
}

/// Who may signal, stop and kill the server a handle is on.
enum Owner {
    /// This handle: it started the server, and stops it (or kills it when dropped).
    Handle,
    /// The run: a shared server, stopped by `SharedServers` when the run ends.
    Run,
    /// Nobody here: a server the harness did not start (`run --server-url`). Holds the
    /// exit channel's sender, which never sends.
    Nobody(#[allow(dead_code)] watch::Sender<Option<String>>),
}

pub struct ServerHandle {
    pub pid: u32,
    pub url: String,
    pub version: String,
    password: String,
    run_marker: String,
    log_path: PathBuf,
    log: ServerLog,
    exited: watch::Receiver<Option<String>>,
    recorder: Recorder,
    stopped: bool,
    owner: Owner,
}

/// A server this run started for many scenarios (`shared_server`), as one scenario on it
/// sees it: never signalled nor stopped through the scenario's handle.
pub struct SharedView<'a> {
    pub url: &'a str,
    pub password: &'a str,
    pub pid: u32,
    pub exited: watch::Receiver<Option<String>>,
    /// Said first in the scenario's timeline: whose server it is, and how warm.
    pub note: String,
    /// The scenario's own part of the server's log (the cell's `server.log`).
    pub part_log: &'a Path,
}

/// Where a server's output goes: its log file and, while a scenario plays on a shared
/// server, that scenario's own `server.log` as well (its part of the server's log, so
/// every cell has a log of its own). Files are written synchronously under a lock: a
/// line at a time, and the part can be ended from `Drop`.
#[derive(Clone, Default)]
pub struct ServerLog(Arc<Mutex<LogFiles>>);

#[derive(Default)]
struct LogFiles {
    whole: Option<std::fs::File>,
    part: Option<Part>,
    /// Numbers the parts, so that a part's end never ends the next one.
    parts: u64,
    /// Woken on every line that announces an instance's disposal.
    disposal: Arc<tokio::sync::Notify>,
}

struct Part {
    file: std::fs::File,
    number: u64,
    /// Set when the scenario's teardown ended; lines still arriving until then are its.
    until: Option<Instant>,
    /// Lines of the part that announce an instance's disposal.
    disposals: u64,
}

/// What opencode logs when an instance is disposed (1.14.48 to 1.18.34; the directory
/// follows it from 1.15, 1.14.48 prints `[object Object]`).
const DISPOSAL_LINE: &str = "disposing instance";

/// How long a part still takes lines after its scenario ended: opencode writes some
/// lines of a request just after answering it (an instance's disposal, measured ~3 ms).
const PART_LINGER: Duration = Duration::from_millis(250);

impl ServerLog {
    fn create(path: &Path) -> Self {
        let log = ServerLog::default();
        log.files().whole = std::fs::File::create(path).ok();
        log
    }

    fn files(&self) -> std::sync::MutexGuard<'_, LogFiles> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_line(&self, line: &str) {
        let mut files = self.files();
        if files.part.as_ref().is_some_and(|p| p.until.is_some_and(|u| Instant::now() > u)) {
            files.part = None;
        }
        let LogFiles { whole, part, disposal, .. } = &mut *files;
        for f in [whole.as_mut(), part.as_mut().map(|p| &mut p.file)].into_iter().flatten() {
            let _ = f.write_all(line.as_bytes());
        }
        if line.contains(DISPOSAL_LINE) {
            if let Some(p) = part.as_mut() {
                p.disposals += 1;
            }
            disposal.notify_waiters();
        }
    }

    /// From now until shortly after the returned guard is dropped (or the next part
    /// begins), every line of the server also goes to `path` (created afresh).
    pub fn copy_part_to(&self, path: &Path) -> std::io::Result<LogPart> {
        let file = std::fs::File::create(path)?;
        let mut files = self.files();
        files.parts += 1;
        let number = files.parts;
        files.part = Some(Part {
            file,
            number,
            until: None,
            disposals: 0,
        });
        Ok(LogPart { log: self.clone(), number })
    }
}

/// A scenario's part of a shared server's log; it ends [`PART_LINGER`] after this is
/// dropped, or when the next part begins.
pub struct LogPart {
    log: ServerLog,
    number: u64,
}

impl LogPart {
    /// How many instance disposals the part has logged so far (none once it ended).
    pub fn disposals(&self) -> Option<u64> {
        let files = self.log.files();
        files.part.as_ref().filter(|p| p.number == self.number).map(|p| p.disposals)
    }

    /// Waits, at most `deadline`, until the part has logged more than `before` disposals:
    /// opencode logs an instance's disposal just after answering the request that caused
    /// it, and the next scenario on the server must not begin its part before that line
    /// is in this one (seen under load: the line landed in the next cell's log).
    pub async fn wait_for_disposal(&self, before: u64, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notify = self.log.files().disposal.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.disposals() {
                Some(n) if n > before => return true,
                None => return false,
                Some(_) => {}
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.disposals().is_some_and(|n| n > before);
            }
        }
    }
}

impl Drop for LogPart {
    fn drop(&mut self) {
        let mut files = self.log.files();
        if let Some(p) = files.part.as_mut().filter(|p| p.number == self.number) {
            p.until = Some(Instant::now() + PART_LINGER);
        }
    }
}

impl ServerHandle {
    pub async fn start(cfg: ServerConfig<'_>, recorder: &Recorder) -> Result<Self, ServerError> {
        let started = Instant::now();
        // Until the listening line: the port is bound by then.
        let port_guard = crate::port4096::StartGuard::acquire(cfg.port_4096)
            .await
            .map_err(ServerError::Port4096)?;
        let mut cmd = tokio::process::Command::new(cfg.binary);
        // opencode's own log (INFO) on stderr, kept in server.log: otherwise it goes to a
        // file in the sandbox, which is deleted with it.
        cmd.args(["serve", "--hostname", "127.0.0.1", "--port", "0", "--print-logs", "--log-level", "INFO"])
            .current_dir(cfg.cwd)
            .env_clear()
            .envs(cfg.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| ServerError::Spawn {
            binary: cfg.binary.to_path_buf(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        if let Ok(mut l) = LIVE.lock() {
            l.push((pid, cfg.run_marker.to_string()));
        }
        recorder.record(Observation::Server(ServerChange::Spawned { pid }));
        recorder.update(|t| t.server_pid = Some(pid));

        let log = ServerLog::create(&cfg.log_path);
        let (url_tx, url_rx) = oneshot::channel::<String>();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        tokio::spawn(copy_lines(stdout, "out", log.clone(), Some(url_tx)));
        tokio::spawn(copy_lines(stderr, "err", log.clone(), None));

        let (exit_tx, exited) = watch::channel(None);
        let rec = recorder.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let (code, signal, text) = match &status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    (s.code(), s.signal(), s.to_string())
                }
                Err(e) => (None, None, e.to_string()),
            };
            rec.record(Observation::Server(ServerChange::Exited { code, signal }));
            let _ = exit_tx.send(Some(text));
        });

        let mut handle = ServerHandle {
            pid,
            url: String::new(),
            version: String::new(),
            password: cfg.password.to_string(),
            run_marker: cfg.run_marker.to_string(),
            log_path: cfg.log_path.clone(),
            log,
            exited,
            recorder: recorder.clone(),
            stopped: false,
            owner: Owner::Handle,
        };

        // The listening line, or the process's exit, or the deadline: whichever first.
        let mut exited = handle.exited.clone();
        let url = tokio::select! {
            url = url_rx => url.ok(),
            _ = exited.wait_for(Option::is_some) => None,
            _ = tokio::time::sleep(cfg.start_timeout) => {
                return Err(ServerError::NoListeningLine(cfg.start_timeout, handle.log_tail()));
            }
        };
        let Some(url) = url else {
            let mut exited = handle.exited.clone();
            let status = tokio::time::timeout(Duration::from_secs(2), exited.wait_for(Option::is_some))
                .await
                .ok()
                .and_then(|r| r.ok().and_then(|s| s.clone()))
                .unwrap_or_else(|| "stdout closed".into());
            return Err(ServerError::ExitedEarly {
                status,
                log_tail: handle.log_tail(),
            });
        };
        drop(port_guard);
        handle.url = url.trim_end_matches('/').to_string();
        recorder.record(Observation::Server(ServerChange::Listening {
            url: handle.url.clone(),
        }));

        let remaining = cfg.start_timeout.saturating_sub(started.elapsed()).max(Duration::from_secs(5));
        handle.version = handle.wait_healthy(remaining).await?;
        recorder.record(Observation::Server(ServerChange::Healthy {
            version: handle.version.clone(),
        }));
        Ok(handle)
    }

    /// A handle on a server someone else started, at `url`, once it answers
    /// `GET /global/health` with `password`. Nothing this handle does can signal, stop or
    /// kill that server: `signal`, `stop_group`, `stop` and `Drop` leave it alone.
    pub async fn attach(url: &str, password: &str, recorder: &Recorder, timeout: Duration) -> Result<Self, ServerError> {
        let url = url.trim_end_matches('/').to_string();
        let (tx, exited) = watch::channel(None);
        let mut handle = ServerHandle {
            pid: 0,
            url: url.clone(),
            version: String::new(),
            password: password.to_string(),
            run_marker: String::new(),
            log_path: PathBuf::new(),
            log: ServerLog::default(),
            exited,
            recorder: recorder.clone(),
            stopped: true,
            owner: Owner::Nobody(tx),
        };
        let version = probe_health(&url, password, timeout)
            .await
            .map_err(|detail| ServerError::Attach { url: url.clone(), detail })?;
        recorder.record(Observation::Harness {
            message: format!("attached to the server at {url} (not started by the harness: never signalled nor stopped)"),
        });
        recorder.record(Observation::Server(ServerChange::Healthy { version: version.clone() }));
        handle.version = version;
        Ok(handle)
    }

    /// A handle on the run's shared server for one scenario, once it answers
    /// `GET /global/health`. The timeline names the server (its pid is the timeline's
    /// `server_pid`: the run started it), and records its exit if it dies before `until`
    /// fires. Nothing this handle does signals, stops or kills it: the run does that.
    pub async fn on_shared(
        view: SharedView<'_>,
        recorder: &Recorder,
        timeout: Duration,
        until: tokio_util::sync::CancellationToken,
    ) -> Result<Self, ServerError> {
        recorder.record(Observation::Harness { message: view.note });
        recorder.update(|t| t.server_pid = Some(view.pid));
        let url = view.url.trim_end_matches('/').to_string();
        let version = probe_health(&url, view.password, timeout)
            .await
            .map_err(|detail| ServerError::Attach { url: url.clone(), detail })?;
        recorder.record(Observation::Server(ServerChange::Healthy { version: version.clone() }));
        let rec = recorder.clone();
        let mut exited = view.exited.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = exited.wait_for(Option::is_some) => s.ok().map(|s| s.clone().unwrap_or_default()),
                _ = until.cancelled() => None,
            };
            if let Some(text) = status {
                rec.record(Observation::Harness {
                    message: format!("the shared server exited: {text}"),
                });
                rec.record(Observation::Server(ServerChange::Exited { code: None, signal: None }));
            }
        });
        Ok(ServerHandle {
            pid: view.pid,
            url,
            version,
            password: view.password.to_string(),
            run_marker: String::new(),
            log_path: view.part_log.to_path_buf(),
            log: ServerLog::default(),
            exited: view.exited,
            recorder: recorder.clone(),
            stopped: true,
            owner: Owner::Run,
        })
    }

    /// The server's exit status as it becomes known.
    pub fn exit_watch(&self) -> watch::Receiver<Option<String>> {
        self.exited.clone()
    }

    /// True when this handle started the server, and so may signal, stop and kill it.
    pub fn owned(&self) -> bool {
        matches!(self.owner, Owner::Handle)
    }

    /// Where the server's output goes (to copy a scenario's part of a shared server's).
    pub fn log(&self) -> &ServerLog {
        &self.log
    }

    /// Polls `GET /global/health` until it answers healthy. The listening line comes
    /// before the server answers, so this is the readiness signal.
    async fn wait_healthy(&self, timeout: Duration) -> Result<String, ServerError> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if self.has_exited() {
                return Err(ServerError::ExitedEarly {
                    status: self.exit_status().unwrap_or_default(),
                    log_tail: self.log_tail(),
                });
            }
            let req = client
                .get(format!("{}/global/health", self.url))
                .basic_auth("opencode", Some(&self.password))
                .timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100)))
                .send()
                .await;
            match req {
                Ok(r) if r.status().is_success() => {
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    return Ok(body["version"].as_str().unwrap_or("unknown").to_string());
                }
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => last = "HTTP 401".into(),
                other => {
                    last = match other {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    if self.answers_legacy_readiness(&client, deadline).await {
                        return Ok(LEGACY_VERSION.to_string());
                    }
                }
            }
            // A short pause between attempts (the first answer comes ~30 ms after the
            // listening line); the deadline above bounds the loop.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(ServerError::NotHealthy {
            url: self.url.clone(),
            timeout,
            last,
            log_tail: self.log_tail(),
        })
    }

    /// Releases before `/global/health` (1.0.x; measured on 1.0.185) hand that path to
    /// their web-app proxy, which fails offline (the connection closes). `GET /path`, which
    /// they do serve, answering JSON says such a server is up.
    async fn answers_legacy_readiness(&self, client: &reqwest::Client, deadline: Instant) -> bool {
        let answer = client
            .get(format!("{}/path", self.url))
            .basic_auth("opencode", Some(&self.password))
            .timeout(deadline.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(100), LEGACY_PROBE_TIMEOUT))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.is_ok_and(|b| b.get("directory").is_some()),
            _ => false,
        }
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn run_marker(&self) -> &str {
        &self.run_marker
    }

    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    pub fn exit_status(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    /// Sends a signal to the server process only (not its group): what a user's `kill`
    /// does, so the scenario sees how opencode itself handles it.
    pub fn signal(&self, signal: i32) {
        let whose = match self.owner {
            Owner::Handle => None,
            Owner::Run => Some("the server is the run's shared server"),
            Owner::Nobody(_) => Some("the server was not started by the harness"),
        };
        if let Some(whose) = whose {
            self.recorder.record(Observation::Harness {
                message: format!("signal {signal} NOT sent: {whose}"),
            });
            return;
        }
        if !self.has_exited() {
            procs::send_signal(self.pid as i32, signal);
        }
    }

    /// Waits until the server process has exited, up to `timeout`. True if it did.
    pub async fn wait_exit(&self, timeout: Duration) -> bool {
        let mut rx = self.exited.clone();
        let exited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
            .await
            .is_ok();
        exited
    }

    /// SIGTERM to the server's process group, `grace` to exit, then SIGKILL to the group:
    /// how a supervisor stops a server. Processes that left the group (the bash tool's
    /// detached children, servers a plugin launched) are not touched: see `stop`.
    pub async fn stop_group(&mut self, grace: Duration) {
        if !self.owned() {
            return;
        }
        if !self.has_exited() {
            self.recorder.record(Observation::Server(ServerChange::Signalled {
                signal: "TERM (group)".into(),
            }));
            kill_group(self.pid, libc::SIGTERM);
            if !self.wait_exit(grace).await {
                self.recorder.record(Observation::Server(ServerChange::Signalled {
                    signal: "KILL (group)".into(),
                }));
                kill_group(self.pid, libc::SIGKILL);
                self.wait_exit(Duration::from_secs(5)).await;
            }
        }
        kill_group(self.pid, libc::SIGKILL);
    }

    /// `stop_group`, then every process still carrying the run marker is killed by pid.
    /// Returns the pids that had to be killed that way (what the server left behind).
    pub async fn stop(&mut self, grace: Duration) -> Vec<u32> {
        if !self.owned() {
            return vec![];
        }
        self.stop_group(grace).await;
        let marker = self.run_marker.clone();
        let leftovers = tokio::task::spawn_blocking(move || {
            procs::kill_marked(&marker, Duration::from_secs(5))
        })
        .await
        .unwrap_or_default();
        self.forget();
        leftovers
    }

    fn forget(&mut self) {
        self.stopped = true;
        if let Ok(mut l) = LIVE.lock() {
            l.retain(|(pid, _)| *pid != self.pid);
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path, 20)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.stopped && self.owned() {
            kill_group(self.pid, libc::SIGKILL);
            procs::kill_marked(&self.run_marker, Duration::from_secs(2));
            self.forget();
        }
    }
}

/// The version a server that answers only the legacy readiness (`GET /path`) is taken to
/// have: it does not say its own.
pub const LEGACY_VERSION: &str = "unknown (no /global/health)";
/// How long one `GET /path` of the legacy readiness may take.
const LEGACY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET {url}/global/health` with the password: the server's version, or why not.
pub async fn probe_health(url: &str, password: &str, timeout: Duration) -> Result<String, String> {
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/global/health", url.trim_end_matches('/')))
        .basic_auth("opencode", Some(password))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("GET /global/health got no answer ({e}); is the server running at that URL?"))?;
    let status = r.status();
    if status.as_u16() == 401 {
        return Err("GET /global/health answered 401: the server wants a password; pass --password".into());
    }
    if !status.is_success() {
        return Err(format!("GET /global/health answered {status}"));
    }
    let body: serde_json::Value = r.json().await.map_err(|e| format!("GET /global/health did not answer JSON: {e}"))?;
    Ok(body["version"].as_str().unwrap_or("unknown").to_string())
}

fn kill_group(pgid: u32, signal: i32) {
    if pgid > 1 {
        // The group is the one the server was spawned into with process_group(0).
        procs::send_signal(-(pgid as i32), signal);
    }
}

pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

const LISTENING: &str = "opencode server listening on ";

async fn copy_lines<R: tokio::io::AsyncRead + Unpin>(
    stream: Option<R>,
    tag: &str,
    log: ServerLog,
    mut url_tx: Option<oneshot::Sender<String>>,
) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tx) = url_tx.take() {
            match line.find(LISTENING) {
                Some(i) => {
                    let url = line[i + LISTENING.len()..].trim().to_string();
                    let _ = tx.send(url);
                }
                None => url_tx = Some(tx),
            }
        }
        log.write_line(&format!("[{tag}] {line}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_part_waits_for_the_disposal_its_teardown_caused() {
        let dir = tempfile::tempdir().unwrap();
        let log = ServerLog::create(&dir.path().join("server.log"));
        let part = log.copy_part_to(&dir.path().join("a.log")).unwrap();
        log.write_line("[err] message=\"disposing instance\" directory=/earlier\n");
        let before = part.disposals().unwrap();
        assert_eq!(before, 1);
        // Nothing more comes: the wait ends at its deadline, saying so.
        assert!(!part.wait_for_disposal(before, Duration::from_millis(50)).await);
        let writer = log.clone();
        let late = tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.write_line("[err] INFO service=default disposing instance [object Object]\n");
        });
        assert!(part.wait_for_disposal(before, Duration::from_secs(5)).await);
        late.await.unwrap();
        drop(part);
        assert!(std::fs::read_to_string(dir.path().join("a.log")).unwrap().ends_with("[object Object]\n"));
    }

    /// A scenario's part of a shared server's log is the lines written while it played
    /// (and those arriving just after its end): none from before, none from later, none
    /// of the next part's; the whole log keeps them all.
    #[test]
    fn a_log_part_holds_only_the_lines_of_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        let read = |n: &str| std::fs::read_to_string(path(n)).unwrap();
        let log = ServerLog::create(&path("server.log"));
        log.write_line("before\n");
        let first = log.copy_part_to(&path("a.log")).unwrap();
        log.write_line("a 1\n");
        drop(first);
        log.write_line("a, just after its end\n");
        std::thread::sleep(PART_LINGER + Duration::from_millis(50));
        log.write_line("between\n");
        let second = log.copy_part_to(&path("b.log")).unwrap();
        log.write_line("b 1\n");
        let third = log.copy_part_to(&path("c.log")).unwrap();
        drop(second);
        log.write_line("c 1\n");
        drop(third);
        assert_eq!(read("a.log"), "a 1\na, just after its end\n");
        assert_eq!(read("b.log"), "b 1\n");
        assert_eq!(read("c.log"), "c 1\n");
        assert_eq!(
            read("server.log"),
            "before\na 1\na, just after its end\nbetween\nb 1\nc 1\n"
        );
    }
}
