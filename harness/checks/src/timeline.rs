//! The timeline: one ordered record of everything the observers saw during a run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the stored timeline's JSON shape (`timeline.json`).
pub const TIMELINE_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timeline {
    pub format_version: u32,
    pub scenario: String,
    pub opencode_version: String,
    /// The scenario's session, once created.
    pub session_id: Option<String>,
    /// The project directory the server was started in.
    pub directory: Option<String>,
    /// The `opencode serve` process the harness started.
    pub server_pid: Option<u32>,
    pub entries: Vec<Entry>,
}

/// One observation. `at_ms` is milliseconds since the run started, from a monotonic clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub at_ms: f64,
    #[serde(flatten)]
    pub obs: Observation,
}

/// Which observer saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Observation {
    /// A frame from an event stream (`/global/event` unwrapped, or the per-directory `/event`).
    Event {
        stream: EventStream,
        #[serde(rename = "type")]
        event_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        properties: Value,
    },
    /// A change in what `GET /session/status` says of a session (absent from the map = idle).
    Status { session_id: String, status: String },
    /// A change in the pending permission ids (`GET /permission`).
    PendingPermissions { ids: Vec<String> },
    /// A request the harness sent and its answer (for step calls and final snapshots).
    Http {
        method: String,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// 0 when no answer came (connection error, timeout); see `error`.
        status: u16,
        body: Value,
        elapsed_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A process of the run appeared, changed or exited in the process table.
    Process(ProcessChange),
    /// A request reached the fake model.
    ModelRequest {
        index: u32,
        kind: ModelRequestKind,
        /// The scripted turn that answered it (0-based), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn: Option<usize>,
        /// The request carried a tool result (the turn continuing after a tool ran).
        has_tool_result: bool,
        summary: String,
    },
    /// The fake model's answer to request `index` ended, and how.
    ModelAnswerEnded { index: u32, end: ModelAnswerEnd },
    /// What `/proc` said of the server process when a `sample-resources` step read it.
    Resources(ResourceSample),
    /// A record written by a fixture plugin (one JSON object per line).
    Plugin { record: Value },
    /// The runner played a step.
    Step {
        index: usize,
        name: String,
        phase: StepPhase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The server process's life as the supervisor saw it.
    Server(ServerChange),
    /// An event stream ended while it was observed. Who ended it decides what it means:
    /// the server closing the stream while it still answers is a failure of opencode
    /// (`event-streams-stay-open`); the harness's own connection breaking leaves no verdict.
    StreamEnded {
        stream: EventStream,
        cause: StreamEndCause,
        /// A step was ending the server (a signal, a stop, a dispose): an end to expect.
        expected: bool,
    },
    /// Processes of the run still alive after its server was gone, which the harness's
    /// teardown had to kill (what a plugin or a tool left behind).
    TeardownKilled { pids: Vec<u32> },
    /// The harness noticed something about its own observation (a stream ended, a poll
    /// failed). Kept so a check never mistakes a blind spot for silence.
    Harness { message: String },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventStream {
    Global,
    Directory,
}

/// How an event stream ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamEndCause {
    /// The body ended cleanly: the server closed the stream.
    Ended,
    /// The connection failed (a reset, a decoding error): the harness cannot tell whose.
    Broke { error: String },
    /// The harness closed it on purpose (fault injection in its own tests).
    Dropped { why: String },
}

impl EventStream {
    /// `/global/event` or `/event`.
    pub fn path(self) -> &'static str {
        match self {
            EventStream::Global => "/global/event",
            EventStream::Directory => "/event",
        }
    }
}

impl StreamEndCause {
    /// "/event stream ended", "/global/event stream broke (reset)", for messages.
    pub fn describe(&self, stream: EventStream) -> String {
        let name = stream.path();
        match self {
            StreamEndCause::Ended => format!("{name} stream ended"),
            StreamEndCause::Broke { error } => format!("{name} stream broke ({error})"),
            StreamEndCause::Dropped { why } => format!("{name} stream broke ({why})"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelRequestKind {
    /// A request without tools: title generation and the like.
    Title,
    /// An agent turn answered from the script.
    Turn,
    /// A turn past the end of the script: a violation.
    Unplanned,
}

/// How an answer of the fake model ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelAnswerEnd {
    /// All of it was sent (a whole stream, a document, or an HTTP error).
    Sent,
    /// The script cut it (`cut-mid-stream`).
    Cut,
    /// The client (opencode) closed the request before the answer's end: it gave up on
    /// it, or aborted the turn that asked.
    ClosedByClient,
    /// Still open when the fake model shut down at the end of the run.
    OpenAtShutdown,
}

/// One reading of the server process in `/proc`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceSample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub pid: u32,
    /// Extra project directories the scenario had played when the sample was taken.
    pub directories: u32,
    /// `Threads:` in `/proc/<pid>/status`.
    pub threads: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: u64,
    /// `VmRSS:` in `/proc/<pid>/status`, in KiB.
    pub rss_kb: u64,
}

impl ModelAnswerEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelAnswerEnd::Sent => "sent",
            ModelAnswerEnd::Cut => "cut by the script",
            ModelAnswerEnd::ClosedByClient => "closed by the client",
            ModelAnswerEnd::OpenAtShutdown => "still open at shutdown",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    Started,
    Finished,
    Failed,
}

/// What the process sampler saw. `tool` is a process of the run that is neither the
/// server nor an `opencode` binary: a tool's child, such as `sleep 100`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ProcessChange {
    Appeared(ProcessInfo),
    /// It replaced its program (`exec`): a fork of the server becomes `sleep 100`.
    Exec {
        pid: u32,
        cmdline: String,
        role: ProcessRole,
    },
    /// Its parent changed (re-parented to init or a subreaper when its parent died).
    Reparented { pid: u32, ppid: u32 },
    /// It became a zombie (exited, not yet reaped).
    Zombie { pid: u32 },
    Exited { pid: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub state: String,
    pub cmdline: String,
    pub role: ProcessRole,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProcessRole {
    /// The server the harness started.
    Server,
    /// Another `opencode` process of the run (a server a plugin started, a helper).
    Opencode,
    /// Anything else of the run: tool children.
    Tool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ServerChange {
    Spawned { pid: u32 },
    Listening { url: String },
    Healthy { version: String },
    Signalled { signal: String },
    Exited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
}

impl ModelRequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelRequestKind::Title => "title",
            ModelRequestKind::Turn => "turn",
            ModelRequestKind::Unplanned => "unplanned",
        }
    }
}

impl StepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Started => "started",
            StepPhase::Finished => "finished",
            StepPhase::Failed => "failed",
        }
    }
}

impl ProcessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRole::Server => "server",
            ProcessRole::Opencode => "opencode",
            ProcessRole::Tool => "tool",
        }
    }
}

impl ServerChange {
    /// "exited (killed by signal 15)", "signalled SIGTERM", for people.
    pub fn describe(&self) -> String {
        match self {
            ServerChange::Spawned { pid } => format!("spawned (pid {pid})"),
            ServerChange::Listening { url } => format!("listening on {url}"),
            ServerChange::Healthy { version } => format!("healthy (version {version})"),
            ServerChange::Signalled { signal } => format!("signalled SIG{signal}"),
            ServerChange::Exited { code, signal } => match (code, signal) {
                (_, Some(s)) => format!("exited (killed by signal {s})"),
                (Some(c), None) => format!("exited (exit code {c})"),
                (None, None) => "exited".into(),
            },
        }
    }
}

impl Timeline {
    pub fn new(scenario: &str, opencode_version: &str) -> Self {
        Timeline {
            format_version: TIMELINE_FORMAT_VERSION,
            scenario: scenario.to_string(),
            opencode_version: opencode_version.to_string(),
            ..Default::default()
        }
    }

    /// Appends an observation; `at_ms` must not go backwards (observers share one clock).
    pub fn push(&mut self, at_ms: f64, obs: Observation) -> u64 {
        let seq = self.entries.len() as u64;
        self.entries.push(Entry { seq, at_ms, obs });
        seq
    }

    /// Time of the last entry, or 0.
    pub fn end_ms(&self) -> f64 {
        self.entries.last().map_or(0.0, |e| e.at_ms)
    }

    pub fn events(&self, stream: EventStream) -> impl Iterator<Item = (&Entry, &str, &Value)> {
        self.entries.iter().filter_map(move |e| match &e.obs {
            Observation::Event {
                stream: s,
                event_type,
                properties,
                ..
            } if *s == stream => Some((e, event_type.as_str(), properties)),
            _ => None,
        })
    }
}

impl Observation {
    /// A short one-line description, for witnesses and terminal output.
    pub fn describe(&self) -> String {
        match self {
            Observation::Event {
                stream,
                event_type,
                properties,
                ..
            } => {
                let detail = event_detail(event_type, properties);
                let s = match stream {
                    EventStream::Global => "event",
                    EventStream::Directory => "dir-event",
                };
                format!("{s} {event_type}{detail}")
            }
            Observation::Status { status, .. } => format!("GET /session/status: {status}"),
            Observation::PendingPermissions { ids } if ids.is_empty() => "GET /permission: none pending".into(),
            Observation::PendingPermissions { ids } => format!("GET /permission: {}", ids.join(", ")),
            Observation::Http {
                method,
                path,
                status,
                error,
                ..
            } => match error {
                Some(e) => format!("{method} {path} -> no answer ({e})"),
                None => format!("{method} {path} -> {status}"),
            },
            Observation::Process(ProcessChange::Appeared(p)) => format!(
                "process {} appeared ({}, ppid {}, pgid {}): {}",
                p.pid,
                p.role.as_str(),
                p.ppid,
                p.pgid,
                p.cmdline
            ),
            Observation::Process(ProcessChange::Exec { pid, cmdline, role }) => {
                format!("process {pid} exec'd ({}): {cmdline}", role.as_str())
            }
            Observation::Process(ProcessChange::Reparented { pid, ppid }) => {
                format!("process {pid} re-parented to {ppid}")
            }
            Observation::Process(ProcessChange::Zombie { pid }) => format!("process {pid} is a zombie"),
            Observation::Process(ProcessChange::Exited { pid }) => format!("process {pid} exited"),
            Observation::ModelRequest {
                index, kind, turn, ..
            } => match turn {
                Some(t) => format!("model request #{index} ({}, turn {t})", kind.as_str()),
                None => format!("model request #{index} ({})", kind.as_str()),
            },
            Observation::ModelAnswerEnded { index, end } => {
                format!("model answer #{index} {}", end.as_str())
            }
            Observation::Resources(r) => format!(
                "server pid {} after {} directories{}: {} threads, {} fds, {:.1} MB RSS",
                r.pid,
                r.directories,
                r.label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default(),
                r.threads,
                r.fds,
                r.rss_kb as f64 / 1024.0
            ),
            Observation::Plugin { record } => format!("plugin record {record}"),
            Observation::Step {
                index,
                name,
                phase,
                note,
            } => match note {
                Some(n) => format!("step {} {name} {}: {n}", index + 1, phase.as_str()),
                None => format!("step {} {name} {}", index + 1, phase.as_str()),
            },
            Observation::Server(c) => format!("server {}", c.describe()),
            Observation::StreamEnded {
                stream,
                cause,
                expected,
            } => {
                let also = if *expected { " (a step was ending the server)" } else { "" };
                format!("{}{also}", cause.describe(*stream))
            }
            Observation::TeardownKilled { pids } => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!("teardown killed processes of the run still alive: pids {}", pids.join(", "))
            }
            Observation::Harness { message } => format!("harness: {message}"),
        }
    }
}

fn event_detail(event_type: &str, p: &Value) -> String {
    match crate::wire::decode(event_type, p) {
        crate::wire::Event::SessionStatus { status: Some(s) } => format!(" {s}"),
        crate::wire::Event::PartUpdated(part) => match (part.kind(), part.state()) {
            (Some("tool"), Some(st)) => format!(" tool {} {st}", part.tool().unwrap_or("?")),
            (Some(t), _) => format!(" {t}"),
            _ => String::new(),
        },
        crate::wire::Event::SessionError(err) => {
            err.name.map(|s| format!(" {s}")).unwrap_or_default()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    //! `describe` is the line a witness shows a person: each test reads that line back.

    use super::*;
    use crate::testing::TimelineBuilder;
    use serde_json::json;

    fn lines(b: &TimelineBuilder) -> Vec<String> {
        b.build().entries.iter().map(|e| e.obs.describe()).collect()
    }

    #[test]
    fn a_model_request_names_its_kind() {
        let mut b = TimelineBuilder::new();
        b.model_request(ModelRequestKind::Title)
            .model_request(ModelRequestKind::Turn)
            .model_request(ModelRequestKind::Unplanned);
        assert_eq!(
            lines(&b),
            [
                "model request #0 (title)",
                "model request #1 (turn)",
                "model request #2 (unplanned)",
            ]
        );
    }

    #[test]
    fn a_step_names_its_phase_and_counts_from_one() {
        let mut b = TimelineBuilder::new();
        b.step("prompt", StepPhase::Started)
            .step("prompt", StepPhase::Finished)
            .step("abort", StepPhase::Failed);
        assert_eq!(
            lines(&b),
            ["step 1 prompt started", "step 2 prompt finished", "step 3 abort failed"]
        );
    }

    #[test]
    fn a_process_names_its_role() {
        let mut b = TimelineBuilder::new();
        b.process_appears(100, 1, ProcessRole::Server, "opencode serve")
            .process_appears(101, 100, ProcessRole::Opencode, "opencode run")
            .exec(102, "sleep 100", ProcessRole::Tool);
        assert_eq!(
            lines(&b),
            [
                "process 100 appeared (server, ppid 1, pgid 100): opencode serve",
                "process 101 appeared (opencode, ppid 100, pgid 101): opencode run",
                "process 102 exec'd (tool): sleep 100",
            ]
        );
    }

    #[test]
    fn a_server_change_says_how_the_server_ended() {
        let mut b = TimelineBuilder::new();
        b.server_started()
            .push(Observation::Server(ServerChange::Signalled { signal: "TERM".into() }))
            .server_exited(None, Some(15))
            .server_exited(Some(1), None)
            .server_exited(None, None);
        assert_eq!(
            lines(&b),
            [
                "server spawned (pid 100)",
                "server healthy (version 0.0.0-test)",
                "server signalled SIGTERM",
                "server exited (killed by signal 15)",
                "server exited (exit code 1)",
                "server exited",
            ]
        );
    }

    #[test]
    fn a_pending_list_names_its_ids_or_says_none() {
        let mut b = TimelineBuilder::new();
        b.pending(&[]).pending(&["per_1", "per_2"]);
        assert_eq!(
            lines(&b),
            ["GET /permission: none pending", "GET /permission: per_1, per_2"]
        );
    }

    #[test]
    fn an_event_line_carries_the_part_and_the_errors_name() {
        let mut b = TimelineBuilder::new();
        b.tool_part("prt_1", "call_1", "running")
            .tool_part_with(json!({"id": "prt_2", "type": "text", "text": "hi"}))
            .tool_part_with(json!({"id": "prt_3", "type": "tool", "callID": "call_3"}))
            .session_error("ProviderAuthError")
            .event_status("busy");
        assert_eq!(
            lines(&b),
            [
                "event message.part.updated tool bash running",
                "event message.part.updated text",
                "event message.part.updated tool",
                "event session.error ProviderAuthError",
                "event session.status busy",
            ]
        );
    }
}
