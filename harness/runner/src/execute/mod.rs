//! Runs one scenario on one opencode binary: sandbox + fake model + server, observers
//! started before anything happens, the steps played under the scenario's deadline, a
//! teardown that leaves nothing alive, then the checks over the recorded timeline.

mod source;
mod steps;
mod subscriber;
pub mod wait;

pub use crate::shared_server::SharedServerInfo;
pub use source::ServerSource;
pub use steps::{step_name, StepProblem};

use crate::fake_model::FakeModel;
use crate::observe::{events, http::Api, http::Poller};
use crate::record::Recorder;
use crate::sandbox::{Sandbox, SandboxSpec};
use crate::server::ServerHandle;
use oc_conform_checks::{checks, CheckResult, EventStream, Observation, StepPhase, Timeline, Verdict};
use oc_conform_scenario::{CheckSpec, Scenario, Step};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the teardown waits for the status poller to confirm what the last events
/// announced: its follow-ups up to 400 ms apart (`FOLLOW_UP_MS`), past a lagging status
/// map; a status that stays stuck is judged on what the polls saw by then.
const STATUS_CONFIRM_DEADLINE: Duration = Duration::from_secs(1);

/// How a run observes and stops things. The defaults are what the benchmark settled on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub status_interval: Duration,
    pub process_interval: Duration,
    pub plugin_log_interval: Duration,
    pub start_timeout: Duration,
    pub stop_grace: Duration,
    pub call_timeout: Duration,
    pub keep_sandbox: bool,
    /// Play against a server the harness did not start (`run --server-url`).
    pub attach: Option<AttachTo>,
    /// Where a suite learns that this run waits quietly (none outside a suite).
    pub pace: Option<crate::pace::Pace>,
}

/// A server someone else started. The harness never signals, stops or kills it; each
/// scenario gets its own project directory (with an `opencode.json` pointing at the fake
/// model) through the `x-opencode-directory` header, and its session is deleted after.
#[derive(Debug, Clone)]
pub struct AttachTo {
    pub url: String,
    pub password: String,
    /// The fake model's fixed loopback port (`--model-port`); 0 for any.
    pub model_port: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // The poller also polls at once on every status or permission event.
            status_interval: Duration::from_millis(250),
            process_interval: Duration::from_millis(10),
            plugin_log_interval: Duration::from_millis(20),
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(3),
            call_timeout: Duration::from_secs(30),
            keep_sandbox: false,
            attach: None,
            pace: None,
        }
    }
}

/// What one scenario needs besides the scenario itself.
pub struct Target<'a> {
    pub binary: &'a Path,
    pub version: &'a str,
    /// Where `plugins = [...]` are looked up (`fixtures/plugins`).
    pub plugins_dir: &'a Path,
    /// Where this scenario's artifacts go (timeline, server log, model requests).
    pub artifacts_dir: PathBuf,
}

/// The outcome of one scenario on one version.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    pub scenario: String,
    pub opencode_version: String,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
    /// Why no verdict could be reached, when `verdict` is Error for a reason outside checks.
    pub error: Option<String>,
    /// The scenario's deadline passed (the verdict is Error; the outcome TIMEOUT).
    pub timed_out: bool,
    pub duration_ms: u64,
    pub timeline: Timeline,
    pub artifacts_dir: PathBuf,
}

impl ScenarioOutcome {
    /// An outcome for a run that ended without getting anywhere (the runner itself
    /// failed: a panic, a task that died). Its verdict is Error.
    pub fn harness_failure(scenario: &str, version: &str, artifacts_dir: PathBuf, message: String) -> Self {
        ScenarioOutcome {
            scenario: scenario.to_string(),
            opencode_version: version.to_string(),
            verdict: Verdict::Error,
            checks: vec![],
            error: Some(message),
            timed_out: false,
            duration_ms: 0,
            timeline: Timeline::new(scenario, version),
            artifacts_dir,
        }
    }

    pub fn run_verdict(&self) -> oc_conform_checks::outcome::RunVerdict {
        oc_conform_checks::outcome::RunVerdict {
            verdict: self.verdict,
            failed_checks: self.failed_checks(),
            timed_out: self.timed_out,
        }
    }

    pub fn failed_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .map(|c| c.check.clone())
            .collect()
    }
}

/// The live parts of a running scenario, handed to each step.
pub struct Live {
    pub recorder: Recorder,
    pub api: Api,
    pub server: ServerHandle,
    pub session_id: String,
    pub call_timeout: Duration,
    pub stop_grace: Duration,
    /// Extra project directories played so far (`turns-in-new-directories`).
    pub directories_played: u32,
    /// The sessions `new-session` steps created and no step deleted: name -> id.
    pub sessions: std::collections::BTreeMap<String, String>,
    /// The extra event-stream clients `open-subscriber` steps opened: dropping one
    /// closes its connection.
    pub subscribers: std::collections::BTreeMap<String, subscriber::Subscriber>,
    /// Told of the waits that leave the core free (`crate::pace`).
    pub pace: Option<crate::pace::Pace>,
}

/// Plays `scenario` on the server `settings` ask for: the user's (`attach`) or its own.
pub async fn run_scenario(scenario: &Scenario, target: &Target<'_>, settings: &Settings) -> ScenarioOutcome {
    run_scenario_on(scenario, target, settings, &ServerSource::from_settings(settings)).await
}

/// Plays `scenario` on the server `source` gives. A scenario that needs what that mode
/// does not offer (see `oc_conform_scenario::requirements`) is not played at all: ERROR,
/// with the reasons.
pub async fn run_scenario_on(
    scenario: &Scenario,
    target: &Target<'_>,
    settings: &Settings,
    source: &ServerSource,
) -> ScenarioOutcome {
    let mode = source.mode();
    let unmet = oc_conform_scenario::unmet(mode, scenario);
    if !unmet.is_empty() {
        return ScenarioOutcome::harness_failure(
            &scenario.name,
            target.version,
            target.artifacts_dir.clone(),
            format!("not played on {}: {}", mode.describe(), unmet.join("; ")),
        );
    }
    let started = Instant::now();
    let recorder = Recorder::new(&scenario.name, target.version);
    // What could not be written: the reports would link files that do not exist, so the
    // run cannot stand behind a verdict (ERROR, with the reason).
    let mut artifact_errors: Vec<String> = Vec::new();
    let mut note = |r: std::io::Result<()>, what: &Path| {
        if let Err(e) = r {
            artifact_errors.push(format!("cannot write {}: {e}", what.display()));
        }
    };
    note(std::fs::create_dir_all(&target.artifacts_dir), &target.artifacts_dir);
    let deadline = Duration::from_millis(scenario.deadline_ms);

    let mut step_results: Vec<CheckResult> = Vec::new();
    let mut error: Option<String> = None;
    let mut timed_out = false;
    let fake = match FakeModel::start_on(source.model_port(), scenario.model.clone(), recorder.clone()).await {
        Ok(f) => Some(f),
        Err(e) => {
            error = Some(format!("cannot start the fake model: {e}"));
            None
        }
    };

    if let Some(fake) = &fake {
        let playing = play(scenario, target, settings, source, &recorder, fake, &mut step_results);
        match tokio::time::timeout(deadline, playing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error = Some(e),
            Err(_) => {
                timed_out = true;
                let at = recorder.with(|t| {
                    t.entries.iter().rev().find_map(|e| match &e.obs {
                        Observation::Step { index, name, .. } => Some(format!("step {} ({name})", index + 1)),
                        _ => None,
                    })
                });
                error = Some(format!(
                    "the scenario's deadline of {} ms passed during {}",
                    scenario.deadline_ms,
                    at.unwrap_or_else(|| "setup".into())
                ));
            }
        }
        // play() owns the server; a deadline drops it mid-step, and the handle's Drop has
        // killed the group and the run's marked processes by now.
        let path = target.artifacts_dir.join("model-requests.jsonl");
        note(
            write_lines(&path, fake.requests().iter().map(|r| serde_json::to_value(r).unwrap_or_default())),
            &path,
        );
    }
    if let Some(fake) = fake {
        fake.shutdown().await;
    }

    let timeline = recorder.snapshot();
    let path = target.artifacts_dir.join("timeline.json");
    note(write_json(&path, &timeline), &path);
    // Step expectations cannot be re-played from the timeline; `analyze` reads them here.
    let path = target.artifacts_dir.join("steps.json");
    note(write_json(&path, &step_results), &path);
    if !artifact_errors.is_empty() {
        let what = artifact_errors.join("; ");
        error = Some(match error {
            Some(e) => format!("{e}\n{what}"),
            None => what,
        });
    }
    let mut results = step_results;
    if error.is_none() {
        results.extend(checks::run_all(&scenario.checks, &timeline));
    }
    let verdict = if error.is_some() {
        Verdict::Error
    } else {
        oc_conform_checks::combine(&results)
    };
    ScenarioOutcome {
        scenario: scenario.name.clone(),
        opencode_version: target.version.to_string(),
        verdict,
        checks: results,
        error,
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        timeline,
        artifacts_dir: target.artifacts_dir.clone(),
    }
}

/// Steps after which an event stream may end without anything being wrong: the server
/// is being signalled or stopped, or its instances disposed (as its requirements say).
fn ends_streams(step: &Step) -> bool {
    use oc_conform_scenario::Capability as C;
    oc_conform_scenario::requirements::required_by_step(step)
        .iter()
        .any(|r| matches!(r.capability, C::Signal | C::Stop | C::GlobalDispose | C::InstanceDispose))
}

/// Whether the scenario involves permissions, so `GET /permission` is worth polling.
fn uses_permissions(s: &Scenario) -> bool {
    s.opencode_config.contains_key("permission")
        || s.steps.iter().any(|st| matches!(st, Step::PermissionReply { .. }))
        || s
            .checks
            .iter()
            .any(|c| matches!(c, CheckSpec::PermissionReplyTakesEffect { .. }))
}

/// Set up, play the steps, tear down. Returns Err with the reason when the scenario could
/// not be played (no verdict); step problems land in `step_results`.
async fn play(
    scenario: &Scenario,
    target: &Target<'_>,
    settings: &Settings,
    source: &ServerSource,
    rec: &Recorder,
    fake: &FakeModel,
    step_results: &mut Vec<CheckResult>,
) -> Result<(), String> {
    let plugins: Vec<PathBuf> = scenario
        .plugins
        .iter()
        .map(|p| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                target.plugins_dir.join(p)
            }
        })
        .collect();
    let sandbox = Sandbox::create(&SandboxSpec {
        model_base_url: fake.base_url(),
        plugins,
        plugin_lib: Some(target.plugins_dir.join("lib")),
        opencode_config: scenario.opencode_config.clone(),
        env: scenario.env.clone(),
        plugin_params: scenario.plugin_params.clone(),
        label: scenario.name.clone(),
    })
    .map_err(|e| e.to_string())?;
    let directory = sandbox.project.display().to_string();
    rec.update(|t| t.directory = Some(directory.clone()));
    // The observation ends when `cancel` fires, at teardown or when play() ends another way.
    let cancel = CancellationToken::new();
    // Declared after the sandbox, so dropped before it: whatever way play() ends (a
    // deadline drops it mid-step), what the mode must undo is undone while the project
    // directory still exists.
    let on = source.connect(target, settings, &sandbox, rec, &cancel, scenario.port_4096).await?;
    let (server, teardown) = (on.server, on.teardown);
    let _stop_observers = cancel.clone().drop_guard();
    let api = Api::new(&server.url, server.password(), &directory);
    let procs_task = on
        .sampler
        .map(|s| tokio::spawn(s.run(rec.clone(), settings.process_interval, cancel.clone())));
    if let Some(log) = on.plugin_log {
        tokio::spawn(log.run(rec.clone(), settings.plugin_log_interval, cancel.clone()));
    }

    // Subscribe to both streams and see `server.connected` on each before acting, so no
    // event of the scenario can be missed (upstream #27959).
    let watch = events::StreamWatch::new(
        std::env::var("OC_CONFORM_FAULT_DROP_EVENTS_IN").is_ok_and(|s| s == scenario.name),
    );
    let mut connected = Vec::new();
    for (stream, path) in [
        (EventStream::Global, "/global/event".to_string()),
        (EventStream::Directory, format!("/event?directory={}", directory)),
    ] {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(events::observe_path(
            api.clone(),
            stream,
            path,
            rec.clone(),
            tx,
            cancel.clone(),
            watch.clone(),
        ));
        connected.push((stream, rx));
    }
    for (stream, rx) in connected {
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(())) => {}
            _ if stream == EventStream::Directory => {
                rec.record(Observation::Harness {
                    message: "the per-directory /event stream sent no server.connected within 10 s".into(),
                });
            }
            _ => return Err("GET /global/event sent no server.connected within 10 s".into()),
        }
    }

    let created = api
        .call(rec, None, "POST", "/session", Some(&json!({})), settings.call_timeout)
        .await;
    let session_id = created.body["id"].as_str().map(str::to_string).ok_or_else(|| {
        format!(
            "POST /session did not create a session: {} {}",
            created.status,
            created.error.clone().unwrap_or_else(|| steps::truncate(&created.body.to_string(), 300))
        )
    })?;
    rec.update(|t| t.session_id = Some(session_id.clone()));
    let (confirmed, mut status_confirmed) = tokio::sync::watch::channel(0);
    tokio::spawn(
        Poller {
            api: api.clone(),
            sessions: vec![session_id.clone()],
            permissions: uses_permissions(scenario),
            interval: settings.status_interval,
            confirmed,
        }
        .run(rec.clone(), cancel.clone()),
    );

    let mut live = Live {
        recorder: rec.clone(),
        api: api.clone(),
        server,
        session_id: session_id.clone(),
        call_timeout: settings.call_timeout,
        stop_grace: settings.stop_grace,
        directories_played: 0,
        sessions: Default::default(),
        subscribers: Default::default(),
        pace: settings.pace.clone(),
    };

    // Fault injection for the harness's own tests: a runner bug (a panic) while a server
    // and a tool are alive must still leave nothing behind and report ERROR.
    if std::env::var("OC_CONFORM_FAULT_PANIC_IN").is_ok_and(|s| s == scenario.name) {
        panic!("injected by OC_CONFORM_FAULT_PANIC_IN");
    }

    let mut since = 0;
    let mut problem: Option<String> = None;
    for (i, step) in scenario.steps.iter().enumerate() {
        if !matches!(step, Step::Wait { .. }) {
            since = rec.with(|t| t.entries.len() as u64);
        }
        if ends_streams(step) {
            watch.expect_end();
        }
        let played = tokio::select! {
            r = steps::play(&mut live, i, step, since) => r,
            // The server closing /global/event is for the checks to judge: no error.
            why = watch.lost() => match watch.lost_by_server() {
                true => break,
                false => Err(StepProblem::Error(why)),
            },
        };
        match played {
            Ok(()) => {}
            Err(StepProblem::Fail(m)) => {
                step_results.push(CheckResult::fail(&format!("step-{}", i + 1), m, vec![]));
            }
            Err(StepProblem::Error(m)) => {
                problem = Some(format!("step {} ({}): {m}", i + 1, step_name(step)));
                break;
            }
        }
    }

    // A server that died under the scenario is the cause, whatever step noticed it. A
    // refused connection can be seen before the exit is: give the exit a moment to show.
    if problem.is_some() {
        live.server.wait_exit(Duration::from_secs(1)).await;
    }
    if let Some(p) = problem.as_mut() {
        match live.server.exit_status() {
            Some(status) => p.push_str(&format!(
                "\nthe server had exited ({status}); last log lines:\n{}",
                live.server.log_tail()
            )),
            None if watch.is_lost() && !live.server.log_path().as_os_str().is_empty() => {
                p.push_str(&format!("\nlast log lines:\n{}", live.server.log_tail()))
            }
            None => {}
        }
    }

    // Teardown: the stored messages (the server's own account of the turn), then stop.
    let played = rec.with(|t| t.entries.len());
    rec.record(Observation::Step {
        index: scenario.steps.len(),
        name: "teardown".into(),
        phase: StepPhase::Started,
        note: None,
    });
    if !live.server.has_exited() {
        let path = format!("/session/{session_id}/message");
        api.call(rec, None, "GET", &path, None, Duration::from_secs(10)).await;
    }
    // The status the last events announced, as a poll saw it: a run whose last step is
    // an idle event would otherwise end with that poll in flight, and the status checks
    // see only the busy before it (1.14.48, model-http-500-retried, under load).
    let _ = tokio::time::timeout(STATUS_CONFIRM_DEADLINE, status_confirmed.wait_for(|&n| n >= played)).await;
    // The observation ends here, as a server of the scenario's own would be stopped here:
    // what the clean-up below does to a server it does not own (the session deleted,
    // the instance disposed: status turns idle) is not the scenario's to be judged on.
    cancel.cancel();
    live.subscribers.clear();
    // Sessions the steps created and left: not the server's to keep (an attached server
    // outlives the run). The observation is over, so nothing here is judged.
    for (_, sid) in std::mem::take(&mut live.sessions) {
        api.call(rec, None, "DELETE", &format!("/session/{sid}"), None, Duration::from_secs(10)).await;
    }
    let left = teardown
        .finish(&mut live.server, &api, rec, &session_id, settings.stop_grace)
        .await;
    if !left.is_empty() {
        rec.record(Observation::TeardownKilled { pids: left });
    }
    if let Some(task) = procs_task {
        let _ = task.await;
    }
    if settings.keep_sandbox {
        let kept = sandbox.keep();
        rec.record(Observation::Harness {
            message: format!("sandbox kept at {}", kept.display()),
        });
    }
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

fn write_lines(path: &Path, values: impl Iterator<Item = serde_json::Value>) -> std::io::Result<()> {
    let text: String = values.map(|v| format!("{v}\n")).collect();
    std::fs::write(path, text)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)
}

#[cfg(test)]
mod tests;
