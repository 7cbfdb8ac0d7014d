//! Derived views over a timeline, shared by every check.
//!
//! A check never walks raw entries to decide what "idle", "busy" or "alive" means: it asks
//! a view, so all checks agree on it. The views:
//! - [`StatusHistory`]: what `GET /session/status` said of the session, as a function of time;
//! - [`signals`]: the session's busy and idle transitions on one event stream, with a
//!   `session.status` idle and its deprecated `session.idle` twin counted as one;
//! - [`lives`]: each process of the run from `Appeared` to `Exited` (or `Zombie`);
//! - [`tool_part_updates`], [`stored_messages`], [`server_exit`], [`teardown_started`].

use crate::wire::{self, Event, Message, Part, StoredMessage};
use crate::{
    Entry, EventStream, Observation, ProcessChange, ProcessInfo, ProcessRole, ServerChange,
    StepPhase, Timeline,
};
pub use crate::wire::{is_busy, session_of as props_session_id};

/// A `session.idle` this close to a `session.status` idle (either order, no busy between)
/// is the same transition announced twice, not a second idle.
pub const PAIR_WINDOW_MS: f64 = 250.0;

/// `812 ms`, the way every message spells a time.
pub fn ms(t: f64) -> String {
    format!("{t:.0} ms")
}

/// Sorted, de-duplicated entry seqs.
pub fn witness(seqs: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut w: Vec<u64> = seqs.into_iter().collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// Joins problem descriptions, keeping the message readable when there are many.
pub fn join_problems(problems: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        s.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    s
}

/// What the harness said about its own blind spots, as a suffix for an Error message.
pub fn harness_notes(tl: &Timeline) -> String {
    let notes: Vec<String> = tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Harness { message } => Some(message.clone()),
            Observation::StreamEnded { .. } => Some(e.obs.describe()),
            _ => None,
        })
        .take(3)
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" (the harness noted: {})", notes.join("; "))
    }
}

/// An HTTP path without its query string.
pub fn path_only(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// The first `max` characters of a command line, for messages.
pub fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

// ---------------------------------------------------------------------------------------
// Events

/// The session an event is about: what the harness extracted, else the usual properties.
pub fn event_session_id(entry: &Entry) -> Option<&str> {
    match &entry.obs {
        Observation::Event {
            session_id,
            properties,
            ..
        } => session_id
            .as_deref()
            .or_else(|| props_session_id(properties)),
        _ => None,
    }
}

/// One event frame, borrowed from its entry.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub entry: &'a Entry,
    pub event_type: &'a str,
    pub props: &'a serde_json::Value,
}

impl<'a> EventRef<'a> {
    pub fn seq(&self) -> u64 {
        self.entry.seq
    }
    pub fn at(&self) -> f64 {
        self.entry.at_ms
    }
    /// What the event means (decoded from its raw properties by [`wire`]).
    pub fn event(&self) -> Event<'a> {
        wire::decode(self.event_type, self.props)
    }
}

/// Every event of `stream`, in order.
pub fn stream_events(tl: &Timeline, stream: EventStream) -> impl Iterator<Item = EventRef<'_>> {
    tl.events(stream)
        .map(|(entry, event_type, props)| EventRef {
            entry,
            event_type,
            props,
        })
}

/// The events of `stream` that are about session `sid`.
pub fn session_events<'a>(
    tl: &'a Timeline,
    sid: &'a str,
    stream: EventStream,
) -> impl Iterator<Item = EventRef<'a>> + 'a {
    stream_events(tl, stream).filter(move |e| event_session_id(e.entry) == Some(sid))
}

/// An event stream the server ended while it was alive: the end, and the health answer
/// after it that shows the server was still there. Events after the end are unknown.
#[derive(Debug, Clone, Copy)]
pub struct StreamHole<'a> {
    pub stream: EventStream,
    pub end: &'a Entry,
    pub health: &'a Entry,
}

/// Every stream the server ended, unasked, while `GET /global/health` still answered.
pub fn stream_holes(tl: &Timeline) -> Vec<StreamHole<'_>> {
    let mut out = Vec::new();
    for (i, end) in tl.entries.iter().enumerate() {
        let Observation::StreamEnded {
            stream,
            cause: crate::StreamEndCause::Ended,
            expected: false,
        } = &end.obs
        else {
            continue;
        };
        // The observer asks for health right after the end; that answer is the witness.
        let health = tl.entries[i + 1..].iter().find(|e| {
            matches!(&e.obs, Observation::Http { method, path, step: None, .. }
                if method == "GET" && path_only(path) == "/global/health")
        });
        if let Some(health) = health.filter(|h| {
            matches!(&h.obs, Observation::Http { status, .. } if (200..300).contains(status))
        }) {
            out.push(StreamHole {
                stream: *stream,
                end,
                health,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Status as a function of time

#[derive(Debug, Clone, Copy)]
pub struct StatusPoint<'a> {
    pub entry: &'a Entry,
    pub status: &'a str,
}

impl StatusPoint<'_> {
    pub fn is_busy(&self) -> bool {
        is_busy(self.status)
    }
    pub fn at(&self) -> f64 {
        self.entry.at_ms
    }
    pub fn seq(&self) -> u64 {
        self.entry.seq
    }
}

/// What `GET /session/status` said of one session, change by change.
#[derive(Debug, Clone, Default)]
pub struct StatusHistory<'a> {
    pub points: Vec<StatusPoint<'a>>,
}

/// An idle stretch of the HTTP status: the idle point that ended a busy one, and the busy
/// point that ended the stretch (if any).
#[derive(Debug, Clone, Copy)]
pub struct IdleStretch<'a> {
    pub idle: StatusPoint<'a>,
    pub until: Option<StatusPoint<'a>>,
}

impl<'a> StatusHistory<'a> {
    pub fn of(tl: &'a Timeline, sid: &str) -> Self {
        let points = tl
            .entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::Status { session_id, status } if session_id == sid => {
                    Some(StatusPoint {
                        entry: e,
                        status: status.as_str(),
                    })
                }
                _ => None,
            })
            .collect();
        StatusHistory { points }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The status in effect at `t` (the last change at or before it).
    pub fn at(&self, t: f64) -> Option<StatusPoint<'a>> {
        self.points.iter().rev().find(|p| p.at() <= t).copied()
    }

    /// The first change after `t` (strictly) that satisfies `pred`.
    pub fn next_after(
        &self,
        t: f64,
        pred: impl Fn(&StatusPoint) -> bool,
    ) -> Option<StatusPoint<'a>> {
        self.points.iter().find(|p| p.at() > t && pred(p)).copied()
    }

    /// Idle statuses that ended a busy one, each with the busy that ended it in turn.
    pub fn idle_stretches(&self) -> Vec<IdleStretch<'a>> {
        let mut out = Vec::new();
        for (i, p) in self.points.iter().enumerate() {
            if p.is_busy() || i == 0 || !self.points[i - 1].is_busy() {
                continue;
            }
            let until = self.points[i + 1..].iter().find(|q| q.is_busy()).copied();
            out.push(IdleStretch { idle: *p, until });
        }
        out
    }

    /// The last busy status, and the idle that ended it if one did.
    pub fn final_turn(&self) -> Option<(StatusPoint<'a>, Option<StatusPoint<'a>>)> {
        let i = self.points.iter().rposition(|p| p.is_busy())?;
        let idle = self.points[i + 1..].iter().find(|p| !p.is_busy()).copied();
        Some((self.points[i], idle))
    }
}

/// When the status poller was blind: from a harness note "status poll failed ..." to the
/// next "status poll answered again" (or the end of the run). A status that did not change
/// there may simply not have been seen.
pub fn status_poll_blind(tl: &Timeline) -> Vec<(&Entry, Option<&Entry>)> {
    let mut out: Vec<(&Entry, Option<&Entry>)> = Vec::new();
    for e in &tl.entries {
        let Observation::Harness { message } = &e.obs else {
            continue;
        };
        let open = out.last().is_some_and(|(_, until)| until.is_none());
        if message.starts_with("status poll failed") && !open {
            out.push((e, None));
        } else if message.starts_with("status poll answered again") && open {
            if let Some(last) = out.last_mut() {
                last.1 = Some(e);
            }
        }
    }
    out
}

/// The first blind spot of the status poller overlapping `[from, to]`.
pub fn status_poll_blind_during(tl: &Timeline, from: f64, to: f64) -> Option<&Entry> {
    status_poll_blind(tl)
        .into_iter()
        .find(|(start, until)| {
            start.at_ms <= to && until.map_or(f64::INFINITY, |u| u.at_ms) >= from
        })
        .map(|(start, _)| start)
}

// ---------------------------------------------------------------------------------------
// Busy and idle on an event stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Busy,
    Idle,
}

/// One busy or idle transition announced on an event stream.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    pub phase: Phase,
    pub first: EventRef<'a>,
    /// The twin announcement of the same idle (`session.idle` next to `session.status`).
    pub paired: Option<EventRef<'a>>,
}

impl Signal<'_> {
    pub fn seq(&self) -> u64 {
        self.first.seq()
    }
    pub fn at(&self) -> f64 {
        self.first.at()
    }
    pub fn seqs(&self) -> impl Iterator<Item = u64> {
        std::iter::once(self.first.seq()).chain(self.paired.map(|p| p.seq()))
    }
    /// `session.status idle`, or `session.idle` when that came alone.
    pub fn describe(&self) -> String {
        match self.phase {
            Phase::Busy => format!(
                "session.status {} event at {}",
                match self.first.event() {
                    Event::SessionStatus { status: Some(s) } => s,
                    _ => "busy",
                },
                ms(self.at())
            ),
            Phase::Idle if self.first.event_type == "session.idle" && self.paired.is_none() => {
                format!("session.idle event at {}", ms(self.at()))
            }
            Phase::Idle => format!("session.status idle event at {}", ms(self.at())),
        }
    }
}

/// The session's busy and idle transitions on `stream`, in order. A `session.status` idle
/// and a `session.idle` within [`PAIR_WINDOW_MS`] of each other with no busy between are
/// one idle; consecutive busy signals are kept (opencode sends busy twice per turn).
pub fn signals<'a>(tl: &'a Timeline, sid: &'a str, stream: EventStream) -> Vec<Signal<'a>> {
    let mut out: Vec<Signal<'a>> = Vec::new();
    for ev in session_events(tl, sid, stream) {
        let phase = match ev.event().busy() {
            Some(true) => Phase::Busy,
            Some(false) => Phase::Idle,
            None => continue,
        };
        if phase == Phase::Idle {
            if let Some(last) = out.last_mut() {
                if last.phase == Phase::Idle
                    && last.paired.is_none()
                    && last.first.event_type != ev.event_type
                    && ev.at() - last.at() <= PAIR_WINDOW_MS
                {
                    last.paired = Some(ev);
                    continue;
                }
            }
        }
        out.push(Signal {
            phase,
            first: ev,
            paired: None,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Processes

/// One process of the run, from when the sampler first saw it to when it exited.
#[derive(Debug, Clone)]
pub struct Life<'a> {
    /// Borrowed from the `Appeared` entry; owned when an `Exec` changed the program.
    pub info: std::borrow::Cow<'a, ProcessInfo>,
    pub appeared: &'a Entry,
    /// `Exited` or `Zombie`: a zombie no longer runs anything.
    pub ended: Option<&'a Entry>,
    pub reparented: Vec<(&'a Entry, u32)>,
}

impl Life<'_> {
    pub fn alive_at(&self, t: f64) -> bool {
        self.appeared.at_ms <= t
            && match self.ended {
                Some(e) => e.at_ms > t,
                None => true,
            }
    }
    pub fn end_ms(&self) -> Option<f64> {
        self.ended.map(|e| e.at_ms)
    }
    /// "`sleep 100` (pid 4242)"
    pub fn label(&self) -> String {
        format!("`{}` (pid {})", short(&self.info.cmdline), self.info.pid)
    }
    /// The entry that shows it was orphaned (parent 1), if any.
    pub fn orphaned(&self) -> Option<&Entry> {
        self.reparented
            .iter()
            .find(|(_, ppid)| *ppid == 1)
            .map(|(e, _)| *e)
            .or((self.info.ppid == 1).then_some(self.appeared))
    }
    /// What became of its parent, for messages: "re-parented to 1 at 5200 ms (an orphan)".
    pub fn parent_note(&self) -> Option<String> {
        if let Some((e, ppid)) = self.reparented.last() {
            let orphan = if *ppid == 1 { " (an orphan)" } else { "" };
            return Some(format!("re-parented to {ppid} at {}{orphan}", ms(e.at_ms)));
        }
        (self.info.ppid == 1).then(|| "an orphan (ppid 1) when first seen".to_string())
    }
}

/// The lives of all processes the sampler saw, in order of appearance. A pid seen again
/// after it exited (or with another command line) starts a new life.
pub fn lives(tl: &Timeline) -> Vec<Life<'_>> {
    let mut out: Vec<Life> = Vec::new();
    let mut open: std::collections::HashMap<u32, usize> = Default::default();
    for e in &tl.entries {
        let Observation::Process(change) = &e.obs else {
            continue;
        };
        match change {
            ProcessChange::Appeared(info) => {
                if let Some(&i) = open.get(&info.pid) {
                    if out[i].info.cmdline == info.cmdline {
                        continue;
                    }
                    out[i].ended = Some(e);
                }
                open.insert(info.pid, out.len());
                out.push(Life {
                    info: std::borrow::Cow::Borrowed(info),
                    appeared: e,
                    ended: None,
                    reparented: vec![],
                });
            }
            // A fork seen before its exec: the old program's life ends, the new one's
            // begins (a fork of the server that becomes `sleep 100` is a tool).
            ProcessChange::Exec { pid, cmdline, role } => {
                let Some(&i) = open.get(pid) else { continue };
                out[i].ended = Some(e);
                let info = ProcessInfo {
                    cmdline: cmdline.clone(),
                    role: *role,
                    ppid: out[i]
                        .reparented
                        .last()
                        .map_or(out[i].info.ppid, |(_, p)| *p),
                    ..out[i].info.as_ref().clone()
                };
                open.insert(*pid, out.len());
                out.push(Life {
                    info: std::borrow::Cow::Owned(info),
                    appeared: e,
                    ended: None,
                    reparented: vec![],
                });
            }
            ProcessChange::Reparented { pid, ppid } => {
                if let Some(&i) = open.get(pid) {
                    out[i].reparented.push((e, *ppid));
                }
            }
            ProcessChange::Zombie { pid } | ProcessChange::Exited { pid } => {
                if let Some(i) = open.remove(pid) {
                    out[i].ended = Some(e);
                }
            }
        }
    }
    out
}

/// The pid of the server the harness started, from the header or the supervisor.
pub fn server_pid(tl: &Timeline) -> Option<u32> {
    tl.server_pid.or_else(|| {
        tl.entries.iter().find_map(|e| match &e.obs {
            Observation::Server(ServerChange::Spawned { pid }) => Some(*pid),
            _ => None,
        })
    })
}

fn is_server_life(tl: &Timeline, life: &Life) -> bool {
    life.info.role == ProcessRole::Server || Some(life.info.pid) == server_pid(tl)
}

/// Lives of the run other than the server itself (tools, other `opencode` processes).
pub fn non_server_lives<'a>(tl: &'a Timeline) -> Vec<Life<'a>> {
    lives(tl)
        .into_iter()
        .filter(|l| !is_server_life(tl, l))
        .collect()
}

/// When the server process exited: the supervisor's `Exited`, or the sampler seeing the
/// server's pid exit (or turn zombie), whichever came first.
pub fn server_exit(tl: &Timeline) -> Option<&Entry> {
    let supervisor = tl
        .entries
        .iter()
        .find(|e| matches!(e.obs, Observation::Server(ServerChange::Exited { .. })));
    let sampler = lives(tl)
        .into_iter()
        .filter(|l| is_server_life(tl, l))
        .filter_map(|l| l.ended)
        .min_by_key(|e| e.seq);
    match (supervisor, sampler) {
        (Some(a), Some(b)) => Some(if a.seq <= b.seq { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// "exit code 1", "signal 9", for messages.
pub fn describe_exit(e: &Entry) -> String {
    match &e.obs {
        Observation::Server(ServerChange::Exited { code, signal }) => match (code, signal) {
            (_, Some(s)) => format!("killed by signal {s}"),
            (Some(c), None) => format!("exit code {c}"),
            (None, None) => "exited".into(),
        },
        _ => "its pid exited".into(),
    }
}

/// True when something says the server was running at some point.
pub fn server_was_seen(tl: &Timeline) -> bool {
    tl.entries.iter().any(|e| match &e.obs {
        Observation::Server(ServerChange::Exited { .. }) => false,
        Observation::Server(_) => true,
        Observation::Process(ProcessChange::Appeared(p)) => p.role == ProcessRole::Server,
        _ => false,
    })
}

/// The runner's `teardown` step starting: from here on, the harness is stopping things.
pub fn teardown_started(tl: &Timeline) -> Option<&Entry> {
    tl.entries.iter().find(|e| {
        matches!(&e.obs, Observation::Step { name, phase: StepPhase::Started, .. } if name == "teardown")
    })
}

// ---------------------------------------------------------------------------------------
// Tool parts and messages

/// One `message.part.updated` for a tool part.
#[derive(Debug, Clone, Copy)]
pub struct ToolPart<'a> {
    pub event: EventRef<'a>,
    pub part: Part<'a>,
}

impl<'a> ToolPart<'a> {
    pub fn status(&self) -> &'a str {
        self.part.status()
    }
    pub fn call_id(&self) -> Option<&'a str> {
        self.part.call_id()
    }
    pub fn message_id(&self) -> Option<&'a str> {
        self.part.message_id()
    }
}

/// Tool part updates for the session on `stream`, in order.
pub fn tool_part_updates<'a>(
    tl: &'a Timeline,
    sid: &'a str,
    stream: EventStream,
) -> Vec<ToolPart<'a>> {
    session_events(tl, sid, stream)
        .filter_map(|event| {
            let part = event.event().tool_part()?;
            Some(ToolPart { event, part })
        })
        .collect()
}

/// `message.updated` infos for the session on `stream`, in order.
pub fn message_updates<'a>(
    tl: &'a Timeline,
    sid: &'a str,
    stream: EventStream,
) -> Vec<(EventRef<'a>, Message<'a>)> {
    session_events(tl, sid, stream)
        .filter_map(|e| match e.event() {
            Event::MessageUpdated(info) if info.present => Some((e, info)),
            _ => None,
        })
        .collect()
}

/// The last `GET /session/{sid}/message` the harness recorded: the stored truth.
#[derive(Debug, Clone)]
pub struct StoredMessages<'a> {
    pub entry: &'a Entry,
    pub status: u16,
    /// The `[{info, parts}]` array, when the answer was a 2xx array.
    pub messages: Option<Vec<StoredMessage<'a>>>,
}

pub fn stored_messages<'a>(tl: &'a Timeline, sid: &str) -> Option<StoredMessages<'a>> {
    let want = format!("/session/{sid}/message");
    tl.entries.iter().rev().find_map(|e| match &e.obs {
        Observation::Http {
            method,
            path,
            status,
            body,
            ..
        } if method.eq_ignore_ascii_case("GET") && path_only(path) == want => {
            Some(StoredMessages {
                entry: e,
                status: *status,
                messages: body
                    .as_array()
                    .filter(|_| (200..300).contains(status))
                    .map(|a| a.iter().map(StoredMessage::of).collect()),
            })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::StreamEndCause;

    #[test]
    fn up_to_three_problems_are_shown_and_the_rest_counted() {
        let problems = |n: usize| -> Vec<String> { (1..=n).map(|i| format!("p{i}")).collect() };
        assert_eq!(join_problems(&problems(1)), "p1");
        assert_eq!(join_problems(&problems(3)), "p1; p2; p3");
        assert_eq!(join_problems(&problems(4)), "p1; p2; p3; and 1 more");
        assert_eq!(join_problems(&problems(5)), "p1; p2; p3; and 2 more");
    }

    #[test]
    fn next_after_is_strictly_after() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").at(500.0).status("idle").at(900.0).status("busy");
        let tl = b.build();
        let hist = StatusHistory::of(&tl, crate::testing::SESSION);
        let at = |p: Option<StatusPoint>| p.map(|p| p.at());
        assert_eq!(at(hist.next_after(100.0, |p| p.is_busy())), Some(900.0));
        assert_eq!(at(hist.next_after(99.0, |p| p.is_busy())), Some(100.0));
        assert_eq!(at(hist.next_after(500.0, |p| !p.is_busy())), None);
    }

    fn signal_seqs(b: &TimelineBuilder) -> Vec<Vec<u64>> {
        let tl = b.build();
        let sigs = signals(&tl, crate::testing::SESSION, EventStream::Global);
        sigs.iter().map(|s| s.seqs().collect()).collect()
    }

    #[test]
    fn an_idle_announced_twice_is_one_signal_with_both_seqs() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).event_status("busy");
        b.at(300.0).idle_events();
        assert_eq!(signal_seqs(&b), [vec![0], vec![1, 2]]);

        // The twin PAIR_WINDOW_MS + 1 ms later is a second idle.
        let mut b = TimelineBuilder::new();
        b.at(100.0).event_status("busy");
        b.at(300.0).event_status("idle").at(300.0 + PAIR_WINDOW_MS + 1.0).event_idle();
        assert_eq!(signal_seqs(&b), [vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_signal_is_described_by_the_event_that_announced_it() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).event_status("busy");
        b.at(300.0).idle_events();
        b.at(400.0).event_status("busy");
        b.at(600.0).event_idle();
        b.at(700.0).event_status("busy");
        // The deprecated twin first, then the status: still the status's idle.
        b.at(900.0).event_idle().at(950.0).event_status("idle");
        b.at(1000.0).event_status("busy");
        b.at(1200.0).event_status("idle");
        let tl = b.build();
        let described: Vec<String> = signals(&tl, crate::testing::SESSION, EventStream::Global)
            .iter()
            .map(Signal::describe)
            .collect();
        assert_eq!(
            described,
            [
                "session.status busy event at 100 ms",
                "session.status idle event at 300 ms",
                "session.status busy event at 400 ms",
                "session.idle event at 600 ms",
                "session.status busy event at 700 ms",
                "session.status idle event at 900 ms",
                "session.status busy event at 1000 ms",
                "session.status idle event at 1200 ms",
            ]
        );
    }

    #[test]
    fn a_process_is_an_orphan_once_its_parent_is_1() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).tool_appears(200, "sleep 100").tool_appears(201, "sleep 200");
        b.process_appears(202, 1, ProcessRole::Tool, "sleep 300");
        b.at(1000.0).reparented(200, 1);
        let reparented = b.last();
        b.at(1100.0).reparented(201, 50);
        let tl = b.build();
        let lives = lives(&tl);
        let seen: Vec<(Option<u64>, Option<String>)> = lives
            .iter()
            .map(|l| (l.orphaned().map(|e| e.seq), l.parent_note()))
            .collect();
        assert_eq!(
            seen,
            [
                (Some(reparented), Some("re-parented to 1 at 1000 ms (an orphan)".to_string())),
                (None, Some("re-parented to 50 at 1100 ms".to_string())),
                (Some(2), Some("an orphan (ppid 1) when first seen".to_string())),
            ]
        );
    }

    #[test]
    fn a_pid_seen_again_is_the_same_life_unless_its_program_changed() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).tool_appears(200, "sleep 100");
        b.at(20.0).tool_appears(200, "sleep 100");
        b.at(30.0).tool_appears(201, "bash -c x");
        b.at(40.0).tool_appears(201, "sleep 5");
        // Orphaned, then exec'd: the new program keeps the new parent.
        b.at(50.0).tool_appears(202, "bash -c y").reparented(202, 1).exec(202, "sleep 6", ProcessRole::Tool);
        let tl = b.build();
        let lives = lives(&tl);
        let seen: Vec<(u32, &str, u32, f64, Option<f64>)> = lives
            .iter()
            .map(|l| (l.info.pid, l.info.cmdline.as_str(), l.info.ppid, l.appeared.at_ms, l.end_ms()))
            .collect();
        assert_eq!(
            seen,
            [
                (200, "sleep 100", 100, 10.0, None),
                (201, "bash -c x", 100, 30.0, Some(40.0)),
                (201, "sleep 5", 100, 40.0, None),
                (202, "bash -c y", 100, 50.0, Some(50.0)),
                (202, "sleep 6", 1, 50.0, None),
            ]
        );
    }

    #[test]
    fn the_server_is_known_by_the_header_the_supervisor_or_its_role() {
        let mut b = TimelineBuilder::new();
        b.process_appears(100, 1, ProcessRole::Opencode, "opencode serve");
        b.process_appears(300, 1, ProcessRole::Server, "opencode serve --port 0");
        b.tool_appears(400, "sleep 100");
        let mut tl = b.build();
        let others = |tl: &Timeline| -> Vec<u32> { non_server_lives(tl).iter().map(|l| l.info.pid).collect() };
        // The header's pid, and the one the sampler tagged as the server, are the server.
        assert_eq!(server_pid(&tl), Some(100));
        assert_eq!(others(&tl), [400]);
        // Without the header: the supervisor's spawn names it, else nothing does.
        tl.server_pid = None;
        assert_eq!(server_pid(&tl), None);
        assert_eq!(others(&tl), [100, 400]);
        tl.push(5.0, Observation::Server(ServerChange::Spawned { pid: 4242 }));
        assert_eq!(server_pid(&tl), Some(4242));
    }

    #[test]
    fn the_server_was_seen_when_spawned_or_sampled_as_the_server() {
        let seen = |b: &TimelineBuilder| server_was_seen(&b.build());
        let mut b = TimelineBuilder::new();
        assert!(!seen(&b));
        b.server_exited(Some(0), None).tool_appears(400, "sleep 100");
        assert!(!seen(&b), "an exit or a tool alone is not a sighting of the server");
        b.process_appears(100, 1, ProcessRole::Server, "opencode serve");
        assert!(seen(&b));
        assert!(seen(TimelineBuilder::new().server_started()));
    }

    #[test]
    fn stored_messages_are_the_last_get_of_the_sessions_messages() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).stored_messages(serde_json::json!([]));
        let get = b.last();
        b.at(20.0).http("POST", "/session/ses_test/abort", 200, serde_json::json!(true));
        b.http("GET", "/session/ses_test/todo", 200, serde_json::json!([]));
        let tl = b.build();
        let stored = stored_messages(&tl, crate::testing::SESSION).expect("the GET");
        assert_eq!(stored.entry.seq, get);
    }

    #[test]
    fn a_message_update_without_its_info_is_skipped() {
        let mut b = TimelineBuilder::new();
        b.event("message.updated", serde_json::json!({"sessionID": crate::testing::SESSION}));
        b.assistant_message("msg_a", None);
        let tl = b.build();
        let seqs: Vec<u64> = message_updates(&tl, crate::testing::SESSION, EventStream::Global)
            .iter()
            .map(|(e, _)| e.seq())
            .collect();
        assert_eq!(seqs, [1]);
    }

    #[test]
    fn harness_notes_quote_the_first_three_blind_spots() {
        assert_eq!(harness_notes(&TimelineBuilder::new().status("idle").build()), "");
        let mut b = TimelineBuilder::new();
        b.at(10.0).harness("status poll failed: timeout");
        b.status("busy");
        b.at(20.0).push(Observation::StreamEnded {
            stream: EventStream::Directory,
            cause: StreamEndCause::Ended,
            expected: false,
        });
        b.harness("status poll answered again").harness("a fourth note");
        assert_eq!(
            harness_notes(&b.build()),
            " (the harness noted: status poll failed: timeout; /event stream ended; status poll answered again)"
        );
    }

    #[test]
    fn a_blind_spot_ends_only_when_the_poll_answers_again() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).harness("status poll failed: timeout");
        // Neither another note nor a second failure ends the blind spot.
        b.at(20.0).harness("step 2 sent");
        b.at(30.0).harness("status poll failed: refused");
        b.at(40.0).harness("status poll answered again");
        let tl = b.build();
        let blind = status_poll_blind(&tl);
        assert_eq!(blind.len(), 1);
        assert_eq!((blind[0].0.at_ms, blind[0].1.map(|e| e.at_ms)), (10.0, Some(40.0)));
        assert!(status_poll_blind_during(&tl, 35.0, 36.0).is_some(), "still blind at 35 ms");
    }
}
