//! What `oc-conform check-plugin` concludes about a plugin, from the timelines of the
//! scenarios it ran with the plugin installed (through the wrapper of [`crate::plugin_wrap`])
//! and, per version, once without it (the baseline). Pure functions over timelines and
//! cell reports; the CLI runs the scenarios and writes `plugin-report.json` / `.md`.

use crate::hook_names;
use crate::plugin_tools::{self, CallOutcome, ToolCall};
use crate::plugin_wrap::{self, PluginKind};
use crate::report::CellReport;
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::{wire, EventStream, Observation, ProcessChange, StepPhase, Timeline, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub const PLUGIN_REPORT_FORMAT_VERSION: u32 = 1;

/// Hooks a range of releases never calls, however a plugin registers them: (hook, first
/// release, last release measured, why). Measured with the `permission-ask-hook`
/// scenario (its fixture plugin `fixtures/plugins/permission-ask-deny.js` registers
/// `permission.ask`; 3 runs each on 1.14.48, 1.15.13, 1.17.18 and 1.18.34, see
/// `scenarios/expectations.toml`): the hook was registered and loaded, a permission was
/// asked and replied, and the hook was never called. A release outside every range is
/// not assumed either way: the hook is then "never reached by these scenarios".
pub const NOT_CALLED_BY_RELEASE: &[(&str, &str, &str, &str)] = &[(
    "permission.ask",
    "1.15.13",
    "1.18.34",
    "declared in @opencode-ai/plugin but not called (upstream #7006, #9229; measured on 1.15.13 and 1.18.34 with a permission asked and replied)",
)];

/// Why `version` never calls `hook`, when a measured range of [`NOT_CALLED_BY_RELEASE`]
/// holds it.
pub fn not_called_by(version: &str, hook: &str) -> Option<&'static str> {
    let v = semver::Version::parse(version).ok()?;
    NOT_CALLED_BY_RELEASE.iter().find_map(|(h, from, to, why)| {
        let (from, to) = (semver::Version::parse(from).ok()?, semver::Version::parse(to).ok()?);
        (*h == hook && from <= v && v <= to).then_some(*why)
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// An `event` hook whose synchronous part takes longer blocks the server.
    pub event_block_ms: f64,
    /// Any other hook taking longer (in total) is reported as slow; not a custom tool,
    /// whose time is judged by the tool deadline.
    pub slow_hook_ms: f64,
    /// A turn is "measurably slower" with the plugin when it takes longer than
    /// `baseline * slower_factor + slower_ms`.
    pub slower_factor: f64,
    pub slower_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            event_block_ms: 100.0,
            slow_hook_ms: 1000.0,
            slower_factor: 1.5,
            slower_ms: 500.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The plugin did something wrong: exit code 1.
    Problem,
    /// No verdict could be reached (the harness, the machine, upstream): exit code 2.
    Infra,
    /// Worth knowing; does not fail the check.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Problem => "PROBLEM",
            Severity::Infra => "NO-VERDICT",
            Severity::Warning => "WARNING",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name: `load-error`, `scenario-fails`, `event-hook-blocks`, `leaked-process`,
    /// `hook-never-called`, `hook-threw`, `hook-blocks`, `slow-hook`, `slower-turn`,
    /// `fails-without-plugin`, `not-reproduced`, `not-a-hook`, `no-verdict`.
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookStats {
    pub hook: String,
    pub calls: usize,
    pub max_ms: f64,
    pub p95_ms: f64,
    /// The synchronous part of a call: the time the server's event loop was held.
    pub max_sync_ms: f64,
    pub p95_sync_ms: f64,
    pub threw: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_throw: Option<String>,
    /// The scenarios in which it was called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<String>,
}

/// One row of the hook coverage table: a hook the plugin registered, and whether and
/// where the scenarios reached it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookCoverage {
    pub hook: String,
    /// `called`, `not called by this release` (see [`NOT_CALLED_BY_RELEASE`]) or
    /// `never reached by these scenarios`.
    pub status: String,
    pub scenarios: Vec<String>,
    pub calls: usize,
    pub max_ms: f64,
    pub p95_ms: f64,
    pub threw: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub scenario: String,
    /// A core scenario (has a baseline), or one of the author's (`--scenarios`).
    pub core: bool,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_outcome: Option<String>,
    /// The baseline was taken from the cache of an earlier check (same release, scenario,
    /// fixtures and harness).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline_cached: bool,
    pub failed_checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the first prompt or command to the session's first idle event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_turn_ms: Option<f64>,
    /// Failing here and not without the plugin: the plugin's fault.
    pub plugin_fault: bool,
    /// The run's artifacts, relative to the report dir.
    pub artifacts: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    pub scenario: String,
    pub pid: u32,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionReport {
    pub opencode_version: String,
    pub loaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
    pub hooks_registered: Vec<String>,
    /// Non-function entries of the hooks object (`auth`, `provider`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_registered: Vec<String>,
    pub hooks: Vec<HookStats>,
    pub never_called: Vec<String>,
    /// Every registered hook, called or not, with the scenarios that reached it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<HookCoverage>,
    /// Each call of a custom tool with generated arguments, and what came of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub scenarios: Vec<ScenarioSummary>,
    pub leaks: Vec<Leak>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub source: String,
    pub kind: PluginKind,
    pub name: String,
    pub entry: String,
    pub dependencies: Vec<String>,
    /// Where installing the dependencies deviated from npm's strict defaults, to load what
    /// opencode's own installer would (peers resolved leniently, an unavailable pinned
    /// `@opencode-ai/*` package replaced by the release's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install_deviations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginReport {
    pub format_version: u32,
    pub tool: String,
    pub started_at: String,
    pub finished_at: String,
    pub plugin: PluginInfo,
    /// `ok`, `problems` or `no-verdict`.
    pub verdict: String,
    pub thresholds: BTreeMap<String, f64>,
    pub versions: Vec<VersionReport>,
}

/// One scenario on one version: its cell with the plugin installed and, for core
/// scenarios, without (each with its first run's timeline, when it could be read).
pub struct ScenarioInput {
    pub scenario: String,
    pub core: bool,
    pub with_plugin: (CellReport, Option<Timeline>),
    pub baseline: Option<(CellReport, Option<Timeline>)>,
    /// Turn times (with the plugin, without it) from a second, sequential run of both,
    /// made when the first pair looked slower: one pair of turns on a loaded 2-core
    /// machine differs by 2x from noise alone, so a warning needs the slowdown twice.
    pub remeasured_turns: Option<(Option<f64>, Option<f64>)>,
    /// Outcomes (with the plugin, without it) of that second, sequential run, also made
    /// when the plugin's cell reached no verdict (TIMEOUT, ERROR) where the baseline
    /// passed: with no witness, only a replay can tell the plugin from a loaded machine.
    pub replayed: Option<(Outcome, Outcome)>,
    /// The baseline came from the baseline cache (an earlier check's run).
    pub baseline_cached: bool,
}

impl Thresholds {
    /// Whether a turn of `with` ms is measurably slower than a baseline of `without` ms.
    pub fn is_slower(&self, with: f64, without: f64) -> bool {
        with > without * self.slower_factor + self.slower_ms
    }
}

impl PluginReport {
    pub fn findings(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.versions
            .iter()
            .flat_map(|v| v.findings.iter().map(move |f| (v.opencode_version.as_str(), f)))
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings().filter(|(_, f)| f.severity == s).count()
    }

    /// `ok`, `problems` (something is the plugin's fault) or `no-verdict`.
    pub fn overall(versions: &[VersionReport]) -> &'static str {
        let all = || versions.iter().flat_map(|v| &v.findings);
        if all().any(|f| f.severity == Severity::Problem) {
            "problems"
        } else if all().any(|f| f.severity == Severity::Infra) {
            "no-verdict"
        } else {
            "ok"
        }
    }
}

fn wrapper_records(t: &Timeline) -> impl Iterator<Item = &Value> {
    t.entries.iter().filter_map(|e| match &e.obs {
        Observation::Plugin { record } if record["plugin"] == plugin_wrap::RECORD_PLUGIN => Some(record),
        _ => None,
    })
}

fn error_text(e: &Value) -> String {
    let name = e["name"].as_str().unwrap_or("");
    let msg = e["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string());
    if name.is_empty() {
        msg
    } else {
        format!("{name}: {msg}")
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Per-hook call statistics from the wrapper's `hook` records.
pub fn hook_stats<'a>(timelines: impl Iterator<Item = &'a Timeline>) -> Vec<HookStats> {
    #[derive(Default)]
    struct Acc {
        ms: Vec<f64>,
        sync: Vec<f64>,
        threw: usize,
        first: Option<String>,
        scenarios: Vec<String>,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for t in timelines {
        for r in wrapper_records(t).filter(|r| r["event"] == "hook") {
            let Some(hook) = r["hook"].as_str() else { continue };
            let a = by.entry(hook.to_string()).or_default();
            if !a.scenarios.contains(&t.scenario) {
                a.scenarios.push(t.scenario.clone());
            }
            a.ms.push(r["ms"].as_f64().unwrap_or(0.0));
            a.sync.push(r["sync_ms"].as_f64().unwrap_or(0.0));
            if !r["threw"].is_null() {
                a.threw += 1;
                a.first.get_or_insert_with(|| error_text(&r["threw"]));
            }
        }
    }
    by.into_iter()
        .map(|(hook, mut a)| {
            a.ms.sort_by(f64::total_cmp);
            a.sync.sort_by(f64::total_cmp);
            HookStats {
                hook,
                calls: a.ms.len(),
                max_ms: round1(a.ms.last().copied().unwrap_or(0.0)),
                p95_ms: round1(percentile(&a.ms, 95.0)),
                max_sync_ms: round1(a.sync.last().copied().unwrap_or(0.0)),
                p95_sync_ms: round1(percentile(&a.sync, 95.0)),
                threw: a.threw,
                first_throw: a.first,
                scenarios: a.scenarios,
            }
        })
        .collect()
}

/// What the wrapper said about loading: (hooks, values, load error), over every run.
/// Of the keys `not_hooks`, which export returned which, and whether that export returned
/// no hook at all (a helper function exported beside the plugin, called as one at load).
fn not_hook_keys<'a>(
    timelines: impl Iterator<Item = &'a Timeline>,
    not_hooks: &[String],
) -> Vec<(String, Vec<String>, bool)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, bool)> = BTreeMap::new();
    for t in timelines {
        for r in wrapper_records(t) {
            if r["event"].as_str() != Some("loaded") {
                continue;
            }
            for (export, keys) in r["returned"].as_object().into_iter().flatten() {
                let keys: Vec<&str> = keys.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let odd: Vec<&str> = keys.iter().copied().filter(|k| not_hooks.iter().any(|n| n == k)).collect();
                if odd.is_empty() {
                    continue;
                }
                let helper = keys.iter().all(|k| !hook_names::is_hook_name(k) && *k != "tool");
                let entry = out.entry(export.clone()).or_default();
                // A helper's whole answer is named (opencode-wakatime 1.3.9's
                // `resolveProjectFolder` returns the plugin context): its function-valued
                // keys alone ("only `$`") read as if they were all it returned.
                let said = if helper { keys } else { odd };
                entry.0.extend(said.into_iter().map(str::to_string));
                entry.1 = helper;
            }
        }
    }
    out.into_iter().map(|(e, (keys, helper))| (e, keys.into_iter().collect(), helper)).collect()
}

fn load_status<'a>(
    timelines: impl Iterator<Item = &'a Timeline> + Clone,
) -> (Vec<String>, Vec<String>, Option<String>, bool) {
    let mut hooks = BTreeSet::new();
    let mut values = BTreeSet::new();
    let mut error = None;
    let mut loaded_seen = false;
    for t in timelines.clone() {
        for r in wrapper_records(t) {
            match r["event"].as_str() {
                Some("loaded") => {
                    loaded_seen = true;
                    for h in r["hooks"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        hooks.insert(h.to_string());
                    }
                    for h in r["values"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        values.insert(h.to_string());
                    }
                }
                Some("load-failed") if error.is_none() => {
                    let stage = r["stage"].as_str().unwrap_or("load");
                    let export = r["export"]
                        .as_str()
                        .map(|e| format!(" (export `{e}`)"))
                        .unwrap_or_default();
                    let what = match stage {
                        "import" => "importing the module threw",
                        "init" => "the plugin function threw",
                        "exports" => "its exports are not plugin functions",
                        _ => "it failed to load",
                    };
                    error = Some(format!("{what}{export}: {}", error_text(&r["error"])));
                }
                _ => {}
            }
        }
    }
    // opencode reports a plugin file it could not load as a session.error.
    if error.is_none() {
        for t in timelines {
            let stem = plugin_wrap::WRAPPER_FILE.trim_end_matches(".js");
            let failed_load = t.events(EventStream::Global).find_map(|(_, ty, p)| match wire::decode(ty, p) {
                wire::Event::SessionError(err) if p.to_string().contains(stem) => Some(err),
                _ => None,
            });
            if let Some(err) = failed_load {
                let msg = err.message.unwrap_or_default();
                error = Some(format!("opencode published session.error: {msg}"));
                break;
            }
        }
    }
    (
        hooks.into_iter().collect(),
        values.into_iter().collect(),
        error,
        loaded_seen,
    )
}

/// The hooks the wrapper says the plugin registered in this run (`tool:<name>` for a
/// custom tool).
pub fn registered_hooks(t: &Timeline) -> Vec<String> {
    load_status(std::iter::once(t)).0
}

/// The tools the server listed, with their schemas, when the run asked
/// ([`plugin_tools::TOOL_LIST_PATH`]); `None` when it did not or got no list.
pub fn listed_tools(t: &Timeline) -> Option<Vec<wire::ToolInfo>> {
    t.entries.iter().find_map(|e| match &e.obs {
        Observation::Http { path, status: 200, body, .. } if path == plugin_tools::TOOL_LIST_PATH => wire::tool_list(body),
        _ => None,
    })
}

/// An idle event (`session.status` idle or `session.idle`) on the global stream, of
/// `session` or of no session in particular.
pub fn is_idle_event(obs: &Observation, session: Option<&str>) -> bool {
    match obs {
        Observation::Event {
            stream: EventStream::Global,
            event_type,
            session_id,
            properties,
        } => {
            let ours = session_id.is_none() || session_id.as_deref() == session;
            ours && wire::decode(event_type, properties).busy() == Some(false)
        }
        _ => false,
    }
}

/// From the first prompt or command step to the session's first idle event after it.
pub fn turn_ms(t: &Timeline) -> Option<f64> {
    let start = t.entries.iter().find(|e| {
        matches!(&e.obs, Observation::Step { name, phase: StepPhase::Started, .. }
            if name == "prompt" || name.starts_with("command "))
    })?;
    let session = t.session_id.as_deref();
    let idle = t
        .entries
        .iter()
        .skip(start.seq as usize)
        .find(|e| is_idle_event(&e.obs, session))?;
    Some(round1(idle.at_ms - start.at_ms))
}

/// Processes teardown had to kill (they outlived the server), with their command lines
/// as the process observer saw them.
pub fn leftovers(t: &Timeline) -> Vec<(u32, String)> {
    let mut cmdlines: BTreeMap<u32, String> = BTreeMap::new();
    for e in &t.entries {
        match &e.obs {
            Observation::Process(ProcessChange::Appeared(p)) => {
                cmdlines.insert(p.pid, p.cmdline.clone());
            }
            Observation::Process(ProcessChange::Exec { pid, cmdline, .. }) => {
                cmdlines.insert(*pid, cmdline.clone());
            }
            _ => {}
        }
    }
    t.entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::TeardownKilled { pids } => Some(pids.iter().copied()),
            _ => None,
        })
        .flatten()
        .map(|pid| {
            let cmd = cmdlines
                .get(&pid)
                .cloned()
                .unwrap_or_else(|| "(command line not seen)".into());
            (pid, cmd)
        })
        .collect()
}

pub fn expected(c: &CellReport) -> bool {
    c.outcome.is_expected(c.flaky_declared())
}

/// The `scenario-fails` message: not as expected with the plugin, as expected without it
/// (`again`: what a replay of the pair confirmed, or empty).
fn fails_with_plugin(scenario: &str, cell: &CellReport, base: &CellReport, again: &str) -> String {
    format!(
        "{scenario} is {} with the plugin installed and {} without it{again}: {}",
        cell.outcome.as_str(),
        base.outcome.as_str(),
        why(cell)
    )
}

fn why(c: &CellReport) -> String {
    if let Some(e) = &c.error {
        return e.lines().next().unwrap_or_default().to_string();
    }
    let failed: Vec<String> = c
        .checks
        .iter()
        .filter(|x| x.verdict != Verdict::Pass)
        .map(|x| format!("{}: {}", x.check, x.message))
        .collect();
    if failed.is_empty() {
        c.failed_checks.join(", ")
    } else {
        failed.join("; ")
    }
}

fn ms_text(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// Judges the plugin on one version.
pub fn analyze_version(version: &str, inputs: &[ScenarioInput], th: &Thresholds) -> VersionReport {
    let with_timelines = || inputs.iter().filter_map(|i| i.with_plugin.1.as_ref());
    let mut findings: Vec<Finding> = Vec::new();
    let mut add = |severity, kind: &str, message: String| {
        findings.push(Finding {
            severity,
            kind: kind.to_string(),
            message,
        })
    };

    // Loaded?
    let (hooks_registered, values_registered, load_error, loaded_seen) = load_status(with_timelines());
    // A key that is no hook name is never called: say where it came from, not "never called".
    let (hooks_registered, not_hooks): (Vec<String>, Vec<String>) =
        hooks_registered.into_iter().partition(|h| hook_names::is_hook_name(h));
    for (export, keys, helper) in not_hook_keys(with_timelines(), &not_hooks) {
        let keys = code_list(&keys);
        let message = if helper {
            format!(
                "export `{export}` is called by opencode as a plugin when the module loads (every function a plugin module exports is), and returned no hook, only {keys}: none of it is ever called. Export only plugin functions from the plugin's entry module"
            )
        } else {
            format!("export `{export}` returned {keys}, which opencode never calls: no hook has that name (a typo?)")
        };
        add(Severity::Warning, "not-a-hook", message);
    }
    let any_server = with_timelines().any(|t| {
        t.entries.iter().any(|e| {
            matches!(
                e.obs,
                Observation::Server(oc_conform_checks::ServerChange::Healthy { .. })
            )
        })
    });
    let load_error = load_error.or_else(|| {
        (any_server && !loaded_seen).then(|| {
            "the wrapper never reported: opencode did not load the plugin file (see the runs' server.log)".to_string()
        })
    });
    let loaded = load_error.is_none() && loaded_seen;
    if let Some(e) = &load_error {
        add(
            Severity::Problem,
            "load-error",
            format!("the plugin did not load on {version}: {e}"),
        );
    }

    // Scenarios.
    let mut scenarios = Vec::new();
    for i in inputs {
        let (cell, tl) = &i.with_plugin;
        let base = i.baseline.as_ref();
        let turn = tl.as_ref().and_then(turn_ms);
        let base_turn = base.and_then(|(_, t)| t.as_ref()).and_then(turn_ms);
        let mut plugin_fault = false;
        if !expected(cell) {
            match base {
                // No witness (TIMEOUT, ERROR) and played again: the replay decides.
                Some((b, _)) if expected(b) && cell.verdict == Verdict::Error && i.replayed.is_some() => {
                    let (again, again_without) = i.replayed.expect("matched as Some");
                    let pass_again = again.is_expected(cell.flaky_declared());
                    let base_again = again_without.is_expected(b.flaky_declared());
                    if !pass_again && base_again {
                        plugin_fault = true;
                        let again = format!(
                            ", and again {} and {} when played once more, one at a time",
                            again.as_str(),
                            again_without.as_str()
                        );
                        add(Severity::Problem, "scenario-fails", fails_with_plugin(&i.scenario, cell, b, &again));
                    } else if pass_again {
                        add(
                            Severity::Warning,
                            "not-reproduced",
                            format!(
                                "{} was {} with the plugin installed ({}), but {} when played once more, one at a time: not confirmed as the plugin's fault (a loaded machine does this too)",
                                i.scenario,
                                cell.outcome.as_str(),
                                why(cell),
                                again.as_str()
                            ),
                        );
                    } else {
                        add(
                            Severity::Infra,
                            "no-verdict",
                            format!(
                                "{} was {} with the plugin installed, and played once more it was {} with and {} without the plugin: no comparison to judge by",
                                i.scenario,
                                cell.outcome.as_str(),
                                again.as_str(),
                                again_without.as_str()
                            ),
                        );
                    }
                }
                Some((b, _)) if expected(b) => {
                    plugin_fault = true;
                    add(Severity::Problem, "scenario-fails", fails_with_plugin(&i.scenario, cell, b, ""));
                }
                Some((b, _)) if b.verdict == Verdict::Error => add(
                    Severity::Infra,
                    "no-verdict",
                    format!(
                        "{} reached no verdict even without the plugin ({}): {}",
                        i.scenario,
                        b.outcome.as_str(),
                        why(b)
                    ),
                ),
                Some((b, _)) => add(
                    Severity::Warning,
                    "fails-without-plugin",
                    format!(
                        "{} is {} without the plugin too ({}): not the plugin's fault",
                        i.scenario,
                        b.outcome.as_str(),
                        why(b)
                    ),
                ),
                None if i.core && cell.verdict == Verdict::Error && cell.outcome != Outcome::Timeout => add(
                    Severity::Infra,
                    "no-verdict",
                    format!(
                        "{} reached no verdict with the plugin installed (no baseline to compare): {}",
                        i.scenario,
                        why(cell)
                    ),
                ),
                None => {
                    plugin_fault = true;
                    let whose = if i.core {
                        "expected to pass on this version"
                    } else if i.scenario == plugin_tools::SCENARIO {
                        "check-plugin's calls of the plugin's custom tools"
                    } else {
                        "your scenario"
                    };
                    add(
                        Severity::Problem,
                        "scenario-fails",
                        format!(
                            "{} is {} with the plugin installed ({whose}): {}",
                            i.scenario,
                            cell.outcome.as_str(),
                            why(cell)
                        ),
                    );
                }
            }
        }
        if let (Some(t), Some(b)) = (turn, base_turn) {
            let again = match i.remeasured_turns {
                None => Some(None),
                Some((Some(t2), Some(b2))) if th.is_slower(t2, b2) => Some(Some((t2, b2))),
                Some(_) => None,
            };
            if let (true, Some(again)) = (th.is_slower(t, b), again) {
                let again = again
                    .map(|(t2, b2)| format!(" (measured again: {} and {})", ms_text(t2), ms_text(b2)))
                    .unwrap_or_default();
                add(
                    Severity::Warning,
                    "slower-turn",
                    format!(
                        "the turn of {} took {} with the plugin and {} without it{again}",
                        i.scenario,
                        ms_text(t),
                        ms_text(b)
                    ),
                );
            }
        }
        scenarios.push(ScenarioSummary {
            scenario: i.scenario.clone(),
            core: i.core,
            outcome: cell.outcome.as_str().to_string(),
            baseline_outcome: base.map(|(b, _)| b.outcome.as_str().to_string()),
            baseline_cached: base.is_some() && i.baseline_cached,
            failed_checks: cell.failed_checks.clone(),
            error: cell.error.clone(),
            turn_ms: turn,
            baseline_turn_ms: base_turn,
            plugin_fault,
            artifacts: cell.artifacts.dir.clone(),
        });
    }

    // Hooks.
    let hooks = hook_stats(with_timelines());
    for h in &hooks {
        if h.hook == "event" && h.max_sync_ms > th.event_block_ms {
            add(
                Severity::Problem,
                "event-hook-blocks",
                format!(
                    "the `event` hook blocked the server for up to {} in one call (p95 {}, {} calls; limit {}): opencode calls it on the server's only thread for every event, so HTTP answers, event streams and tools all wait",
                    ms_text(h.max_sync_ms),
                    ms_text(h.p95_sync_ms),
                    h.calls,
                    ms_text(th.event_block_ms)
                ),
            );
        } else if h.max_sync_ms > th.event_block_ms {
            add(
                Severity::Warning,
                "hook-blocks",
                format!(
                    "`{}` blocked the server for up to {} in one call (p95 {}, {} calls)",
                    h.hook,
                    ms_text(h.max_sync_ms),
                    ms_text(h.p95_sync_ms),
                    h.calls
                ),
            );
        } else if h.hook != "event" && !h.hook.starts_with("tool:") && h.max_ms > th.slow_hook_ms {
            // A custom tool is work the model asked for and opencode waits for it by design:
            // its time is judged against the tool deadline (`tool-hangs`), not as a slow
            // hook (opencode-pty 0.1.3's `pty_spawn` took 1.2 s on a loaded machine on
            // 1.18.34 and 191 ms on 1.17.18: a warning that said nothing about the plugin).
            add(
                Severity::Warning,
                "slow-hook",
                format!(
                    "`{}` took up to {} (p95 {}, {} calls); opencode waits for it",
                    h.hook,
                    ms_text(h.max_ms),
                    ms_text(h.p95_ms),
                    h.calls
                ),
            );
        }
        if h.threw > 0 {
            add(
                Severity::Warning,
                "hook-threw",
                format!(
                    "`{}` threw in {} of {} calls: {}",
                    h.hook,
                    h.threw,
                    h.calls,
                    h.first_throw.clone().unwrap_or_default()
                ),
            );
        }
    }
    let called: BTreeSet<&str> = hooks.iter().map(|h| h.hook.as_str()).collect();
    let never_called: Vec<String> = hooks_registered
        .iter()
        .filter(|h| !h.starts_with("tool:") && !called.contains(h.as_str()))
        .cloned()
        .collect();
    // A scenario that reached no verdict with the plugin may have stopped before the step
    // that calls a hook (@tarquinen/opencode-dcp 3.1.14 on a loaded machine: command-hook-passes
    // timed out in setup, so `command.execute.before` was "never called"): said with the hook.
    let unfinished: Vec<&str> = inputs
        .iter()
        .filter(|i| i.with_plugin.0.verdict == Verdict::Error)
        .map(|i| i.scenario.as_str())
        .collect();
    if loaded {
        for h in &never_called {
            let message = match not_called_by(version, h) {
                Some(why) => format!("`{h}` is registered but not called by this release ({version}): {why}; not the plugin's fault"),
                None if !unfinished.is_empty() => format!(
                    "`{h}` is registered but was never called on {version} during these scenarios; {} reached no verdict with the plugin (stopped early): a hook they call may be among these",
                    unfinished.join(", ")
                ),
                None => format!("`{h}` is registered but was never called on {version} during these scenarios"),
            };
            add(Severity::Warning, "hook-never-called", message);
        }
    }
    let coverage = coverage(version, &hooks_registered, &hooks);

    // Leaks: processes teardown had to kill, that the baseline run did not leave.
    let mut leaks = Vec::new();
    for i in inputs {
        let Some(t) = i.with_plugin.1.as_ref() else { continue };
        let base: BTreeSet<String> = i
            .baseline
            .as_ref()
            .and_then(|(_, t)| t.as_ref())
            .map(|t| leftovers(t).into_iter().map(|(_, c)| c).collect())
            .unwrap_or_default();
        for (pid, cmdline) in leftovers(t) {
            if !base.contains(&cmdline) {
                leaks.push(Leak {
                    scenario: i.scenario.clone(),
                    pid,
                    cmdline,
                });
            }
        }
    }
    if !leaks.is_empty() {
        let mut by_cmd: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for l in &leaks {
            by_cmd
                .entry(&l.cmdline)
                .or_default()
                .push(format!("{} (pid {})", l.scenario, l.pid));
        }
        let list: Vec<String> = by_cmd
            .iter()
            .map(|(cmd, wher)| format!("`{cmd}` in {}", wher.join(", ")))
            .collect();
        add(
            Severity::Problem,
            "leaked-process",
            format!(
                "{} process(es) the plugin's server left running after it stopped (the harness killed them): {}; a plugin must end what it starts (keep children in the server's process group, or stop them in a `dispose` hook)",
                leaks.len(),
                list.join("; ")
            ),
        );
    }

    VersionReport {
        opencode_version: version.to_string(),
        loaded,
        load_error,
        hooks_registered,
        values_registered,
        hooks,
        never_called,
        coverage,
        tool_calls: vec![],
        scenarios,
        leaks,
        findings,
    }
}

/// The hook coverage table: every registered hook (and any other that was called), with
/// the scenarios that reached it and its call times.
pub fn coverage(version: &str, registered: &[String], stats: &[HookStats]) -> Vec<HookCoverage> {
    let mut names: Vec<&String> = registered.iter().collect();
    names.extend(stats.iter().map(|h| &h.hook).filter(|h| !registered.contains(h)));
    names
        .into_iter()
        .map(|hook| {
            let s = stats.iter().find(|h| &h.hook == hook);
            let status = match s {
                Some(_) => "called",
                None if not_called_by(version, hook).is_some() => "not called by this release",
                None => "never reached by these scenarios",
            };
            HookCoverage {
                hook: hook.clone(),
                status: status.to_string(),
                scenarios: s.map(|s| s.scenarios.clone()).unwrap_or_default(),
                calls: s.map_or(0, |s| s.calls),
                max_ms: s.map_or(0.0, |s| s.max_ms),
                p95_ms: s.map_or(0.0, |s| s.p95_ms),
                threw: s.map_or(0, |s| s.threw),
            }
        })
        .collect()
}

fn short_json(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// The calls of the custom tools (from [`plugin_tools::outcomes`]) into a version's
/// report: a tool that hangs or leaves the session busy is a problem, one that throws on
/// arguments its schema accepts a warning (opencode gives the model the error and the
/// turn goes on: measured on 1.15.13 and 1.18.34), each with its witness: the case, its
/// arguments, what happened and the run's artifacts. A tool's `hook-threw` warning gives
/// way to its `tool-threw`.
pub fn add_tool_calls(v: &mut VersionReport, calls: Vec<ToolCall>, deadline_ms: u64, artifacts: &str) {
    let mut tools: Vec<&str> = Vec::new();
    for c in &calls {
        if !tools.contains(&c.tool.as_str()) {
            tools.push(&c.tool);
        }
    }
    let mut findings = Vec::new();
    for tool in &tools {
        let mine: Vec<&ToolCall> = calls.iter().filter(|c| c.tool == *tool).collect();
        let witness = |c: &ToolCall| format!("case `{}` {}", c.case, short_json(&c.arguments));
        let mut report = |severity, kind: &str, of: CallOutcome, what: &str| {
            let hit: Vec<&&ToolCall> = mine.iter().filter(|c| c.outcome == of).collect();
            if let Some(first) = hit.first() {
                findings.push(Finding {
                    severity,
                    kind: kind.to_string(),
                    message: format!(
                        "`{tool}` {what} in {} of {} calls; first: {}: {} (the session came back to idle: {}; artifacts: `{artifacts}`)",
                        hit.len(),
                        mine.len(),
                        witness(first),
                        if first.detail.is_empty() { "-" } else { &first.detail },
                        if first.back_to_idle { "yes" } else { "no" },
                    ),
                });
            }
        };
        report(
            Severity::Problem,
            "tool-hangs",
            CallOutcome::Hung,
            &format!("was still running {} after it started (the harness then aborted the turn)", ms_text(deadline_ms as f64)),
        );
        report(Severity::Warning, "tool-threw", CallOutcome::Threw, "threw on arguments its schema accepts");
        report(Severity::Warning, "tool-args-refused", CallOutcome::Refused, "was not run: opencode refused arguments the schema it advertises accepts");
        report(Severity::Infra, "no-verdict", CallOutcome::NotRun, "was not called (no tool part seen)");
        if let Some(c) = mine.iter().find(|c| !c.back_to_idle && c.outcome != CallOutcome::NotRun) {
            findings.push(Finding {
                severity: Severity::Problem,
                kind: "tool-breaks-session".into(),
                message: format!(
                    "after a call of `{tool}` ({}, {}) the session never came back to idle, even after an abort (artifacts: `{artifacts}`)",
                    witness(c),
                    c.outcome.as_str()
                ),
            });
        }
    }
    let threw: Vec<String> = findings
        .iter()
        .filter(|f| f.kind == "tool-threw")
        .filter_map(|f| f.message.split('`').nth(1).map(|t| format!("tool:{t}")))
        .collect();
    v.findings
        .retain(|f| !(f.kind == "hook-threw" && threw.iter().any(|h| f.message.starts_with(&format!("`{h}`")))));
    v.findings.extend(findings);
    mark_unreturned_calls(&mut v.coverage, &calls);
    v.tool_calls = calls;
}

/// The wrapper records a hook's call when it returns, so a tool whose every call hung has
/// no stats and its coverage row would say no scenario reached it: it was called.
fn mark_unreturned_calls(coverage: &mut [HookCoverage], calls: &[ToolCall]) {
    for row in coverage.iter_mut().filter(|r| r.calls == 0) {
        let Some(tool) = row.hook.strip_prefix("tool:") else { continue };
        let hung = calls.iter().filter(|c| c.tool == tool && c.outcome == CallOutcome::Hung).count();
        if hung > 0 {
            row.status = "called, never returned".into();
            row.calls = hung;
            row.scenarios = vec![crate::plugin_tools::compile::SCENARIO.to_string()];
        }
    }
}

/// `plugin-report.md`.
pub fn markdown(r: &PluginReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# check-plugin: {}\n", r.plugin.name);
    let verdict = match r.verdict.as_str() {
        "ok" => "**OK**: no problem found",
        "problems" => "**PROBLEMS FOUND**",
        _ => "**NO VERDICT** for some scenario (see below)",
    };
    let _ = writeln!(
        s,
        "{verdict}. {} problem(s), {} warning(s).\n",
        r.count(Severity::Problem),
        r.count(Severity::Warning)
    );
    let _ = writeln!(
        s,
        "- plugin: `{}` ({:?}), entry `{}`",
        r.plugin.source, r.plugin.kind, r.plugin.entry
    );
    if !r.plugin.dependencies.is_empty() {
        let _ = writeln!(
            s,
            "- dependencies (installed with npm): {}",
            r.plugin.dependencies.join(", ")
        );
    }
    for d in &r.plugin.install_deviations {
        let _ = writeln!(s, "- installed unlike npm's strict defaults (as opencode would load it): {d}");
    }
    let _ = writeln!(s, "- {} .. {} ({})\n", r.started_at, r.finished_at, r.tool);
    for v in &r.versions {
        let _ = writeln!(s, "## opencode {}\n", v.opencode_version);
        match (&v.load_error, v.loaded) {
            (Some(e), _) => {
                let _ = writeln!(s, "Loaded: **no**: {e}\n");
            }
            (None, true) => {
                let _ = writeln!(s, "Loaded: yes. Hooks registered: {}\n", code_list(&v.hooks_registered));
            }
            (None, false) => {
                let _ = writeln!(s, "Loaded: unknown (no run got far enough)\n");
            }
        }
        if !v.findings.is_empty() {
            let _ = writeln!(s, "### Findings\n");
            for f in &v.findings {
                let _ = writeln!(s, "- **{}** `{}`: {}", f.severity.as_str(), f.kind, f.message);
            }
            s.push('\n');
        }
        let _ = writeln!(s, "### Scenarios\n");
        let _ = writeln!(
            s,
            "| scenario | with the plugin | without | turn (with / without) | artifacts |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for sc in &v.scenarios {
            let turn = match (sc.turn_ms, sc.baseline_turn_ms) {
                (Some(a), Some(b)) => format!("{} / {}", ms_text(a), ms_text(b)),
                (Some(a), None) => ms_text(a),
                _ => "-".into(),
            };
            let mut outcome = sc.outcome.clone();
            if !sc.failed_checks.is_empty() {
                outcome.push_str(&format!(" ({})", sc.failed_checks.join(", ")));
            }
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | `{}` |",
                sc.scenario,
                match (sc.core, sc.scenario == plugin_tools::SCENARIO) {
                    (true, _) => "",
                    (false, true) => " (generated)",
                    (false, false) => " (yours)",
                },
                outcome,
                match (&sc.baseline_outcome, sc.baseline_cached) {
                    (Some(b), true) => format!("{b} (cached)"),
                    (Some(b), false) => b.clone(),
                    (None, _) => "-".into(),
                },
                turn,
                sc.artifacts
            );
        }
        s.push('\n');
        if !v.coverage.is_empty() {
            let _ = writeln!(s, "### Hook coverage\n");
            let _ = writeln!(
                s,
                "Every hook the plugin registered. `max`/`p95`: from the call until its promise settled. `sync`: the part before its first `await`, during which the server does nothing else. A hook \"not called by this release\" is one opencode never calls there (measured), not the plugin's fault.\n"
            );
            let _ = writeln!(s, "| hook | status | reached by | calls | max | p95 | max sync (blocking) | threw |");
            let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
            for c in &v.coverage {
                let sync = v.hooks.iter().find(|h| h.hook == c.hook).map_or("-".into(), |h| ms_text(h.max_sync_ms));
                // Times exist only for calls that returned (a hung tool's have none).
                let timed = v.hooks.iter().any(|h| h.hook == c.hook);
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
                    c.hook,
                    c.status,
                    if c.scenarios.is_empty() { "-".into() } else { c.scenarios.join(", ") },
                    c.calls,
                    if timed { ms_text(c.max_ms) } else { "-".into() },
                    if timed { ms_text(c.p95_ms) } else { "-".into() },
                    sync,
                    c.threw
                );
            }
            s.push('\n');
        }
        if !v.tool_calls.is_empty() {
            let _ = writeln!(s, "### Custom tools called with generated arguments\n");
            let _ = writeln!(s, "| tool | case | arguments | outcome | time | back to idle | detail |");
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for c in &v.tool_calls {
                let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
                let _ = writeln!(
                    s,
                    "| `{}` | {} | `{}` | {} | {} | {} | {} |",
                    c.tool,
                    c.case,
                    cell(&short_json(&c.arguments)),
                    c.outcome.as_str(),
                    c.ms.map_or("-".into(), ms_text),
                    if c.back_to_idle { "yes" } else { "**no**" },
                    cell(&c.detail)
                );
            }
            s.push('\n');
        }
        if !v.never_called.is_empty() {
            let _ = writeln!(s, "Registered but never called: {}\n", code_list(&v.never_called));
        }
        if !v.leaks.is_empty() {
            let _ = writeln!(s, "### Processes left after the server stopped\n");
            for l in &v.leaks {
                let _ = writeln!(s, "- `{}` (pid {}) in {}", l.cmdline, l.pid, l.scenario);
            }
            s.push('\n');
        }
    }
    s
}

fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Artifacts, CellReport};
    use oc_conform_checks::{ProcessInfo, ProcessRole};
    use serde_json::json;

    fn cell(scenario: &str, outcome: Outcome, verdict: Verdict) -> CellReport {
        CellReport {
            scenario: scenario.into(),
            opencode_version: "1.18.34".into(),
            outcome,
            verdict,
            failed_checks: if verdict == Verdict::Fail {
                vec!["status-reaches-idle".into()]
            } else {
                vec![]
            },
            duration_ms: 1000,
            error: None,
            expectation: None,
            checks: vec![],
            runs: vec![],
            artifacts: Artifacts::for_dir(&format!("with-plugin/1.18.34/{scenario}")),
            first_bad: None,
            rerun: None,
        }
    }

    fn timeline(records: &[Value]) -> Timeline {
        let mut t = Timeline::new("s", "1.18.34");
        t.session_id = Some("ses_1".into());
        t.push(
            0.0,
            Observation::Server(oc_conform_checks::ServerChange::Healthy {
                version: "1.18.34".into(),
            }),
        );
        for r in records {
            let mut r = r.clone();
            r["plugin"] = json!("check-plugin");
            t.push(1.0, Observation::Plugin { record: r });
        }
        t
    }

    fn input(scenario: &str, with: (Outcome, Verdict), t: Timeline, base: Option<(Outcome, Verdict)>) -> ScenarioInput {
        ScenarioInput {
            scenario: scenario.into(),
            core: true,
            with_plugin: (cell(scenario, with.0, with.1), Some(t)),
            baseline: base.map(|(o, v)| (cell(scenario, o, v), Some(timeline(&[])))),
            remeasured_turns: None,
            replayed: None,
            baseline_cached: false,
        }
    }

    /// A report of one version, for rendering.
    fn report_of(v: VersionReport) -> PluginReport {
        PluginReport {
            format_version: 1,
            tool: "t".into(),
            started_at: String::new(),
            finished_at: String::new(),
            plugin: PluginInfo {
                source: "p".into(),
                kind: PluginKind::File,
                name: "p".into(),
                entry: "p".into(),
                dependencies: vec![],
                install_deviations: vec![],
            },
            verdict: "ok".into(),
            thresholds: BTreeMap::new(),
            versions: vec![v],
        }
    }

    fn kinds(v: &VersionReport) -> Vec<(Severity, &str)> {
        v.findings.iter().map(|f| (f.severity, f.kind.as_str())).collect()
    }

    const PASS: (Outcome, Verdict) = (Outcome::Pass, Verdict::Pass);
    const FAIL: (Outcome, Verdict) = (Outcome::Fail, Verdict::Fail);

    #[test]
    fn a_quiet_plugin_is_fine_and_an_uncalled_hook_is_a_warning() {
        let t = timeline(&[
            json!({"event": "loaded", "hooks": ["event", "permission.ask"]}),
            json!({"event": "hook", "hook": "event", "ms": 0.2, "sync_ms": 0.1}),
            json!({"event": "hook", "hook": "event", "ms": 0.4, "sync_ms": 0.3}),
        ]);
        let v = analyze_version(
            "1.18.34",
            &[input("plugin-loads", PASS, t, Some(PASS))],
            &Thresholds::default(),
        );
        assert!(v.loaded);
        assert_eq!(kinds(&v), [(Severity::Warning, "hook-never-called")]);
        assert!(v.findings[0].message.contains("#7006"), "{}", v.findings[0].message);
        assert_eq!(v.hooks[0].calls, 2);
        assert_eq!(v.hooks[0].max_sync_ms, 0.3);
        assert_eq!(v.never_called, ["permission.ask"]);
    }

    #[test]
    fn a_slow_custom_tool_is_no_slow_hook_and_a_slow_hook_is() {
        let t = timeline(&[
            json!({"event": "loaded", "hooks": ["chat.params", "tool:spawn"]}),
            json!({"event": "hook", "hook": "tool:spawn", "ms": 1500.0, "sync_ms": 2.0}),
            json!({"event": "hook", "hook": "chat.params", "ms": 1500.0, "sync_ms": 2.0}),
        ]);
        let v = analyze_version("1.18.34", &[input("plugin-loads", PASS, t, Some(PASS))], &Thresholds::default());
        let slow: Vec<&str> = v.findings.iter().filter(|f| f.kind == "slow-hook").map(|f| f.message.as_str()).collect();
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert!(slow[0].starts_with("`chat.params` took up to 1.5 s"), "{slow:?}");
        // The tool's time is still in the table.
        assert_eq!(v.hooks.iter().find(|h| h.hook == "tool:spawn").map(|h| h.max_ms), Some(1500.0));
    }

    #[test]
    fn a_hook_never_called_names_the_scenarios_that_stopped_early() {
        let loaded = || timeline(&[json!({"event": "loaded", "hooks": ["event", "command.execute.before"]})]);
        let timeout = (Outcome::Timeout, Verdict::Error);
        let v = analyze_version(
            "1.18.34",
            &[input("plugin-loads", PASS, loaded(), Some(PASS)), input("command-hook-passes", timeout, loaded(), None)],
            &Thresholds::default(),
        );
        let never = v.findings.iter().find(|f| f.message.starts_with("`command.execute.before`")).expect("a finding");
        assert_eq!(never.kind, "hook-never-called");
        assert!(never.message.contains("command-hook-passes reached no verdict with the plugin"), "{}", never.message);
        assert!(!never.message.contains("plugin-loads"), "{}", never.message);
        // Every scenario finished: the plain sentence.
        let v = analyze_version("1.18.34", &[input("plugin-loads", PASS, loaded(), Some(PASS))], &Thresholds::default());
        let never = v.findings.iter().find(|f| f.message.starts_with("`command.execute.before`")).expect("a finding");
        assert!(never.message.ends_with("during these scenarios"), "{}", never.message);
    }

    #[test]
    fn a_load_error_names_the_stage_and_the_error() {
        let t = timeline(&[json!({"event": "load-failed", "stage": "init", "export": "Bad",
            "error": {"name": "Error", "message": "boom"}})]);
        let v = analyze_version(
            "1.18.34",
            &[input("plugin-loads", PASS, t, Some(PASS))],
            &Thresholds::default(),
        );
        assert!(!v.loaded);
        assert_eq!(kinds(&v), [(Severity::Problem, "load-error")]);
        assert_eq!(
            v.findings[0].message,
            "the plugin did not load on 1.18.34: the plugin function threw (export `Bad`): Error: boom"
        );
    }

    #[test]
    fn failing_only_with_the_plugin_is_its_fault_failing_without_is_not() {
        let loaded = || timeline(&[json!({"event": "loaded", "hooks": []})]);
        let v = analyze_version(
            "1.18.34",
            &[
                input("a", FAIL, loaded(), Some(PASS)),
                input("b", FAIL, loaded(), Some(FAIL)),
                input(
                    "c",
                    (Outcome::Error, Verdict::Error),
                    loaded(),
                    Some((Outcome::Error, Verdict::Error)),
                ),
            ],
            &Thresholds::default(),
        );
        assert_eq!(
            kinds(&v),
            [
                (Severity::Problem, "scenario-fails"),
                (Severity::Warning, "fails-without-plugin"),
                (Severity::Infra, "no-verdict")
            ]
        );
        assert!(v.scenarios[0].plugin_fault && !v.scenarios[1].plugin_fault);
    }

    #[test]
    fn a_blocking_event_hook_is_a_problem() {
        let mut recs = vec![json!({"event": "loaded", "hooks": ["event"]})];
        for _ in 0..20 {
            recs.push(json!({"event": "hook", "hook": "event", "ms": 501.0, "sync_ms": 500.5}));
        }
        let v = analyze_version(
            "1.18.34",
            &[input("s", PASS, timeline(&recs), Some(PASS))],
            &Thresholds::default(),
        );
        assert_eq!(kinds(&v), [(Severity::Problem, "event-hook-blocks")]);
        assert!(
            v.findings[0].message.contains("up to 500 ms"),
            "{}",
            v.findings[0].message
        );
    }

    #[test]
    fn a_process_left_after_teardown_is_a_leak_unless_the_baseline_left_it_too() {
        let mut t = timeline(&[json!({"event": "loaded", "hooks": []})]);
        t.push(
            2.0,
            Observation::Process(ProcessChange::Appeared(ProcessInfo {
                pid: 4242,
                ppid: 1,
                pgid: 4242,
                state: "S".into(),
                cmdline: "sleep 300".into(),
                role: ProcessRole::Tool,
            })),
        );
        t.push(
            3.0,
            Observation::TeardownKilled { pids: vec![4242, 77] },
        );
        assert_eq!(
            leftovers(&t),
            [
                (4242, "sleep 300".to_string()),
                (77, "(command line not seen)".to_string())
            ]
        );
        let v = analyze_version("1.18.34", &[input("s", PASS, t, Some(PASS))], &Thresholds::default());
        assert_eq!(kinds(&v), [(Severity::Problem, "leaked-process")]);
        assert!(
            v.findings[0].message.contains("`sleep 300` in s (pid 4242)"),
            "{}",
            v.findings[0].message
        );
    }

    /// A timeline whose turn (prompt step to the session's idle event) lasts `ms`.
    fn turn_of(ms: f64) -> Timeline {
        let mut t = timeline(&[json!({"kind": "loaded", "hooks": []})]);
        t.push(
            10.0,
            Observation::Step {
                index: 0,
                name: "prompt".into(),
                phase: StepPhase::Started,
                note: None,
            },
        );
        t.push(
            10.0 + ms,
            Observation::Event {
                stream: EventStream::Global,
                event_type: "session.idle".into(),
                session_id: Some("ses_1".into()),
                properties: json!({}),
            },
        );
        t
    }

    fn turn_pair(with: f64, without: f64, again: Option<(f64, f64)>) -> ScenarioInput {
        let pass = (Outcome::Pass, Verdict::Pass);
        let mut i = input("abort-http", pass, turn_of(with), Some(pass));
        i.baseline = Some((cell("abort-http", pass.0, pass.1), Some(turn_of(without))));
        i.remeasured_turns = again.map(|(a, b)| (Some(a), Some(b)));
        i
    }

    #[test]
    fn keys_that_are_no_hook_are_named_with_the_export_that_returned_them() {
        // As opencode-wakatime 1.3.9 loads: a helper export called with the plugin context
        // returns the context itself; the plugin export returns real hooks, one misspelt.
        let t = timeline(&[json!({
            "event": "loaded",
            "hooks": ["$", "chat.message", "event", "tool.execute.befor"],
            "values": ["client"],
            "returned": {
                "resolveProjectFolder": ["$", "client"],
                "plugin": ["chat.message", "event", "tool.execute.befor"],
                "extractFileChanges": "array"
            }
        })]);
        let v = analyze_version("1.18.34", &[input("plugin-loads", PASS, t, Some(PASS))], &Thresholds::default());
        let odd: Vec<&str> = v.findings.iter().filter(|f| f.kind == "not-a-hook").map(|f| f.message.as_str()).collect();
        assert_eq!(odd.len(), 2, "{odd:?}");
        assert!(odd.iter().any(|m| m.starts_with("export `plugin` returned `tool.execute.befor`")), "{odd:?}");
        let helper = odd.iter().find(|m| m.starts_with("export `resolveProjectFolder` is called by opencode as a plugin"));
        // All it returned is said, not only its function-valued keys ("only `$`" read as if
        // `$` was the whole answer).
        assert!(helper.is_some_and(|m| m.contains("only `$`, `client`:")), "{odd:?}");
        // Neither is blamed as a hook the scenarios did not reach.
        assert!(!v.never_called.iter().any(|h| h == "$" || h == "tool.execute.befor"), "{:?}", v.never_called);
        assert!(!v.hooks_registered.iter().any(|h| h == "$"), "{:?}", v.hooks_registered);
    }

    #[test]
    fn a_timeout_with_the_plugin_is_its_fault_only_when_the_replay_confirms_it() {
        let pass = (Outcome::Pass, Verdict::Pass);
        let timeout = (Outcome::Timeout, Verdict::Error);
        let judged = |replayed: Option<(Outcome, Outcome)>| {
            let mut i = input("abort-http", timeout, turn_of(1000.0), Some(pass));
            i.replayed = replayed;
            let v = analyze_version("1.18.34", &[i], &Thresholds::default());
            // The turn's timeline has no wrapper records, so the load is judged too: leave it out.
            let about: Vec<_> = v.findings.iter().filter(|f| f.kind != "load-error").collect();
            let kinds: Vec<(Severity, String)> = about.iter().map(|f| (f.severity, f.kind.clone())).collect();
            (kinds, about.first().map(|f| f.message.clone()).unwrap_or_default())
        };
        // Not played again: as before, the plugin's (the baseline passed).
        assert_eq!(judged(None).0, [(Severity::Problem, "scenario-fails".to_string())]);
        // Played again and it timed out again while the baseline passed: confirmed.
        let (kinds, msg) = judged(Some((Outcome::Timeout, Outcome::Pass)));
        assert_eq!(kinds, [(Severity::Problem, "scenario-fails".to_string())]);
        assert!(msg.contains("again TIMEOUT and PASS"), "{msg}");
        // Played again and it passed: not the plugin's fault, said so.
        let (kinds, msg) = judged(Some((Outcome::Pass, Outcome::Pass)));
        assert_eq!(kinds, [(Severity::Warning, "not-reproduced".to_string())]);
        assert!(msg.contains("but PASS when played once more"), "{msg}");
        // Played again and the baseline failed too: nothing to judge by.
        let (kinds, _) = judged(Some((Outcome::Timeout, Outcome::Timeout)));
        assert_eq!(kinds, [(Severity::Infra, "no-verdict".to_string())]);
    }

    #[test]
    fn a_slower_turn_is_a_warning_only_when_measuring_again_confirms_it() {
        let th = Thresholds::default();
        let slower = |i: ScenarioInput| {
            let v = analyze_version("1.18.34", &[i], &th);
            v.findings.iter().find(|f| f.kind == "slower-turn").map(|f| f.message.clone())
        };
        assert_eq!(turn_of(1800.0).entries.len(), 4);
        assert_eq!(turn_ms(&turn_of(1800.0)), Some(1800.0));
        // Within 1.5x + 500 ms: nothing to say.
        assert_eq!(slower(turn_pair(3100.0, 1800.0, None)), None);
        // Slower, not measured again: reported.
        let m = slower(turn_pair(4100.0, 1800.0, None)).expect("a slower-turn warning");
        assert!(m.contains("4.1 s") && m.contains("1.8 s"), "{m}");
        // Slower once, as fast as the baseline the second time: noise, not the plugin.
        assert_eq!(slower(turn_pair(4100.0, 1800.0, Some((1900.0, 1800.0)))), None);
        // Slower twice: reported with both measurements.
        let m = slower(turn_pair(4100.0, 1800.0, Some((4000.0, 1700.0)))).expect("a slower-turn warning");
        assert!(m.contains("measured again: 4.0 s and 1.7 s"), "{m}");
    }

    #[test]
    fn the_coverage_table_names_each_hook_its_scenarios_and_what_no_call_means() {
        let mut a = timeline(&[
            json!({"event": "loaded", "hooks": ["event", "permission.ask", "shell.env", "tool:echo"]}),
            json!({"event": "hook", "hook": "event", "ms": 2.0, "sync_ms": 0.1}),
        ]);
        a.scenario = "plugin-loads".into();
        let mut b = timeline(&[
            json!({"event": "hook", "hook": "event", "ms": 4.0, "sync_ms": 0.1}),
            json!({"event": "hook", "hook": "tool:echo", "ms": 1.0, "sync_ms": 0.1, "threw": {"message": "no"}}),
        ]);
        b.scenario = "plugin-custom-tools".into();
        let v = analyze_version(
            "1.18.34",
            &[input("plugin-loads", PASS, a, Some(PASS)), input("plugin-custom-tools", PASS, b, None)],
            &Thresholds::default(),
        );
        let row = |h: &str| v.coverage.iter().find(|c| c.hook == h).unwrap_or_else(|| panic!("{h}: {:?}", v.coverage));
        assert_eq!(row("event").scenarios, ["plugin-loads", "plugin-custom-tools"]);
        assert_eq!((row("event").calls, row("event").max_ms, row("event").status.as_str()), (2, 4.0, "called"));
        assert_eq!(row("tool:echo").threw, 1);
        assert_eq!(row("permission.ask").status, "not called by this release");
        assert_eq!(row("shell.env").status, "never reached by these scenarios");
        let ask = v.findings.iter().find(|f| f.message.starts_with("`permission.ask`")).unwrap();
        assert!(ask.message.contains("not called by this release (1.18.34)"), "{}", ask.message);
        // Outside the measured range nothing is assumed.
        assert_eq!(not_called_by("1.14.48", "permission.ask"), None);
        assert!(not_called_by("1.15.13", "permission.ask").is_some());
        assert_eq!(not_called_by("1.18.34", "event"), None);
        let md = markdown(&report_of(v));
        assert!(md.contains("| `event` | called | plugin-loads, plugin-custom-tools | 2 | 4 ms |"), "{md}");
        assert!(md.contains("| `permission.ask` | not called by this release | - | 0 | - |"), "{md}");
    }

    fn call(tool: &str, outcome: CallOutcome, back_to_idle: bool, detail: &str) -> ToolCall {
        ToolCall {
            tool: tool.into(),
            case: "typical".into(),
            arguments: json!({"input": "x"}),
            outcome,
            detail: detail.into(),
            ms: Some(3.0),
            back_to_idle,
        }
    }

    #[test]
    fn a_hanging_tool_is_a_problem_a_throwing_one_a_warning_each_with_its_witness() {
        let mut v = analyze_version("1.18.34", &[input("s", PASS, timeline(&[json!({"event": "loaded", "hooks": []})]), Some(PASS))], &Thresholds::default());
        v.findings.push(Finding {
            severity: Severity::Warning,
            kind: "hook-threw".into(),
            message: "`tool:boom` threw in 1 of 1 calls: Error: no".into(),
        });
        let calls = vec![
            call("echo", CallOutcome::Answered, true, "echo received x"),
            call("boom", CallOutcome::Threw, true, "boom refuses"),
            call("hang", CallOutcome::Hung, true, "after the abort the tool part ended in error: Tool execution aborted"),
            call("stuck", CallOutcome::Hung, false, "after the abort the tool part stayed `running`"),
        ];
        add_tool_calls(&mut v, calls, 5_000, "tools/1.18.34/plugin-custom-tools");
        assert_eq!(
            kinds(&v),
            [
                (Severity::Warning, "tool-threw"),
                (Severity::Problem, "tool-hangs"),
                (Severity::Problem, "tool-hangs"),
                (Severity::Problem, "tool-breaks-session")
            ],
            "the tool's hook-threw gives way to its tool-threw"
        );
        let m = &v.findings[1].message;
        assert!(m.starts_with("`hang` was still running 5.0 s after it started"), "{m}");
        assert!(m.contains(r#"case `typical` {"input":"x"}"#) && m.contains("tools/1.18.34/plugin-custom-tools"), "{m}");
        assert!(v.findings[0].message.contains("boom refuses"), "{}", v.findings[0].message);
        assert_eq!(v.tool_calls.len(), 4);
        assert_eq!(PluginReport::overall(&[v]), "problems");
    }

    #[test]
    fn a_tool_whose_calls_all_hung_is_called_in_the_coverage_table_not_never_reached() {
        let loaded = timeline(&[json!({"event": "loaded", "hooks": ["tool:hang", "tool:never"]})]);
        let mut v = analyze_version("1.18.34", &[input("s", PASS, loaded, Some(PASS))], &Thresholds::default());
        let row = |v: &VersionReport, hook: &str| v.coverage.iter().find(|r| r.hook == hook).cloned().unwrap();
        assert_eq!(row(&v, "tool:hang").status, "never reached by these scenarios");
        let calls = vec![
            call("hang", CallOutcome::Hung, true, "aborted"),
            call("hang", CallOutcome::Hung, true, "aborted"),
            call("never", CallOutcome::NotRun, true, ""),
        ];
        add_tool_calls(&mut v, calls, 5_000, "tools");
        let hang = row(&v, "tool:hang");
        assert_eq!((hang.status.as_str(), hang.calls), ("called, never returned", 2));
        assert_eq!(hang.scenarios, ["plugin-custom-tools"]);
        let md = markdown(&report_of(v.clone()));
        assert!(md.contains("| `tool:hang` | called, never returned | plugin-custom-tools | 2 | - | - |"), "{md}");
        // A tool that was not called at all stays unreached.
        assert_eq!(row(&v, "tool:never").status, "never reached by these scenarios");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        assert_eq!(percentile(&[], 95.0), 0.0);
    }
}
