//! The serde model of a scenario file. Field names are the file's keys.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One scenario, as written in `scenarios/<name>.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub format_version: u32,
    /// Part of the interface: CI expectations and bisect refer to scenarios by name.
    pub name: String,
    pub description: String,
    /// Upstream issues or reports this scenario comes from (URLs or `#1234`).
    #[serde(default)]
    pub upstream: Vec<String>,
    /// Families this scenario belongs to (`abort`, `permission`, ...): `run --tag` and
    /// `list --tag` select by them. Lower-case letters, digits and dashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Whole-scenario deadline; the run is ended and judged ERROR past it.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Fixture plugins to load, as paths relative to `fixtures/plugins/` (or absolute).
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Merged into the sandbox's `opencode.json` (permission rules, commands, ...).
    #[serde(default)]
    pub opencode_config: serde_json::Map<String, serde_json::Value>,
    /// Extra environment variables for the server (and so for plugins and tools). A
    /// scenario with environment gets a server of its own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Parameters for fixture plugins, read with `param(name)` from the fixture library
    /// (`fixtures/plugins/lib/harness.js`). Unlike `env` they belong to the scenario's
    /// project directory, so the scenario can share a server.
    #[serde(default)]
    pub plugin_params: BTreeMap<String, String>,
    /// What the fake model answers.
    #[serde(default)]
    pub model: ModelScript,
    /// What the scenario does, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// How the recorded timeline is judged.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Needs to signal or restart the server: cannot run against a server the harness did
    /// not start. Derived from the steps when absent; `true` keeps the scenario on a
    /// server of its own whatever its steps.
    #[serde(default)]
    pub needs_process_control: Option<bool>,
    /// What a release must have for the scenario to apply to it. On a release without it
    /// the scenario is SKIPPED with the reason: never FAIL, never ERROR.
    #[serde(default, skip_serializing_if = "Requires::is_empty")]
    pub requires: Requires,
    /// What port 4096 is while the scenario's server starts with `--port 0` (which binds
    /// it when free): `busy` (the harness holds a listener on it) or `free` (no other
    /// start of the run meanwhile; taken by something else, the scenario cannot judge:
    /// ERROR). The harness's other servers always start with it busy. Declare
    /// `needs_process_control = true` too: only a server of its own starts for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_4096: Option<Port4096>,
}

/// `port_4096 = "free" | "busy"`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Port4096 {
    Free,
    Busy,
}

/// `[requires]`: the releases a scenario applies to: a version range, and features the
/// harness probes on the server under test (a route, a tool, a config key).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// A version requirement on opencode (`">=1.15.0"`, `">=1.15.0, <1.18.0"`), for a
    /// feature that releases outside it lack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opencode: Option<String>,
    /// What those releases lack, said in the skip reason (`"the question tool"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// A route the server must serve: a path of GET /doc (`"/question"`,
    /// `"/question/{requestID}/reject"`; parameter names need not match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// A tool the server offers the model (listed by GET /experimental/tool/ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// A top-level key of the config (a property of the `Config` schema in GET /doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_key: Option<String>,
}

/// What a server under test offers, as the harness probed it. `None`: the probe got no
/// usable answer (that release cannot say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// GET /doc's paths, with parameter names blanked (`/question/{}/reply`).
    pub routes: Option<std::collections::BTreeSet<String>>,
    /// GET /experimental/tool/ids.
    pub tools: Option<std::collections::BTreeSet<String>>,
    /// The properties of GET /doc's `Config` schema.
    pub config_keys: Option<std::collections::BTreeSet<String>>,
}

/// A route's path with each `{parameter}` blanked to `{}`, so that `/question/{id}/reply`
/// and `/question/{requestID}/reply` are one route. A trailing `/` is dropped (the root
/// stays `/`).
pub fn route_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    let trimmed = match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        t => t,
    };
    for c in trimmed.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.opencode.is_none() && self.feature.is_none() && !self.needs_probe()
    }

    /// Whether the server must be probed (a route, tool or config key is required).
    pub fn needs_probe(&self) -> bool {
        self.route.is_some() || self.tool.is_some() || self.config_key.is_some()
    }

    /// Whether `version`'s server must be probed for this scenario: it requires a feature,
    /// and its version range (if any) does not already rule the release out.
    pub fn probes_on(&self, version: &str) -> bool {
        self.needs_probe() && self.unmet_by(version).is_none()
    }

    fn feature_suffix(&self) -> String {
        self.feature.as_deref().map(|f| format!(" ({f})")).unwrap_or_default()
    }

    /// Why `version` does not meet the requirement (none: it does). A version that is not
    /// a release number (a local build's label) is assumed to meet it: the run says so
    /// by playing it.
    pub fn unmet_by(&self, version: &str) -> Option<String> {
        let req = semver::VersionReq::parse(self.opencode.as_deref()?).ok()?;
        let v = semver::Version::parse(version).ok()?;
        if req.matches(&v) {
            return None;
        }
        Some(format!("needs opencode {req}{}; this is {version}", self.feature_suffix()))
    }

    /// Why the server of `version`, as probed (`features`), lacks a required feature
    /// (none: it has them all, or nothing is required). The first missing one is named.
    pub fn unmet_features(&self, version: &str, features: &Features) -> Option<String> {
        let lacks = |what: String, listed: &Option<std::collections::BTreeSet<String>>, key: String, source: &str| {
            let why = match listed {
                None => format!("{source} gave no answer to probe"),
                Some(set) if set.contains(&key) => return None,
                Some(_) => format!("not in {source}"),
            };
            Some(format!("needs {what}{}; opencode {version} lacks it ({why})", self.feature_suffix()))
        };
        let route = self.route.as_deref().and_then(|r| {
            lacks(format!("route {r}"), &features.routes, route_shape(r), "GET /doc's paths")
        });
        let tool = || {
            self.tool.as_deref().and_then(|t| {
                lacks(format!("tool `{t}`"), &features.tools, t.to_string(), "GET /experimental/tool/ids")
            })
        };
        let key = || {
            self.config_key.as_deref().and_then(|k| {
                lacks(format!("config key `{k}`"), &features.config_keys, k.to_string(), "GET /doc's Config schema")
            })
        };
        route.or_else(tool).or_else(key)
    }

    /// How `list` shows it: `opencode >=1.15.0, tool question (the question tool)`.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.opencode.as_deref().map(|r| format!("opencode {r}")),
            self.route.as_deref().map(|r| format!("route {r}")),
            self.tool.as_deref().map(|t| format!("tool {t}")),
            self.config_key.as_deref().map(|k| format!("config key {k}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            return None;
        }
        Some(format!("{}{}", parts.join(", "), self.feature_suffix()))
    }
}

fn default_deadline_ms() -> u64 {
    60_000
}

impl Scenario {
    /// A scenario compiled at run time (explore's cases, check-plugin's custom-tools
    /// calls): turns answered from `turns` (then `after_tool` after each tool result), no
    /// plugin, no config; the caller sets what else it needs.
    pub fn generated(
        name: &str,
        description: &str,
        deadline_ms: u64,
        (turns, after_tool): (Vec<ModelTurn>, &str),
        steps: Vec<Step>,
        checks: Vec<CheckSpec>,
        tags: &[&str],
    ) -> Scenario {
        Scenario {
            format_version: 1,
            name: name.to_string(),
            description: description.to_string(),
            upstream: vec![],
            deadline_ms,
            plugins: vec![],
            opencode_config: Default::default(),
            env: Default::default(),
            plugin_params: Default::default(),
            model: ModelScript {
                turns,
                title: None,
                after_tool: Some(after_tool.to_string()),
            },
            steps,
            checks,
            needs_process_control: None,
            requires: Default::default(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            port_4096: None,
        }
    }

    /// True when some step signals, stops or globally disposes the server process (see
    /// `requirements`), or the file says so.
    pub fn needs_process_control(&self) -> bool {
        self.needs_process_control.unwrap_or_else(|| {
            crate::requirements::scenario_requirements(self)
                .iter()
                .any(|r| r.capability.is_process_control())
        })
    }
}

/// The fake model's script. Requests carrying `tools` are agent turns and consume the
/// script's turns in order; requests without `tools` (title, summary) get `title`.
/// A turn request past the end of the script is a violation: it is answered with an HTTP
/// error and recorded, never silently answered.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelScript {
    #[serde(default)]
    pub turns: Vec<ModelTurn>,
    /// The answer to requests without tools (title generation). Default: "Test session".
    #[serde(default)]
    pub title: Option<String>,
    /// The answer to a turn request that continues after a tool ran (the messages after
    /// the last user message hold a tool result). When set, such requests consume no
    /// scripted turn: each prompt's turn is then one scripted turn, whatever its tool did
    /// (the explorer's scripts; an abort that did not take effect cannot shift them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_tool: Option<String>,
}

/// One answer of the fake model.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelTurn {
    /// Text streamed as content deltas.
    #[serde(default)]
    pub text: Option<String>,
    /// Tool calls, streamed after the text; the turn then ends with `finish_reason: tool_calls`.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Wait this long before the first byte (a slow model).
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer with this HTTP error instead of a stream.
    #[serde(default)]
    pub http_error: Option<HttpError>,
    /// Fault injection on the stream itself.
    #[serde(default)]
    pub fault: Option<StreamFault>,
    /// Answer the turn request whose last user message contains this text, whenever it
    /// comes, instead of the next request in order (each keyed turn answers once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    /// The tool's arguments, sent JSON-encoded as the call's `arguments` string.
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpError {
    pub status: u16,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StreamFault {
    /// Send some content, then close the connection without `[DONE]`.
    CutMidStream,
    /// Send a frame that is not JSON.
    MalformedFrame,
    /// Send headers, then nothing until the client gives up.
    Hang,
}

/// One step of a scenario. Written as `[[steps]]` tables with a `do` key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Send a user message. `async` (default) uses `prompt_async`; otherwise the
    /// synchronous `/message` route, which returns when the turn ends.
    Prompt {
        text: String,
        #[serde(default = "yes", rename = "async")]
        is_async: bool,
    },
    /// Wait for an observed condition, with a deadline.
    Wait {
        until: Condition,
        #[serde(default = "default_wait_ms")]
        timeout_ms: u64,
        /// What a timeout means. Default `error`: the scenario could not reach the state
        /// it needs, so no verdict. `continue`: keep going, the checks judge.
        #[serde(default)]
        on_timeout: OnTimeout,
    },
    /// `POST /session/{session}/abort`.
    Abort {},
    /// Any HTTP call to the server. `{session}` and `{permission}` in `path` and `body`
    /// are replaced by the scenario's session id and the last asked permission's id.
    Http {
        method: String,
        path: String,
        #[serde(default)]
        body: Option<serde_json::Value>,
        #[serde(default)]
        expect_status: Option<u16>,
        /// Send the run's password (default). `false` checks what an unauthenticated
        /// client gets.
        #[serde(default = "yes")]
        auth: bool,
    },
    /// Reply to the last `permission.asked` over HTTP (`POST /permission/{id}/reply`).
    PermissionReply {
        #[serde(default = "default_reply")]
        reply: String,
    },
    /// `POST /session/{session}/command`.
    Command {
        name: String,
        #[serde(default)]
        arguments: String,
        #[serde(default)]
        expect_status: Option<u16>,
    },
    /// Send a signal to the server process (only the server's pid, as a user would).
    Signal { signal: SignalName },
    /// `POST /global/dispose`: the graceful shutdown path.
    Dispose {},
    /// Stop the server as a supervisor would: SIGTERM to its process group, a grace
    /// period, SIGKILL. Processes that left the group are left for the checks to see
    /// (the harness's own cleanup runs only at teardown).
    StopServer {},
    /// Reads the server process's thread count, open file descriptors and resident
    /// memory from `/proc` into the timeline (a `resources` entry), with how many extra
    /// project directories the scenario has played so far.
    SampleResources {
        #[serde(default)]
        label: Option<String>,
    },
    /// `count` fresh project directories (each with the scenario's `opencode.json`), and
    /// in each a new session with one synchronous turn (`POST /session/{id}/message`),
    /// addressed by the `x-opencode-directory` header: one more instance each. `at_once`
    /// directories are played concurrently (an instance's start is mostly waiting).
    TurnsInNewDirectories {
        count: u32,
        text: String,
        #[serde(default = "one")]
        at_once: u32,
        /// How long each directory's session and turn may take (an instance's first
        /// prompt loads its plugins and agents: seconds on a loaded machine).
        #[serde(default = "default_directory_turn_ms")]
        timeout_ms: u64,
    },
    /// `POST /session` in the scenario's project: one more session besides the
    /// scenario's own, called `name` by the steps after it (`{session:NAME}` in an
    /// `http` step's path and body). The checks keep judging the scenario's session.
    NewSession { name: String },
    /// `DELETE /session/{id}` of a session a `new-session` step created.
    DeleteSession { name: String },
    /// One more client of an event stream (`/global/event`, or the project's `/event`
    /// unless `global`), open once its `server.connected` arrived; it reads (and
    /// drops) its events until `close-subscriber` with the same name, or the end.
    OpenSubscriber {
        name: String,
        #[serde(default)]
        global: bool,
    },
    /// Closes the connection an `open-subscriber` step opened.
    CloseSubscriber { name: String },
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_directory_turn_ms() -> u64 {
    60_000
}
fn default_wait_ms() -> u64 {
    10_000
}
fn default_reply() -> String {
    "once".into()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnTimeout {
    #[default]
    Error,
    Continue,
    Fail,
    /// Abort the session (`POST /session/{id}/abort`), then continue: ends a turn still
    /// running at the deadline without aborting a session that already went idle (an
    /// abort of an idle session poisons its next prompt on 1.18.34: measured by
    /// check-plugin's custom-tools calls).
    Abort,
}

/// The note a wait with `on_timeout = "abort"` records (a `harness` entry) before it
/// aborts: where an analysis of the timeline finds the abort.
pub const ABORT_ON_TIMEOUT_NOTE: &str = "aborting the session and continuing";

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum SignalName {
    #[serde(rename = "TERM")]
    Term,
    #[serde(rename = "INT")]
    Int,
    #[serde(rename = "KILL")]
    Kill,
}

/// Something the observers can see. Written as a one-key table, e.g.
/// `until = { process = "sleep 100" }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// An event of this type on the event stream (for the scenario's session, when the
    /// event names one).
    Event(String),
    /// `GET /session/status` reports this status (`busy`, `idle`, `retry`) for the session.
    Status(String),
    /// A live process of the run whose command line contains this text.
    Process(String),
    /// Every process of the run whose command line contains this text has exited (and at
    /// least one had been seen).
    ProcessGone(String),
    /// A tool part reached this state (`pending`, `running`, `completed`, `error`).
    ToolState(String),
    /// At least this many requests reached the fake model.
    ModelRequests(u32),
    /// At least this many agent-turn requests (requests offering tools, scripted or not)
    /// reached the fake model; title requests are not counted.
    ModelTurns(u32),
    /// A fixture plugin wrote a record whose `event` field is this.
    Plugin(String),
    /// The server process has exited.
    ServerExited(bool),
    /// Nothing new (beyond heartbeats) was observed for this many milliseconds.
    QuietMs(u64),
}

/// One check over the recorded timeline. Written as `[[checks]]` tables with a `check`
/// key naming it; each check's parameters are its other keys. The checks themselves live
/// in the `oc-conform-checks` crate; this is only their spelling in a file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "check", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CheckSpec {
    /// The session's HTTP status ends idle, after the last busy it showed.
    StatusReachesIdle {},
    /// Agreement of status and processes: once the HTTP status says idle, no tool process
    /// of the run is alive `grace_ms` later.
    IdleHasNoToolProcess {
        #[serde(default = "default_tool_grace_ms")]
        grace_ms: u64,
    },
    /// Agreement of events and status: an idle event is matched by an idle HTTP status
    /// within `grace_ms`, and the status does not say busy after it without a new busy event.
    IdleEventMatchesStatus {
        #[serde(default = "default_status_grace_ms")]
        grace_ms: u64,
    },
    /// Every busy on the event stream ends in exactly one idle.
    OneIdlePerBusy {},
    /// The tool part ends as aborted (state `error`, or `completed` with an output saying
    /// it was aborted, as the bash tool reports it) and the assistant message carries
    /// `MessageAbortedError`.
    ToolEndsAborted {},
    /// After the final idle, no model request and no tool event for the session.
    QuietAfterIdle {
        #[serde(default = "default_agree_grace_ms")]
        grace_ms: u64,
    },
    /// A permission reply the server accepted leads to `permission.replied`, leaves the
    /// pending list and lets the tool run, within `grace_ms`.
    PermissionReplyTakesEffect {
        #[serde(default = "default_reply_grace_ms")]
        grace_ms: u64,
    },
    /// Once the server process has exited, no process of its tree (tool children
    /// included) and nothing carrying the run marker is alive `grace_ms` later.
    ServerTreeGone {
        #[serde(default = "default_tool_grace_ms")]
        grace_ms: u64,
    },
    /// The server process did not exit before the harness stopped it.
    ServerStaysUp {},
    /// No request reached the fake model at all.
    NoModelRequests {},
    /// Every failed HTTP answer tells the client what failed: no opaque `UnknownError`,
    /// no leaked stack trace.
    ErrorsAreTyped {},
    /// The per-directory `/event` stream carried the same session events as `/global/event`.
    EventStreamsAgree {},
    /// Every session created over HTTP was announced by `session.created` on both event
    /// streams (a `/event` closed or silent after a config change fails).
    SessionCreatedOnBothStreams {},
    /// The session's agent turns reach the fake model one at a time (a request's answer
    /// ends before the next turn request arrives; title requests are left out).
    ModelCallsNeverOverlap {},
    /// In the stored conversation every user message has exactly one final answer, and a
    /// tool call's continuation stays under the user message that started it.
    AnswersKeepTheirPrompt {},
    /// The stored user messages' texts, in the stored order, are `prompts`.
    MessagesInAcceptedOrder { prompts: Vec<String> },
    /// The listening line, the port the server process listens on and `ctx.serverUrl`
    /// (the `server-url` fixture plugin) agree; with `port`, the server must have bound it
    /// for a verdict (else ERROR).
    ServerUrlAgrees {
        #[serde(default)]
        port: Option<u16>,
    },
    /// A fixture plugin wrote a record with this `event` and no `error`.
    PluginReported { event: String },
    /// The event stream told the client the turn failed: a `session.error` for the
    /// session (with this error `name`, when given).
    SessionErrorReported {
        #[serde(default)]
        name: Option<String>,
    },
    /// The session stored at least this many messages (user + assistant) at the end.
    MessagesStored {
        #[serde(default)]
        min: u32,
        #[serde(default)]
        max: Option<u32>,
    },
    /// Every child session of the scenario's session (a `session.created` whose
    /// `parentID` is it) is idle `grace_ms` after the parent's final idle, on the HTTP
    /// status and on the event stream, and does not turn busy again.
    SubagentsEndIdle {
        #[serde(default = "default_tool_grace_ms")]
        grace_ms: u64,
    },
    /// No answer of the fake model is still open `grace_ms` after the session's final
    /// idle: opencode closed every model request it no longer needs.
    ModelRequestsClosed {
        #[serde(default = "default_tool_grace_ms")]
        grace_ms: u64,
    },
    /// The server process's threads, open fds and resident memory grow by at most these
    /// amounts per extra project directory, between the first `resources` sample with at
    /// least `from_directories` directories and the last sample.
    ResourceGrowthPerDirectory {
        #[serde(default)]
        from_directories: u32,
        max_threads_per_directory: f64,
        max_fds_per_directory: f64,
        max_rss_mb_per_directory: f64,
    },
    /// Every request of this kind asked for the session was resolved by an event a client
    /// can see (`question.replied`/`question.rejected`, `permission.replied`), not dropped.
    RequestResolved { kind: RequestKind },
    /// The last `GET /question` (or `/permission`) recorded after the request was asked no
    /// longer lists it (an `http` step's answer, or the harness's permission poll).
    RequestNotPending { kind: RequestKind },
    /// No request of this kind was asked for the session (no asked event, and every
    /// recorded pending list is empty): something decided it without the user.
    RequestNeverAsked { kind: RequestKind },
    /// No process of the run whose command line contains `command` was ever seen, by a
    /// sampler that saw some tool process of the run (a control).
    ProcessNeverSeen { command: String },
}

/// What a pending request is: the question tool's, or a permission's.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    Question,
    Permission,
}

impl RequestKind {
    /// Its route and the name its events start with (`question`, `permission`).
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Question => "question",
            RequestKind::Permission => "permission",
        }
    }
}

fn default_tool_grace_ms() -> u64 {
    // opencode's bash tool sends SIGTERM to the group, then SIGKILL after 3 s.
    3_500
}
fn default_agree_grace_ms() -> u64 {
    1_000
}
/// Events and the status poll are two paths through a busy server; on a loaded CI
/// machine the second can lag the first by more than a second.
fn default_status_grace_ms() -> u64 {
    2_000
}
fn default_reply_grace_ms() -> u64 {
    3_000
}

impl CheckSpec {
    /// The check's name as written in files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            CheckSpec::StatusReachesIdle {} => "status-reaches-idle",
            CheckSpec::IdleHasNoToolProcess { .. } => "idle-has-no-tool-process",
            CheckSpec::IdleEventMatchesStatus { .. } => "idle-event-matches-status",
            CheckSpec::OneIdlePerBusy {} => "one-idle-per-busy",
            CheckSpec::ToolEndsAborted {} => "tool-ends-aborted",
            CheckSpec::QuietAfterIdle { .. } => "quiet-after-idle",
            CheckSpec::PermissionReplyTakesEffect { .. } => "permission-reply-takes-effect",
            CheckSpec::ServerTreeGone { .. } => "server-tree-gone",
            CheckSpec::ServerStaysUp {} => "server-stays-up",
            CheckSpec::NoModelRequests {} => "no-model-requests",
            CheckSpec::ErrorsAreTyped {} => "errors-are-typed",
            CheckSpec::EventStreamsAgree {} => "event-streams-agree",
            CheckSpec::SessionCreatedOnBothStreams {} => "session-created-on-both-streams",
            CheckSpec::ModelCallsNeverOverlap {} => "model-calls-never-overlap",
            CheckSpec::AnswersKeepTheirPrompt {} => "answers-keep-their-prompt",
            CheckSpec::MessagesInAcceptedOrder { .. } => "messages-in-accepted-order",
            CheckSpec::ServerUrlAgrees { .. } => "server-url-agrees",
            CheckSpec::PluginReported { .. } => "plugin-reported",
            CheckSpec::MessagesStored { .. } => "messages-stored",
            CheckSpec::SessionErrorReported { .. } => "session-error-reported",
            CheckSpec::SubagentsEndIdle { .. } => "subagents-end-idle",
            CheckSpec::ModelRequestsClosed { .. } => "model-requests-closed",
            CheckSpec::ResourceGrowthPerDirectory { .. } => "resource-growth-per-directory",
            CheckSpec::RequestResolved { .. } => "request-resolved",
            CheckSpec::RequestNotPending { .. } => "request-not-pending",
            CheckSpec::RequestNeverAsked { .. } => "request-never-asked",
            CheckSpec::ProcessNeverSeen { .. } => "process-never-seen",
        }
    }
}

#[cfg(test)]
mod requires_tests {
    use super::{Features, Requires};

    fn req(r: &str, feature: Option<&str>) -> Requires {
        Requires {
            opencode: Some(r.into()),
            feature: feature.map(String::from),
            ..Requires::default()
        }
    }

    #[test]
    fn a_release_outside_the_range_is_told_why() {
        let r = req(">=1.15.0", Some("the question tool"));
        assert_eq!(r.unmet_by("1.15.0"), None);
        assert_eq!(r.unmet_by("1.18.34"), None);
        assert_eq!(
            r.unmet_by("1.14.48").as_deref(),
            Some("needs opencode >=1.15.0 (the question tool); this is 1.14.48")
        );
        assert_eq!(req(">=1.15.0, <1.18.0", None).unmet_by("1.18.34").as_deref(), Some("needs opencode >=1.15.0, <1.18.0; this is 1.18.34"));
        // A local build's label is not a release: the run plays it and says what it saw.
        assert_eq!(r.unmet_by("local-build"), None);
        assert_eq!(Requires::default().unmet_by("1.0.0"), None);
        assert_eq!(r.describe().as_deref(), Some("opencode >=1.15.0 (the question tool)"));
    }

    fn set(items: &[&str]) -> Option<std::collections::BTreeSet<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn probed_features_decide_and_say_why() {
        let features = Features {
            routes: set(&["/question", "/question/{}/reply"]),
            tools: set(&["bash", "question"]),
            config_keys: None,
        };
        let r = Requires {
            route: Some("/question/{requestID}/reply/".into()),
            tool: Some("question".into()),
            ..Requires::default()
        };
        assert!(r.needs_probe() && !r.is_empty());
        assert_eq!(r.unmet_features("1.18.34", &features), None);
        assert_eq!(r.unmet_by("1.18.34"), None, "no version range: any release");
        let r = Requires {
            tool: Some("task_background".into()),
            feature: Some("background subagents".into()),
            ..Requires::default()
        };
        assert_eq!(
            r.unmet_features("1.15.13", &features).as_deref(),
            Some("needs tool `task_background` (background subagents); opencode 1.15.13 lacks it (not in GET /experimental/tool/ids)")
        );
        assert_eq!(r.describe().as_deref(), Some("tool task_background (background subagents)"));
        // A probe without an answer is unmet, and says so.
        let r = Requires {
            config_key: Some("mcp".into()),
            ..Requires::default()
        };
        assert_eq!(
            r.unmet_features("1.14.48", &features).as_deref(),
            Some("needs config key `mcp`; opencode 1.14.48 lacks it (GET /doc's Config schema gave no answer to probe)")
        );
        // The first missing feature is the one named.
        let r = Requires {
            opencode: Some(">=1.15.0".into()),
            route: Some("/nope".into()),
            tool: Some("nope".into()),
            ..Requires::default()
        };
        assert!(r.unmet_features("1.18.34", &features).unwrap().starts_with("needs route /nope;"));
        assert_eq!(r.describe().as_deref(), Some("opencode >=1.15.0, route /nope, tool nope"));
        // A release the range rules out is skipped for that, without a probe.
        assert!(r.probes_on("1.18.34") && !r.probes_on("1.14.48"));
        assert!(!Requires::default().needs_probe());
    }

    #[test]
    fn route_shapes_ignore_parameter_names() {
        assert_eq!(super::route_shape("/question/{requestID}/reply"), "/question/{}/reply");
        assert_eq!(super::route_shape("/session/{id}/permissions/{permissionID}/"), "/session/{}/permissions/{}");
        assert_eq!(super::route_shape("/doc"), "/doc");
        assert_eq!(super::route_shape("/"), "/");
    }
}
