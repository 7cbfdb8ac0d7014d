//! opencode's wire: the one place that knows how opencode spells its events and its HTTP
//! answers, and how that spelling differs between releases.
//!
//! The timeline keeps what opencode sent (an event's type and raw `properties`, an
//! answer's raw body), so a stored timeline is re-read with today's knowledge; everything
//! else (the observers, the steps, the checks, the reports) asks this module what a frame
//! or an answer means. Supporting a changed opencode API is a change here plus a test on
//! a recorded timeline of that release.
//!
//! Differences between releases, each decoded here and nowhere else:
//! - a permission request is announced as `permission.asked` (1.0.224 on) or
//!   `permission.updated` (before): both are [`Event::PermissionAsked`];
//! - `permission.replied` carries `{requestID, reply}` on current releases and
//!   `{permissionID, response}` on old ones: both are [`Event::PermissionReplied`], with
//!   the shape kept in [`ReplyShape`];
//! - `/global/event` wraps each event as `{directory, payload}` (a bare event is taken as
//!   is) and interleaves `sync` envelopes, which are not events;
//! - a permission is answered with `POST /permission/<id>/reply {reply}`, or before those
//!   routes `POST /session/<sid>/permissions/<id> {response}`;
//! - an error body names its error in `name` (opencode's `NamedError`) or `_tag`
//!   (Effect-style errors such as `PermissionNotFoundError`).

use crate::{Entry, EventStream, Observation};
use serde_json::Value;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// SSE frames

/// One event as the timeline keeps it: its type and raw properties.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub event_type: String,
    pub properties: Value,
}

/// Turns one SSE frame's `data` into an event; `None` when it is not an event (not JSON,
/// no type, or a `/global/event` `sync` envelope).
pub fn frame(stream: EventStream, data: &str) -> Option<RawEvent> {
    let v: Value = serde_json::from_str(data).ok()?;
    let payload = match stream {
        EventStream::Global => match v.get("payload") {
            Some(p) => p.clone(),
            None => v,
        },
        EventStream::Directory => v,
    };
    let event_type = payload.get("type")?.as_str()?.to_string();
    if event_type == "sync" {
        return None;
    }
    let properties = payload.get("properties").cloned().unwrap_or(Value::Null);
    Some(RawEvent {
        event_type,
        properties,
    })
}

/// The session an event is about, wherever its type keeps it.
pub fn session_of(properties: &Value) -> Option<&str> {
    [
        "/sessionID",
        "/info/sessionID",
        "/part/sessionID",
        "/message/sessionID",
    ]
    .iter()
    .find_map(|p| properties.pointer(p).and_then(Value::as_str))
}

// ---------------------------------------------------------------------------------------
// Typed events

/// What an event means, borrowed from its raw properties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// `session.status`: `busy`, `idle`, `retry` (`None` when the frame names none).
    SessionStatus { status: Option<&'a str> },
    /// `session.idle` (deprecated twin of `session.status` idle, still sent).
    SessionIdle,
    /// `session.error`.
    SessionError(ErrorInfo<'a>),
    /// `message.updated`.
    MessageUpdated(Message<'a>),
    /// `message.part.updated`.
    PartUpdated(Part<'a>),
    /// `permission.asked`, or `permission.updated` before 1.0.224.
    PermissionAsked(PermissionAsked<'a>),
    /// `permission.replied`, in either release's shape.
    PermissionReplied(PermissionReplied<'a>),
    /// `question.asked`: the question tool waits on the user.
    QuestionAsked { id: Option<&'a str> },
    /// `question.replied` or `question.rejected` (`rejected` says which).
    QuestionResolved { id: Option<&'a str>, rejected: bool },
    /// `command.executed`.
    CommandExecuted { name: Option<&'a str> },
    /// `session.created`: the new session's id, and its parent's when it is a child
    /// session (a subagent's, started by the `task` tool).
    SessionCreated { id: Option<&'a str>, parent: Option<&'a str> },
    ServerConnected,
    ServerHeartbeat,
    /// `server.instance.disposed` (and any other `*disposed` announcement).
    InstanceDisposed,
    Other,
}

/// Decodes an event from its type and properties.
pub fn decode<'a>(event_type: &str, p: &'a Value) -> Event<'a> {
    let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str);
    match event_type {
        "session.status" => Event::SessionStatus {
            status: s("/status/type"),
        },
        "session.idle" => Event::SessionIdle,
        "session.error" => Event::SessionError(ErrorInfo::of(p.get("error"))),
        "message.updated" => Event::MessageUpdated(Message::of(p.get("info"))),
        "message.part.updated" => Event::PartUpdated(Part(p.get("part").unwrap_or(&Value::Null))),
        "permission.asked" | "permission.updated" => Event::PermissionAsked(PermissionAsked {
            id: s("/id"),
            session: s("/sessionID"),
            call_id: s("/tool/callID").or_else(|| s("/callID")),
        }),
        "permission.replied" => Event::PermissionReplied(match (s("/requestID"), s("/permissionID")) {
            (Some(id), _) => PermissionReplied {
                id: Some(id),
                reply: s("/reply"),
                shape: ReplyShape::RequestReply,
            },
            (None, Some(id)) => PermissionReplied {
                id: Some(id),
                reply: s("/response"),
                shape: ReplyShape::PermissionResponse,
            },
            (None, None) => PermissionReplied {
                id: s("/id"),
                reply: s("/reply").or_else(|| s("/response")),
                shape: ReplyShape::Unknown,
            },
        }),
        "question.asked" => Event::QuestionAsked { id: s("/id") },
        "question.replied" | "question.rejected" => Event::QuestionResolved {
            id: s("/requestID").or_else(|| s("/id")),
            rejected: event_type == "question.rejected",
        },
        "command.executed" => Event::CommandExecuted { name: s("/name") },
        "session.created" => Event::SessionCreated {
            id: s("/info/id").or_else(|| s("/sessionID")),
            parent: s("/info/parentID"),
        },
        "server.connected" => Event::ServerConnected,
        "server.heartbeat" => Event::ServerHeartbeat,
        t if t.ends_with("disposed") => Event::InstanceDisposed,
        _ => Event::Other,
    }
}

impl<'a> Event<'a> {
    /// The idle/busy reading of a status event: `Some(true)` busy (`retry` is still busy),
    /// `Some(false)` idle (`session.status` idle or `session.idle`), `None` otherwise.
    pub fn busy(&self) -> Option<bool> {
        match self {
            Event::SessionStatus { status: Some(s) } => Some(is_busy(s)),
            Event::SessionIdle => Some(false),
            _ => None,
        }
    }

    /// The tool part this event updates, if it is one.
    pub fn tool_part(&self) -> Option<Part<'a>> {
        match self {
            Event::PartUpdated(p) if p.is_tool() => Some(*p),
            _ => None,
        }
    }

    /// The permission request this event is about (asked or replied).
    pub fn permission_id(&self) -> Option<&'a str> {
        match self {
            Event::PermissionAsked(a) => a.id,
            Event::PermissionReplied(r) => r.id,
            _ => None,
        }
    }
}

/// Where a pending request (a question or a permission) stands, as one event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStep<'a> {
    Asked(&'a str),
    /// Resolved in a way a waiting client sees: replied, rejected.
    Resolved(&'a str),
}

impl<'a> Event<'a> {
    /// What this event says of a pending request of `kind`, if anything.
    pub fn request_step(&self, kind: oc_conform_scenario::RequestKind) -> Option<RequestStep<'a>> {
        use oc_conform_scenario::RequestKind as K;
        match (kind, self) {
            (K::Question, Event::QuestionAsked { id }) => id.map(RequestStep::Asked),
            (K::Question, Event::QuestionResolved { id, .. }) => id.map(RequestStep::Resolved),
            (K::Permission, Event::PermissionAsked(a)) => a.id.map(RequestStep::Asked),
            (K::Permission, Event::PermissionReplied(r)) => r.id.map(RequestStep::Resolved),
            _ => None,
        }
    }
}

/// Whether an event of type `event_type` is what a scenario names `wanted` (a wait's
/// `until = { event = ... }`): the same type, or the other release's name for it
/// (`permission.updated` is a `permission.asked`).
pub fn names_event(event_type: &str, wanted: &str) -> bool {
    fn canonical(t: &str) -> &str {
        match t {
            "permission.updated" => "permission.asked",
            _ => t,
        }
    }
    canonical(event_type) == canonical(wanted)
}

/// The typed event of a timeline entry, if it is an event.
pub fn event_of(entry: &Entry) -> Option<Event<'_>> {
    match &entry.obs {
        Observation::Event {
            event_type,
            properties,
            ..
        } => Some(decode(event_type, properties)),
        _ => None,
    }
}

/// `retry` is still busy; anything but `idle` counts as not idle.
pub fn is_busy(status: &str) -> bool {
    status != "idle"
}

/// An error as opencode serializes it: `{name, data: {message}}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorInfo<'a> {
    pub name: Option<&'a str>,
    pub message: Option<&'a str>,
}

impl<'a> ErrorInfo<'a> {
    pub fn of(v: Option<&'a Value>) -> Self {
        let v = v.unwrap_or(&Value::Null);
        ErrorInfo {
            name: v.get("name").and_then(Value::as_str),
            message: v.pointer("/data/message").and_then(Value::as_str),
        }
    }
}

/// A message's info (`message.updated`'s `info`, or a stored message's `info`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Message<'a> {
    pub id: Option<&'a str>,
    pub role: Option<&'a str>,
    /// The error the message ended with (`MessageAbortedError`, ...).
    pub error: Option<&'a str>,
    /// An assistant message's user message (`parentID`).
    pub parent_id: Option<&'a str>,
    /// Why an assistant message's model step ended (`stop`, `tool-calls`, ...).
    pub finish: Option<&'a str>,
    pub present: bool,
}

impl<'a> Message<'a> {
    pub fn of(info: Option<&'a Value>) -> Self {
        let v = info.unwrap_or(&Value::Null);
        Message {
            id: v.get("id").and_then(Value::as_str),
            role: v.get("role").and_then(Value::as_str),
            error: v.pointer("/error/name").and_then(Value::as_str),
            parent_id: v.get("parentID").and_then(Value::as_str),
            finish: v.get("finish").and_then(Value::as_str),
            present: info.is_some_and(|i| !i.is_null()),
        }
    }
}

/// A message part (`message.part.updated`'s `part`, or a stored message's part).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part<'a>(pub &'a Value);

impl<'a> Part<'a> {
    fn s(&self, ptr: &str) -> Option<&'a str> {
        self.0.pointer(ptr).and_then(Value::as_str)
    }
    /// `tool`, `text`, `step-start`...
    pub fn kind(&self) -> Option<&'a str> {
        self.s("/type")
    }
    pub fn is_tool(&self) -> bool {
        self.kind() == Some("tool")
    }
    pub fn id(&self) -> Option<&'a str> {
        self.s("/id")
    }
    pub fn call_id(&self) -> Option<&'a str> {
        self.s("/callID")
    }
    pub fn message_id(&self) -> Option<&'a str> {
        self.s("/messageID")
    }
    /// The tool's name (`bash`).
    pub fn tool(&self) -> Option<&'a str> {
        self.s("/tool")
    }
    /// A tool part's state: `pending`, `running`, `completed`, `error`.
    pub fn state(&self) -> Option<&'a str> {
        self.s("/state/status")
    }
    /// The state, or `?` when the part names none.
    pub fn status(&self) -> &'a str {
        self.state().unwrap_or("?")
    }
    /// "`bash` (call_2)"
    pub fn describe(&self) -> String {
        let tool = self.tool().unwrap_or("?");
        match self.call_id() {
            Some(c) => format!("`{tool}` ({c})"),
            None => format!("`{tool}`"),
        }
    }
    /// Whether the part's error or output says it was aborted or interrupted.
    pub fn mentions_abort(&self) -> bool {
        ["/state/error", "/state/output", "/state/metadata/output"]
            .iter()
            .filter_map(|p| self.s(p))
            .any(|s| {
                let s = s.to_ascii_lowercase();
                s.contains("abort") || s.contains("interrupt")
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermissionAsked<'a> {
    pub id: Option<&'a str>,
    pub session: Option<&'a str>,
    /// The tool call the request holds.
    pub call_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermissionReplied<'a> {
    pub id: Option<&'a str>,
    /// `once`, `always`, `reject`.
    pub reply: Option<&'a str>,
    pub shape: ReplyShape,
}

/// How a `permission.replied` spelled itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// `{requestID, reply}`: current releases.
    RequestReply,
    /// `{permissionID, response}`: older releases.
    PermissionResponse,
    /// Neither: the id taken from `id`.
    Unknown,
}

// ---------------------------------------------------------------------------------------
// HTTP answers

/// What `GET /session/status` says of each session; a session absent from the map is idle.
pub fn status_map(body: &Value) -> BTreeMap<String, String> {
    body.as_object()
        .map(|m| {
            m.iter()
                .map(|(id, s)| {
                    let ty = s["type"].as_str().unwrap_or("unknown").to_string();
                    (id.clone(), ty)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Ids of the pending requests in a `GET /permission` answer, sorted.
pub fn pending_permission_ids(body: &Value) -> Vec<String> {
    pending_request_ids(body)
}

/// Ids of the pending requests in a `GET /permission` or `GET /question` answer (an
/// array of requests with `id`), sorted.
pub fn pending_request_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The permission a reply request answers: `POST /permission/<id>/reply` (current
/// releases) or `POST /session/<sid>/permissions/<id>` (older ones, still served).
pub fn permission_reply_target(path: &str) -> Option<&str> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["permission", id, "reply"] => Some(id),
        ["session", _, "permissions", id] => Some(id),
        _ => None,
    }
}

/// How to answer permission request `id` of `session`, newest form first:
/// `POST /permission/<id>/reply {"reply"}`, and for releases before the `/permission`
/// routes (the first answers 404) `POST /session/<sid>/permissions/<id> {"response"}`.
pub fn permission_reply_requests(session: &str, id: &str, reply: &str) -> [(String, Value); 2] {
    [
        (format!("/permission/{id}/reply"), serde_json::json!({ "reply": reply })),
        (
            format!("/session/{session}/permissions/{id}"),
            serde_json::json!({ "response": reply }),
        ),
    ]
}

/// The id of a session in a `POST /session` or `GET /session/{id}` answer.
pub fn session_id(body: &Value) -> Option<&str> {
    body["id"].as_str()
}

/// The session a `session.created` event announces (`info.id`); none for other events.
pub fn created_session<'a>(event_type: &str, properties: &'a Value) -> Option<&'a str> {
    (event_type == "session.created")
        .then(|| properties.pointer("/info/id").and_then(Value::as_str))
        .flatten()
}

/// The error an error answer names: `name` (opencode's errors) or `_tag` (Effect-style).
pub fn answer_error(body: &Value) -> ErrorInfo<'_> {
    ErrorInfo {
        name: body["name"].as_str().or_else(|| body["_tag"].as_str()),
        message: body.pointer("/data/message").and_then(Value::as_str),
    }
}

/// One message of a `GET /session/{id}/message` answer: `{info, parts}`.
#[derive(Debug, Clone, Copy)]
pub struct StoredMessage<'a> {
    pub info: Message<'a>,
    pub parts: &'a [Value],
}

impl<'a> StoredMessage<'a> {
    pub fn of(v: &'a Value) -> Self {
        StoredMessage {
            info: Message::of(v.get("info")),
            parts: v["parts"].as_array().map_or(&[][..], Vec::as_slice),
        }
    }
    pub fn parts(&self) -> impl DoubleEndedIterator<Item = Part<'a>> {
        self.parts.iter().map(Part)
    }
    /// The text of its first text part (what the user wrote, for a user message).
    pub fn text(&self) -> Option<&'a str> {
        self.parts()
            .find(|p| p.kind() == Some("text"))
            .and_then(|p| p.0.get("text").and_then(Value::as_str))
    }
}

// ---------------------------------------------------------------------------------------
// Feature probes: what a server offers, for a scenario's `[requires]`

/// The routes in a `GET /doc` answer (an OpenAPI document), parameter names blanked.
pub fn doc_routes(doc: &Value) -> Option<std::collections::BTreeSet<String>> {
    let paths = doc.get("paths")?.as_object()?;
    (!paths.is_empty()).then(|| paths.keys().map(|p| oc_conform_scenario::route_shape(p)).collect())
}

/// The top-level config keys in a `GET /doc` answer: the `Config` schema's properties.
pub fn doc_config_keys(doc: &Value) -> Option<std::collections::BTreeSet<String>> {
    let props = doc.pointer("/components/schemas/Config/properties")?.as_object()?;
    Some(props.keys().cloned().collect())
}

/// The tool ids in a `GET /experimental/tool/ids` answer (an array of strings).
pub fn tool_ids(body: &Value) -> Option<std::collections::BTreeSet<String>> {
    let ids = body.as_array()?;
    Some(ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// One tool as `GET /experimental/tool?provider=P&model=M` lists it: its id, description
/// and parameters as JSON Schema (measured the same on 1.15.13 and 1.18.34: an array of
/// `{id, description, parameters}`, plugin tools among the built-in ones).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub id: String,
    pub description: String,
    pub parameters: Value,
}

/// The tools of a `GET /experimental/tool` answer (`None`: not a list, an error body).
pub fn tool_list(body: &Value) -> Option<Vec<ToolInfo>> {
    let tools = body.as_array()?;
    Some(
        tools
            .iter()
            .filter_map(|t| {
                Some(ToolInfo {
                    id: t.get("id")?.as_str()?.to_string(),
                    description: t.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
                    parameters: t.get("parameters").cloned().unwrap_or(Value::Null),
                })
            })
            .collect(),
    )
}

/// What a server offers, from its `GET /doc` and `GET /experimental/tool/ids` answers
/// (`None` for a call that got no usable answer).
pub fn features(doc: Option<&Value>, tool_ids_body: Option<&Value>) -> oc_conform_scenario::Features {
    oc_conform_scenario::Features {
        routes: doc.and_then(doc_routes),
        tools: tool_ids_body.and_then(tool_ids),
        config_keys: doc.and_then(doc_config_keys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_command_and_question_events_are_told_apart() {
        let none = json!({});
        assert_eq!(decode("command.executed", &json!({"name": "review"})), Event::CommandExecuted { name: Some("review") });
        assert_eq!(decode("server.heartbeat", &none), Event::ServerHeartbeat);
        assert_eq!(decode("server.instance.disposed", &none), Event::InstanceDisposed);
        assert_eq!(decode("message.removed", &none), Event::Other);
        let q = json!({"requestID": "que_1"});
        assert_eq!(decode("question.replied", &q), Event::QuestionResolved { id: Some("que_1"), rejected: false });
        assert_eq!(decode("question.rejected", &q), Event::QuestionResolved { id: Some("que_1"), rejected: true });
        let asked = json!({"id": "per_1", "sessionID": "ses_1"});
        assert_eq!(decode("permission.asked", &asked).permission_id(), Some("per_1"));
    }

    #[test]
    fn an_entry_is_an_event_only_when_observed_on_a_stream() {
        let mut b = crate::testing::TimelineBuilder::new();
        b.event_idle().status("idle");
        let tl = b.build();
        assert_eq!(event_of(&tl.entries[0]), Some(Event::SessionIdle));
        assert_eq!(event_of(&tl.entries[1]), None);
    }

    #[test]
    fn a_tool_list_keeps_each_tools_schema() {
        let body = json!([
            {"id": "bash", "description": "Runs", "parameters": {"type": "object"}},
            {"id": "note", "parameters": {"type": "object", "required": ["t"]}},
            {"description": "no id"}
        ]);
        let tools = tool_list(&body).unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[1].id, "note");
        assert_eq!(tools[1].parameters["required"], json!(["t"]));
        assert_eq!(tool_list(&json!({"name": "UnknownError"})), None);
    }

    #[test]
    fn features_are_read_from_the_doc_and_the_tool_ids() {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {"/question": {}, "/question/{requestID}/reply": {}},
            "components": {"schemas": {"Config": {"properties": {"mcp": {}, "permission": {}}}}}
        });
        let ids = json!(["bash", "question"]);
        let f = features(Some(&doc), Some(&ids));
        assert!(f.routes.as_ref().unwrap().contains("/question/{}/reply"));
        assert!(f.tools.as_ref().unwrap().contains("question"));
        assert_eq!(f.config_keys.unwrap().len(), 2);
        // An error body, or nothing, is no answer (not an empty list).
        let err = json!({"name": "UnknownError"});
        let f = features(Some(&err), Some(&err));
        assert_eq!(f, oc_conform_scenario::Features::default());
        assert_eq!(features(None, None), oc_conform_scenario::Features::default());
    }

    #[test]
    fn global_envelopes_are_unwrapped_and_sync_is_no_event() {
        let d = json!({"directory": "/p", "payload": {"type": "session.idle", "properties": {"sessionID": "ses_1"}}});
        let ev = frame(EventStream::Global, &d.to_string()).unwrap();
        assert_eq!(ev.event_type, "session.idle");
        assert_eq!(session_of(&ev.properties), Some("ses_1"));
        let bare = json!({"type": "session.idle", "properties": {"sessionID": "ses_1"}});
        assert_eq!(frame(EventStream::Global, &bare.to_string()), Some(ev));
        let sync = json!({"directory": "/p", "payload": {"type": "sync", "properties": {}}});
        assert!(frame(EventStream::Global, &sync.to_string()).is_none());
        assert!(frame(EventStream::Directory, "not json").is_none());
    }

    #[test]
    fn session_is_found_in_parts_and_infos() {
        assert_eq!(session_of(&json!({"part": {"sessionID": "ses_2"}})), Some("ses_2"));
        assert_eq!(session_of(&json!({"info": {"sessionID": "ses_3"}})), Some("ses_3"));
        assert_eq!(session_of(&json!({})), None);
    }

    #[test]
    fn both_permission_announcements_are_one_asked() {
        let p = json!({"id": "per_1", "sessionID": "ses_1", "tool": {"callID": "call_1"}});
        let want = Event::PermissionAsked(PermissionAsked {
            id: Some("per_1"),
            session: Some("ses_1"),
            call_id: Some("call_1"),
        });
        assert_eq!(decode("permission.asked", &p), want);
        assert_eq!(decode("permission.updated", &p), want);
        assert!(names_event("permission.updated", "permission.asked"));
        assert!(names_event("permission.asked", "permission.asked"));
        assert!(!names_event("permission.replied", "permission.asked"));
        let old = json!({"id": "per_1", "sessionID": "ses_1", "callID": "call_1"});
        assert_eq!(decode("permission.updated", &old), want);
    }

    #[test]
    fn both_reply_shapes_are_one_replied() {
        let new = json!({"sessionID": "ses_1", "requestID": "per_1", "reply": "once"});
        let old = json!({"sessionID": "ses_1", "permissionID": "per_1", "response": "once"});
        for (p, shape) in [(new, ReplyShape::RequestReply), (old, ReplyShape::PermissionResponse)] {
            assert_eq!(
                decode("permission.replied", &p),
                Event::PermissionReplied(PermissionReplied {
                    id: Some("per_1"),
                    reply: Some("once"),
                    shape
                })
            );
        }
    }

    #[test]
    fn status_and_tool_parts() {
        let busy = json!({"status": {"type": "retry"}});
        assert_eq!(decode("session.status", &busy).busy(), Some(true));
        assert_eq!(decode("session.idle", &json!({})).busy(), Some(false));
        let part = json!({"part": {"type": "tool", "tool": "bash", "callID": "c", "state": {"status": "error", "error": "Tool execution aborted"}}});
        let p = decode("message.part.updated", &part).tool_part().unwrap();
        assert_eq!((p.status(), p.describe().as_str()), ("error", "`bash` (c)"));
        assert!(p.mentions_abort());
        let text = json!({"part": {"type": "text"}});
        assert!(decode("message.part.updated", &text).tool_part().is_none());
        assert_eq!(decode("server.instance.disposed", &json!({})), Event::InstanceDisposed);
    }

    #[test]
    fn answers() {
        let s = status_map(&json!({"ses_a": {"type": "busy"}, "ses_b": {"type": "retry", "attempt": 1}}));
        assert_eq!(s["ses_a"], "busy");
        assert_eq!(s["ses_b"], "retry");
        assert!(status_map(&json!({})).is_empty());
        assert_eq!(
            pending_permission_ids(&json!([{"id": "per_2"}, {"id": "per_1"}])),
            vec!["per_1", "per_2"]
        );
        for (path, _) in permission_reply_requests("ses_1", "per_1", "once") {
            assert_eq!(permission_reply_target(&path), Some("per_1"));
        }
        assert_eq!(permission_reply_target("/permission/per_1/reply"), Some("per_1"));
        assert_eq!(permission_reply_target("/session/ses_1/permissions/per_1?x=1"), Some("per_1"));
        assert_eq!(permission_reply_target("/session/ses_1/abort"), None);
        assert_eq!(answer_error(&json!({"_tag": "PermissionNotFoundError"})).name, Some("PermissionNotFoundError"));
        assert_eq!(answer_error(&json!({"name": "UnknownError", "data": {"message": "boom"}})).message, Some("boom"));
    }
}
