//! A fluent builder of synthetic timelines, for the checks' tests (and anyone else's).
//!
//! ```
//! use oc_conform_checks::testing::TimelineBuilder;
//! let mut b = TimelineBuilder::new();
//! b.at(100.0).status("busy").event_status("busy");
//! b.at(150.0).idle_events();
//! let idle = b.last();
//! let tl = b.at(160.0).status("idle").build();
//! assert_eq!(tl.entries[idle as usize].at_ms, 150.0);
//! ```
//!
//! Every method records one observation (or a few, for `idle_events`) at the current time
//! set by [`TimelineBuilder::at`]. Events go to `/global/event`; after
//! [`TimelineBuilder::mirror`] they are recorded on the per-directory stream as well.

use crate::{
    EventStream, ModelRequestKind, Observation, ProcessChange, ProcessInfo, ProcessRole,
    ServerChange, StepPhase, Timeline,
};
use serde_json::{json, Value};

pub const SESSION: &str = "ses_test";
pub const SERVER_PID: u32 = 100;

#[derive(Debug, Clone)]
pub struct TimelineBuilder {
    tl: Timeline,
    now: f64,
    mirror: bool,
    model_requests: u32,
    step: usize,
}

impl Default for TimelineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TimelineBuilder {
    /// A timeline for session [`SESSION`] of a server with pid [`SERVER_PID`].
    pub fn new() -> Self {
        let mut tl = Timeline::new("synthetic", "0.0.0-test");
        tl.session_id = Some(SESSION.into());
        tl.directory = Some("/tmp/proj".into());
        tl.server_pid = Some(SERVER_PID);
        TimelineBuilder {
            tl,
            now: 0.0,
            mirror: false,
            model_requests: 0,
            step: 0,
        }
    }

    /// No session was ever created.
    pub fn without_session(&mut self) -> &mut Self {
        self.tl.session_id = None;
        self
    }

    /// Sets the time of the next observations (ms since the run started).
    pub fn at(&mut self, ms: f64) -> &mut Self {
        self.now = ms;
        self
    }

    /// Also record every later event on the per-directory `/event` stream.
    pub fn mirror(&mut self, on: bool) -> &mut Self {
        self.mirror = on;
        self
    }

    /// The seq of the last recorded entry.
    pub fn last(&self) -> u64 {
        self.tl.entries.last().map_or(0, |e| e.seq)
    }

    pub fn build(&self) -> Timeline {
        self.tl.clone()
    }

    /// Records any observation now.
    pub fn push(&mut self, obs: Observation) -> &mut Self {
        self.tl.push(self.now, obs);
        self
    }

    // --- events ------------------------------------------------------------------------

    fn raw_event(&mut self, stream: EventStream, event_type: &str, properties: Value) -> &mut Self {
        let session_id = crate::checks::view::props_session_id(&properties).map(str::to_string);
        self.push(Observation::Event {
            stream,
            event_type: event_type.into(),
            session_id,
            properties,
        })
    }

    /// An event on `/global/event` (and `/event` when mirroring).
    pub fn event(&mut self, event_type: &str, properties: Value) -> &mut Self {
        if self.mirror {
            self.raw_event(EventStream::Directory, event_type, properties.clone());
        }
        self.raw_event(EventStream::Global, event_type, properties)
    }

    /// An event on `/global/event` only, whatever the mirroring.
    pub fn global_event(&mut self, event_type: &str, properties: Value) -> &mut Self {
        self.raw_event(EventStream::Global, event_type, properties)
    }

    /// An event on the per-directory `/event` only.
    pub fn dir_event(&mut self, event_type: &str, properties: Value) -> &mut Self {
        self.raw_event(EventStream::Directory, event_type, properties)
    }

    /// `session.status` for the session.
    pub fn event_status(&mut self, status: &str) -> &mut Self {
        self.event(
            "session.status",
            json!({"sessionID": SESSION, "status": {"type": status}}),
        )
    }

    /// The deprecated `session.idle` for the session.
    pub fn event_idle(&mut self) -> &mut Self {
        self.event("session.idle", json!({"sessionID": SESSION}))
    }

    /// `session.status idle` then `session.idle`, the way opencode announces an idle.
    pub fn idle_events(&mut self) -> &mut Self {
        self.event_status("idle").event_idle()
    }

    /// `session.error` for the session.
    pub fn session_error(&mut self, name: &str) -> &mut Self {
        self.event(
            "session.error",
            json!({"sessionID": SESSION, "error": {"name": name, "data": {"message": name}}}),
        )
    }

    /// `message.part.updated` for a bash tool part of message `msg_a`.
    pub fn tool_part(&mut self, part_id: &str, call_id: &str, status: &str) -> &mut Self {
        self.tool_part_with(json!({
            "id": part_id, "sessionID": SESSION, "messageID": "msg_a", "type": "tool",
            "tool": "bash", "callID": call_id, "state": {"status": status},
        }))
    }

    /// `message.part.updated` with this part.
    pub fn tool_part_with(&mut self, part: Value) -> &mut Self {
        self.event(
            "message.part.updated",
            json!({"sessionID": SESSION, "part": part}),
        )
    }

    /// `message.updated` for an assistant message, with an error name if any.
    pub fn assistant_message(&mut self, msg_id: &str, error: Option<&str>) -> &mut Self {
        let mut info = json!({"id": msg_id, "sessionID": SESSION, "role": "assistant"});
        if let Some(name) = error {
            info["error"] = json!({"name": name, "data": {"message": "Aborted"}});
        }
        self.event(
            "message.updated",
            json!({"sessionID": SESSION, "info": info}),
        )
    }

    /// `message.updated` for a user message.
    pub fn user_message(&mut self, msg_id: &str) -> &mut Self {
        self.event(
            "message.updated",
            json!({"sessionID": SESSION, "info": {"id": msg_id, "sessionID": SESSION, "role": "user"}}),
        )
    }

    /// `permission.asked` for a tool call.
    pub fn permission_asked(&mut self, id: &str, call_id: &str) -> &mut Self {
        self.event(
            "permission.asked",
            json!({"id": id, "sessionID": SESSION, "permission": "bash", "patterns": ["echo hi"],
                   "tool": {"messageID": "msg_a", "callID": call_id}}),
        )
    }

    /// `permission.replied`.
    pub fn permission_replied(&mut self, id: &str, reply: &str) -> &mut Self {
        self.event(
            "permission.replied",
            json!({"sessionID": SESSION, "requestID": id, "reply": reply}),
        )
    }

    // --- HTTP --------------------------------------------------------------------------

    /// What `GET /session/status` says of the session, now.
    pub fn status(&mut self, status: &str) -> &mut Self {
        self.push(Observation::Status {
            session_id: SESSION.into(),
            status: status.into(),
        })
    }

    /// What `GET /permission` lists, now.
    pub fn pending(&mut self, ids: &[&str]) -> &mut Self {
        self.push(Observation::PendingPermissions {
            ids: ids.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// A request the harness made and its answer.
    pub fn http(&mut self, method: &str, path: &str, status: u16, body: Value) -> &mut Self {
        self.push(Observation::Http {
            method: method.into(),
            path: path.into(),
            step: None,
            status,
            body,
            elapsed_ms: 5.0,
            error: None,
        })
    }

    /// The final `GET /session/{id}/message`.
    pub fn stored_messages(&mut self, messages: Value) -> &mut Self {
        self.http("GET", &format!("/session/{SESSION}/message"), 200, messages)
    }

    // --- processes and the server ------------------------------------------------------

    /// A tool child of the server appeared (its own process group).
    pub fn tool_appears(&mut self, pid: u32, cmdline: &str) -> &mut Self {
        self.process_appears(pid, SERVER_PID, ProcessRole::Tool, cmdline)
    }

    pub fn process_appears(
        &mut self,
        pid: u32,
        ppid: u32,
        role: ProcessRole,
        cmdline: &str,
    ) -> &mut Self {
        self.push(Observation::Process(ProcessChange::Appeared(ProcessInfo {
            pid,
            ppid,
            pgid: pid,
            state: "S".into(),
            cmdline: cmdline.into(),
            role,
        })))
    }

    /// The process replaced its program: a fork of the server becoming `sleep 100`.
    pub fn exec(&mut self, pid: u32, cmdline: &str, role: ProcessRole) -> &mut Self {
        self.push(Observation::Process(ProcessChange::Exec {
            pid,
            cmdline: cmdline.into(),
            role,
        }))
    }

    pub fn exits(&mut self, pid: u32) -> &mut Self {
        self.push(Observation::Process(ProcessChange::Exited { pid }))
    }

    pub fn zombie(&mut self, pid: u32) -> &mut Self {
        self.push(Observation::Process(ProcessChange::Zombie { pid }))
    }

    pub fn reparented(&mut self, pid: u32, ppid: u32) -> &mut Self {
        self.push(Observation::Process(ProcessChange::Reparented {
            pid,
            ppid,
        }))
    }

    /// The supervisor spawned the server and saw it healthy.
    pub fn server_started(&mut self) -> &mut Self {
        self.push(Observation::Server(ServerChange::Spawned {
            pid: SERVER_PID,
        }))
        .push(Observation::Server(ServerChange::Healthy {
            version: "0.0.0-test".into(),
        }))
    }

    pub fn server_exited(&mut self, code: Option<i32>, signal: Option<i32>) -> &mut Self {
        self.push(Observation::Server(ServerChange::Exited { code, signal }))
    }

    // --- the rest ----------------------------------------------------------------------

    /// A request reached the fake model.
    pub fn model_request(&mut self, kind: ModelRequestKind) -> &mut Self {
        let index = self.model_requests;
        self.model_requests += 1;
        self.push(Observation::ModelRequest {
            index,
            kind,
            turn: None,
            has_tool_result: false,
            summary: String::new(),
        })
    }

    /// A record a fixture plugin wrote.
    pub fn plugin(&mut self, record: Value) -> &mut Self {
        self.push(Observation::Plugin { record })
    }

    /// The runner played a step (`teardown` is the harness's own final stop).
    pub fn step(&mut self, name: &str, phase: StepPhase) -> &mut Self {
        let index = self.step;
        self.step += 1;
        self.push(Observation::Step {
            index,
            name: name.into(),
            phase,
            note: None,
        })
    }

    pub fn harness(&mut self, message: &str) -> &mut Self {
        self.push(Observation::Harness {
            message: message.into(),
        })
    }
}

/// Whole runs as opencode produces them, shaped after recorded real streams.
pub mod stories {
    use super::{TimelineBuilder, SESSION};
    use crate::{ModelRequestKind, StepPhase};
    use serde_json::{json, Value};

    /// The pid of the story's `sleep 100`.
    pub const SLEEP_PID: u32 = 4242;

    const ABORTED_OUTPUT: &str =
        "(no output)\n\n<shell_metadata>\nUser aborted the command\n</shell_metadata>";

    fn tool_part(status: &str, output: Option<&str>) -> Value {
        let mut state = json!({"status": status, "input": {"command": "sleep 100"}});
        if let Some(o) = output {
            state["output"] = json!(o);
            state["metadata"] = json!({"output": o, "exit": null});
        }
        json!({"id": "prt_1", "sessionID": SESSION, "messageID": "msg_a", "type": "tool",
               "tool": "bash", "callID": "call_1", "state": state})
    }

    fn stored(part: Value, error: Option<&str>) -> Value {
        let mut info = json!({"id": "msg_a", "sessionID": SESSION, "role": "assistant"});
        if let Some(name) = error {
            info["error"] = json!({"name": name, "data": {"message": "Aborted"}});
        }
        json!([
            {"info": {"id": "msg_u", "sessionID": SESSION, "role": "user"},
             "parts": [{"type": "text", "text": "run it"}]},
            {"info": info, "parts": [{"type": "step-start"}, part]},
        ])
    }

    /// The start every story shares: server up, session created, prompt sent, the turn
    /// busy with `sleep 100` running from 1400 ms.
    fn turn_with_sleep() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.mirror(true);
        b.at(0.0).server_started();
        b.at(100.0)
            .http("POST", "/session", 200, json!({"id": SESSION}));
        b.at(120.0).http(
            "POST",
            &format!("/session/{SESSION}/prompt_async"),
            204,
            Value::Null,
        );
        b.at(1100.0).user_message("msg_u").status("busy");
        b.at(1150.0)
            .event_status("busy")
            .assistant_message("msg_a", None)
            .model_request(ModelRequestKind::Title);
        b.at(1300.0)
            .event_status("busy")
            .model_request(ModelRequestKind::Turn)
            .tool_part_with(tool_part("pending", None))
            .tool_part_with(tool_part("running", None));
        b.at(1400.0).tool_appears(SLEEP_PID, "sleep 100");
        b
    }

    /// An abort over HTTP that works (1.18.34): the sleep dies within milliseconds, the
    /// status goes idle once, the tool part ends as aborted, the run goes on 4 s more.
    pub fn healthy_abort() -> TimelineBuilder {
        let mut b = turn_with_sleep();
        b.at(1700.0).step("abort", StepPhase::Started).http(
            "POST",
            &format!("/session/{SESSION}/abort"),
            200,
            json!(true),
        );
        b.at(1710.0).exits(SLEEP_PID);
        b.at(1715.0)
            .session_error("MessageAbortedError")
            .idle_events();
        b.at(1730.0).status("idle");
        b.at(1750.0)
            .tool_part_with(tool_part("completed", Some(ABORTED_OUTPUT)))
            .assistant_message("msg_a", Some("MessageAbortedError"));
        b.at(6000.0).stored_messages(stored(
            tool_part("completed", Some(ABORTED_OUTPUT)),
            Some("MessageAbortedError"),
        ));
        b.at(6100.0).step("teardown", StepPhase::Started);
        b.at(6200.0).server_exited(None, Some(15));
        b
    }

    /// A plugin's abort through `ctx.client` on 1.15.13: the abort lands on a second
    /// instance, which publishes a phantom idle on `/global/event` only, while
    /// `GET /session/status` keeps saying busy and the sleep keeps running.
    pub fn phantom_idle() -> TimelineBuilder {
        let mut b = turn_with_sleep();
        b.at(1800.0)
            .plugin(json!({"event": "abort-sent", "via": "client", "status": 200, "error": null}));
        b.at(1870.0)
            .global_event(
                "session.status",
                json!({"sessionID": SESSION, "status": {"type": "idle"}}),
            )
            .global_event("session.idle", json!({"sessionID": SESSION}));
        b.at(7500.0)
            .stored_messages(stored(tool_part("running", None), None));
        b.at(7600.0).step("teardown", StepPhase::Started);
        b.at(7650.0).server_exited(None, Some(15));
        b.at(7700.0).exits(SLEEP_PID);
        b
    }
}
