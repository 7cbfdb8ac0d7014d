//! What a scenario needs of the server it plays on, and what each kind of server offers.
//!
//! A scenario plays on a server of its own, on the run's shared server, or on a server
//! someone else started (`run --server-url`). Each step kind and each check kind states
//! what it requires by an exhaustive match (a new kind does not compile until it says),
//! each server mode states what it offers, and a scenario plays on a mode only when
//! every requirement is offered. The reasons given when it cannot are the requirements'
//! own words, so what the harness says and what it does cannot drift apart.

use crate::model::{CheckSpec, Condition, Scenario, Step};

/// Something a scenario can need of the server it plays on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// The server process's environment (read once, when the process starts).
    Environment,
    /// The scenario's fixture plugins, loaded from its project and able to reach the
    /// harness (they are handed its plugin log and run marker through the environment).
    Plugins,
    /// What the scenario's plugins write to the harness's plugin log.
    PluginLog,
    /// Signals sent to the server process.
    Signal,
    /// Stopping the server process (and its group).
    Stop,
    /// `POST /global/dispose`: every instance of the server, other scenarios' included.
    GlobalDispose,
    /// `POST /instance/dispose` of the scenario's own project directory.
    InstanceDispose,
    /// Knowing when the server process exits, and waiting for it.
    ServerExit,
    /// The server's whole process tree, and every process carrying the run's marker.
    ProcessTree,
    /// The scenario's tool processes (the server's descendants working for it).
    ToolProcesses,
}

impl Capability {
    /// Every capability, for tables and tests.
    pub const ALL: [Capability; 10] = [
        Capability::Environment,
        Capability::Plugins,
        Capability::PluginLog,
        Capability::Signal,
        Capability::Stop,
        Capability::GlobalDispose,
        Capability::InstanceDispose,
        Capability::ServerExit,
        Capability::ProcessTree,
        Capability::ToolProcesses,
    ];

    /// Controls the server process itself: only its owner may do that.
    pub fn is_process_control(self) -> bool {
        match self {
            Capability::Signal | Capability::Stop | Capability::GlobalDispose => true,
            Capability::Environment
            | Capability::Plugins
            | Capability::PluginLog
            | Capability::InstanceDispose
            | Capability::ServerExit
            | Capability::ProcessTree
            | Capability::ToolProcesses => false,
        }
    }
}

/// Where a scenario's server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerMode {
    /// Started for the scenario, in its sandbox, and stopped after it.
    Own,
    /// The run's shared server: started by the harness, used by one scenario at a time,
    /// each in its own project directory; stopped when the run ends.
    Shared,
    /// A server someone else started (`run --server-url`): never signalled nor stopped.
    Attached,
}

impl ServerMode {
    pub const ALL: [ServerMode; 3] = [ServerMode::Own, ServerMode::Shared, ServerMode::Attached];

    /// Whether a scenario on this mode can have `c`.
    pub fn offers(self, c: Capability) -> bool {
        match self {
            ServerMode::Own => true,
            // Per-process things belong to every scenario on it; per-directory things
            // (the project's plugins, its instance, tools working in it) are the scenario's.
            ServerMode::Shared => match c {
                Capability::Plugins
                | Capability::PluginLog
                | Capability::InstanceDispose
                | Capability::ToolProcesses => true,
                Capability::Environment
                | Capability::Signal
                | Capability::Stop
                | Capability::GlobalDispose
                | Capability::ServerExit
                | Capability::ProcessTree => false,
            },
            // Only HTTP reaches it: its processes are not the harness's to watch, and it
            // lacks the environment through which fixture plugins report.
            ServerMode::Attached => match c {
                Capability::InstanceDispose => true,
                Capability::Environment
                | Capability::Plugins
                | Capability::PluginLog
                | Capability::Signal
                | Capability::Stop
                | Capability::GlobalDispose
                | Capability::ServerExit
                | Capability::ProcessTree
                | Capability::ToolProcesses => false,
            },
        }
    }

    /// How a report names the mode.
    pub fn describe(self) -> &'static str {
        match self {
            ServerMode::Own => "a server of its own",
            ServerMode::Shared => "the run's shared server",
            ServerMode::Attached => "a server the harness did not start",
        }
    }
}

/// One thing a scenario needs, and why (in words a skip or no-share reason can use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub capability: Capability,
    pub reason: String,
}

fn need(capability: Capability, reason: impl Into<String>) -> Requirement {
    Requirement {
        capability,
        reason: reason.into(),
    }
}

/// What a step needs; the reasons say what the step does ("signals the server process").
pub fn required_by_step(step: &Step) -> Vec<Requirement> {
    match step {
        Step::Prompt { .. }
        | Step::Abort {}
        | Step::PermissionReply { .. }
        | Step::Command { .. } => vec![],
        Step::Wait { until, .. } => required_by_condition(until),
        Step::Http { method, path, .. } => match route(path) {
            "/global/dispose" => vec![need(
                Capability::GlobalDispose,
                format!("calls {method} /global/dispose, which disposes every instance of the server"),
            )],
            "/instance/dispose" => vec![need(
                Capability::InstanceDispose,
                format!("calls {method} /instance/dispose"),
            )],
            _ => vec![],
        },
        Step::Signal { .. } => vec![need(Capability::Signal, "signals the server process")],
        Step::Dispose {} => vec![need(
            Capability::GlobalDispose,
            "disposes every instance of the server (POST /global/dispose)",
        )],
        Step::StopServer {} => vec![need(Capability::Stop, "stops the server")],
        Step::SampleResources { .. } => vec![need(
            Capability::ProcessTree,
            "reads the server process's threads, fds and memory in /proc",
        )],
        // Each directory is a new instance of the server; what that costs is for a
        // sample-resources step to read (which needs the server to itself).
        Step::TurnsInNewDirectories { .. } => vec![],
        // Sessions of the scenario's project and clients of the event streams: what any
        // HTTP client of the server can do.
        Step::NewSession { .. }
        | Step::DeleteSession { .. }
        | Step::OpenSubscriber { .. }
        | Step::CloseSubscriber { .. } => vec![],
    }
}

/// A path without its query.
fn route(path: &str) -> &str {
    path.split('?').next().unwrap_or(path).trim_end_matches('/')
}

fn required_by_condition(c: &Condition) -> Vec<Requirement> {
    match c {
        Condition::Event(_)
        | Condition::Status(_)
        | Condition::ToolState(_)
        | Condition::ModelRequests(_)
        | Condition::ModelTurns(_)
        | Condition::QuietMs(_) => vec![],
        Condition::Process(p) => vec![need(
            Capability::ToolProcesses,
            format!("waits on the server's processes (process = {p:?})"),
        )],
        Condition::ProcessGone(p) => vec![need(
            Capability::ToolProcesses,
            format!("waits on the server's processes (process_gone = {p:?})"),
        )],
        Condition::Plugin(e) => vec![need(
            Capability::PluginLog,
            format!("waits on a plugin's record (plugin = {e:?})"),
        )],
        Condition::ServerExited(b) => vec![need(
            Capability::ServerExit,
            format!("waits on the server's processes (server_exited = {b})"),
        )],
    }
}

/// What a check needs to judge the timeline.
pub fn required_by_check(c: &CheckSpec) -> Vec<Requirement> {
    let name = c.name();
    match c {
        CheckSpec::StatusReachesIdle {}
        | CheckSpec::IdleEventMatchesStatus { .. }
        | CheckSpec::OneIdlePerBusy {}
        | CheckSpec::ToolEndsAborted {}
        | CheckSpec::QuietAfterIdle { .. }
        | CheckSpec::PermissionReplyTakesEffect { .. }
        | CheckSpec::NoModelRequests {}
        | CheckSpec::ErrorsAreTyped {}
        | CheckSpec::EventStreamsAgree {}
        | CheckSpec::SessionCreatedOnBothStreams {}
        | CheckSpec::ModelCallsNeverOverlap {}
        | CheckSpec::AnswersKeepTheirPrompt {}
        | CheckSpec::MessagesInAcceptedOrder { .. }
        | CheckSpec::SessionErrorReported { .. }
        | CheckSpec::MessagesStored { .. }
        | CheckSpec::SubagentsEndIdle { .. }
        | CheckSpec::ModelRequestsClosed { .. }
        | CheckSpec::RequestResolved { .. }
        | CheckSpec::RequestNotPending { .. }
        | CheckSpec::RequestNeverAsked { .. } => vec![],
        CheckSpec::ResourceGrowthPerDirectory { .. } => vec![need(
            Capability::ProcessTree,
            format!("check `{name}` reads samples of the server process, which it must have to itself"),
        )],
        // Judged from what is seen of the server: an exit the harness cannot see shows
        // as answers that stop coming, which the steps report.
        CheckSpec::ServerStaysUp {} => vec![],
        CheckSpec::IdleHasNoToolProcess { .. } => vec![need(
            Capability::ToolProcesses,
            format!("check `{name}` needs the server's process tree (the scenario's tool processes)"),
        )],
        CheckSpec::ProcessNeverSeen { command } => vec![need(
            Capability::ToolProcesses,
            format!("check `{name}` needs the server's process tree (process {command:?})"),
        )],
        CheckSpec::ServerTreeGone { .. } => vec![need(
            Capability::ProcessTree,
            format!("check `{name}` needs the server's process tree"),
        )],
        CheckSpec::PluginReported { .. } => vec![need(
            Capability::PluginLog,
            format!("check `{name}` reads what the scenario's plugins report"),
        )],
        CheckSpec::ServerUrlAgrees { .. } => vec![
            need(
                Capability::ProcessTree,
                format!("check `{name}` needs the listening line of a server the harness started for the scenario"),
            ),
            need(
                Capability::PluginLog,
                format!("check `{name}` reads what the server-url plugin reports"),
            ),
        ],
    }
}

/// Everything `s` needs, in file order: its plugins and environment, what it declares,
/// then each step's and each check's needs.
pub fn scenario_requirements(s: &Scenario) -> Vec<Requirement> {
    let mut all = Vec::new();
    if !s.plugins.is_empty() {
        all.push(need(
            Capability::Plugins,
            format!(
                "it loads plugins ({}): they could not report to the harness from a server it did not start",
                s.plugins.join(", ")
            ),
        ));
    }
    if !s.env.is_empty() {
        let keys: Vec<&str> = s.env.keys().map(String::as_str).collect();
        all.push(need(
            Capability::Environment,
            format!("it sets the server's environment ({})", keys.join(", ")),
        ));
    }
    if s.needs_process_control == Some(true) {
        for c in [Capability::Signal, Capability::Stop] {
            all.push(need(c, "it declares needs_process_control = true"));
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        all.extend(required_by_step(step).into_iter().map(|r| Requirement {
            reason: format!("step {} {}", i + 1, r.reason),
            ..r
        }));
    }
    for c in &s.checks {
        all.extend(required_by_check(c));
    }
    all
}

/// The requirements of `s` that `mode` does not offer (empty: it can play there).
pub fn unmet_requirements(mode: ServerMode, s: &Scenario) -> Vec<Requirement> {
    scenario_requirements(s)
        .into_iter()
        .filter(|r| !mode.offers(r.capability))
        .collect()
}

/// Why `s` cannot play on `mode`, each reason once, in file order (empty: it can).
pub fn unmet(mode: ServerMode, s: &Scenario) -> Vec<String> {
    let mut why: Vec<String> = Vec::new();
    for r in unmet_requirements(mode, s) {
        if !why.contains(&r.reason) {
            why.push(r.reason);
        }
    }
    why
}

#[cfg(test)]
mod tests;
