//! The timeline of one run as an inline SVG picture, for `index.html`: one lane per
//! observer, time in seconds across, the failing checks' witness entries marked.
//!
//! Lanes, top to bottom: steps (a bar per step, a faint line across every lane where it
//! started), the server's life, `GET /session/status` (busy/idle bars), pending
//! permissions, events of `/global/event` and `/event` (ticks for status, idle, error,
//! tool-part and permission events; the noisy rest is counted, not drawn), the harness's
//! own requests, fake-model requests, fixture-plugin records, harness notes, and a bar per
//! process from appeared to exited (re-parenting and zombies marked). Every mark carries
//! a `<title>` (hover) and, where it is one timeline entry, `data-seq` for the page's
//! script. All text is escaped.

use oc_conform_checks::{
    EventStream, ModelRequestKind, Observation, ProcessChange, ProcessRole, ServerChange,
    StepPhase, Timeline,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// A failing check's witness entry, numbered for the page (`W1`, `W2`, ...).
#[derive(Debug, Clone)]
pub struct WitnessMark {
    pub n: usize,
    pub seq: u64,
    pub at_ms: f64,
    pub what: String,
}

const WIDTH: f64 = 1200.0;
const PLOT_X0: f64 = 170.0;
const PLOT_X1: f64 = WIDTH - 24.0;
const TOP: f64 = 34.0;
const CHAR_W: f64 = 5.7;
const LABEL_ROW_H: f64 = 12.0;
const PROC_ROW_H: f64 = 17.0;
const MAX_PROCESS_ROWS: usize = 16;

/// Escapes text for HTML and SVG, in content and in quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, max: usize) -> String {
    super::common::truncate(s, max)
}

/// Label rows of a lane: places a label where it does not overlap the previous ones.
struct Labeler {
    ends: Vec<f64>,
    last: Vec<(f64, String)>,
}

impl Labeler {
    fn new(rows: usize) -> Self {
        Labeler {
            ends: vec![f64::MIN; rows],
            last: vec![(f64::MIN, String::new()); rows],
        }
    }

    /// The row for a label of `text` starting at `x`, if one has room. A label repeating
    /// the one just before it, close by, is not placed again.
    fn place(&mut self, x: f64, text: &str) -> Option<usize> {
        if self.last.iter().any(|(lx, lt)| lt == text && x - lx < 60.0) {
            return None;
        }
        let w = text.chars().count() as f64 * CHAR_W + 6.0;
        let row = self.ends.iter().position(|end| x >= *end)?;
        self.ends[row] = x + w;
        self.last[row] = (x, text.to_string());
        Some(row)
    }
}

struct Picture<'a> {
    out: String,
    y: f64,
    t_end: f64,
    witness: HashSet<u64>,
    tl: &'a Timeline,
    /// Lane backgrounds, drawn first.
    bands: String,
}

impl Picture<'_> {
    fn x(&self, t: f64) -> f64 {
        PLOT_X0 + (t.clamp(0.0, self.t_end) / self.t_end) * (PLOT_X1 - PLOT_X0)
    }

    fn wit_class(&self, seq: Option<u64>) -> &'static str {
        match seq {
            Some(s) if self.witness.contains(&s) => " wit",
            _ => "",
        }
    }

    fn lane(&mut self, h: f64, name: &str, class: &str) -> f64 {
        let y = self.y;
        let _ = write!(
            self.bands,
            "<g class=\"lane {class}\"><rect class=\"band\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{h:.1}\"/>\
             <text class=\"lname\" x=\"8\" y=\"{:.1}\">{}</text></g>",
            y + h / 2.0 + 4.0,
            esc(name)
        );
        self.y += h;
        y
    }

    fn seq_attr(seq: Option<u64>) -> String {
        seq.map(|s| format!(" data-seq=\"{s}\"")).unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn bar(&mut self, t0: f64, t1: f64, y: f64, h: f64, class: &str, seq: Option<u64>, title: &str) {
        let x0 = self.x(t0);
        let w = (self.x(t1) - x0).max(2.0);
        let _ = write!(
            self.out,
            "<rect class=\"{class}{}\"{} x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\"><title>{}</title></rect>",
            self.wit_class(seq),
            Self::seq_attr(seq),
            esc(title)
        );
    }

    fn tick(&mut self, t: f64, y0: f64, y1: f64, class: &str, seq: Option<u64>, title: &str) {
        let x = self.x(t);
        let _ = write!(
            self.out,
            "<g class=\"tick {class}{}\"{}><line x1=\"{x:.1}\" y1=\"{y0:.1}\" x2=\"{x:.1}\" y2=\"{y1:.1}\"/>\
             <rect class=\"hit\" x=\"{:.1}\" y=\"{y0:.1}\" width=\"6\" height=\"{:.1}\"/><title>{}</title></g>",
            self.wit_class(seq),
            Self::seq_attr(seq),
            x - 3.0,
            y1 - y0,
            esc(title)
        );
    }

    fn text(&mut self, x: f64, y: f64, class: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\">{}</text>",
            esc(text)
        );
    }

    /// A lane of labeled ticks.
    fn tick_lane(&mut self, name: &str, rows: usize, ticks: &[Tick]) {
        let h = 8.0 + rows as f64 * LABEL_ROW_H;
        let y = self.lane(h, name, "ticks");
        let mut labels = Labeler::new(rows);
        for t in ticks {
            self.tick(t.at, y + 2.0, y + h - 2.0, t.class, Some(t.seq), &t.title);
            let x = self.x(t.at) + 3.0;
            if let Some(row) = labels.place(x, &t.label) {
                self.text(x, y + 11.0 + row as f64 * LABEL_ROW_H, &format!("tl {}", t.class), &t.label);
            }
        }
    }
}

struct Tick {
    at: f64,
    seq: u64,
    class: &'static str,
    label: String,
    title: String,
}

/// The picture of `tl`, with `witness` entries marked.
pub fn render(tl: &Timeline, witness: &[WitnessMark]) -> String {
    let end = tl
        .entries
        .iter()
        .map(|e| e.at_ms)
        .fold(0.0_f64, f64::max)
        .max(1000.0);
    let mut p = Picture {
        out: String::new(),
        y: TOP,
        t_end: end * 1.01,
        witness: witness.iter().map(|w| w.seq).collect(),
        tl,
        bands: String::new(),
    };
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();

    steps_lane(&mut p);
    server_lane(&mut p);
    status_lanes(&mut p);
    permissions_lane(&mut p);
    for stream in [EventStream::Global, EventStream::Directory] {
        events_lane(&mut p, stream, &mut dropped);
    }
    requests_lane(&mut p);
    model_lane(&mut p);
    plugin_lane(&mut p);
    harness_lane(&mut p);
    process_lanes(&mut p);

    let height = p.y + 6.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"timeline of {} on {}\">",
        esc(&tl.scenario),
        esc(&tl.opencode_version)
    );
    svg.push_str(&p.bands);
    axis(&p, height, &mut svg);
    step_lines(&p, height, &mut svg);
    svg.push_str(&p.out);
    witness_lines(&p, witness, height, &mut svg);
    svg.push_str("</svg>");
    if !dropped.is_empty() {
        let total: usize = dropped.values().sum();
        let mut top: Vec<(&String, &usize)> = dropped.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = top.iter().take(8).map(|(k, v)| format!("{k} x{v}")).collect();
        let _ = write!(
            svg,
            "<p class=\"dropped\">Not drawn: {total} other event(s): {}{}</p>",
            esc(&list.join(", ")),
            if top.len() > 8 { ", ..." } else { "" }
        );
    }
    svg
}

/// Time ticks along the top and faint grid lines down through the lanes.
fn axis(p: &Picture, height: f64, svg: &mut String) {
    let span_s = p.t_end / 1000.0;
    let step = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| span_s / s <= 14.0)
        .unwrap_or(1200.0);
    let _ = write!(
        svg,
        "<text class=\"axis-unit\" x=\"8\" y=\"14\">time (s)</text>"
    );
    let mut i = 0;
    loop {
        let t_s = i as f64 * step;
        if t_s > span_s {
            break;
        }
        let x = p.x(t_s * 1000.0);
        let label = if step < 1.0 { format!("{t_s:.1}") } else { format!("{t_s:.0}") };
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"14\">{label} s</text>",
            TOP - 8.0,
            height - 4.0
        );
        i += 1;
    }
}

fn step_lines(p: &Picture, height: f64, svg: &mut String) {
    for e in &p.tl.entries {
        if let Observation::Step { phase: StepPhase::Started, .. } = &e.obs {
            let x = p.x(e.at_ms);
            let _ = write!(
                svg,
                "<line class=\"stepline\" x1=\"{x:.1}\" y1=\"{TOP:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
                height - 4.0
            );
        }
    }
}

/// A red line per witness entry across every lane, numbered at the top.
fn witness_lines(p: &Picture, witness: &[WitnessMark], height: f64, svg: &mut String) {
    let mut labels = Labeler::new(1);
    for w in witness {
        let x = p.x(w.at_ms);
        let label = format!("W{}", w.n);
        let _ = write!(
            svg,
            "<g class=\"witline\" data-seq=\"{}\"><line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><title>{}</title></g>",
            w.seq,
            TOP - 10.0,
            height - 4.0,
            esc(&format!("W{} at {:.1} ms (#{}): {}", w.n, w.at_ms, w.seq, w.what))
        );
        if labels.place(x + 2.0, &label).is_some() {
            let _ = write!(
                svg,
                "<text class=\"witlabel\" data-seq=\"{}\" x=\"{:.1}\" y=\"28\">{label}</text>",
                w.seq,
                x + 2.0
            );
        }
    }
}

fn steps_lane(p: &mut Picture) {
    // index -> (start, start seq, end, failed, name, note)
    struct Step {
        start: f64,
        seq: u64,
        end: Option<f64>,
        failed: bool,
        name: String,
        note: Option<String>,
    }
    let mut steps: BTreeMap<usize, Step> = BTreeMap::new();
    for e in &p.tl.entries {
        if let Observation::Step { index, name, phase, note } = &e.obs {
            let s = steps.entry(*index).or_insert(Step {
                start: e.at_ms,
                seq: e.seq,
                end: None,
                failed: false,
                name: name.clone(),
                note: None,
            });
            match phase {
                StepPhase::Started => {}
                StepPhase::Finished => s.end = Some(e.at_ms),
                StepPhase::Failed => {
                    s.end = Some(e.at_ms);
                    s.failed = true;
                }
            }
            if note.is_some() {
                s.note.clone_from(note);
            }
        }
    }
    let rows = 3;
    let h = 8.0 + rows as f64 * LABEL_ROW_H;
    let y = p.lane(h, "steps", "steps");
    let mut labels = Labeler::new(rows);
    let end = p.t_end;
    for (i, s) in &steps {
        let class = if s.failed { "step failed" } else { "step" };
        let mut title = format!("step {} {}: {:.1} ms", i + 1, s.name, s.start);
        match s.end {
            Some(e) => {
                let _ = write!(title, " to {e:.1} ms ({})", if s.failed { "failed" } else { "finished" });
            }
            None => title.push_str(", not finished"),
        }
        if let Some(n) = &s.note {
            let _ = write!(title, ": {n}");
        }
        p.bar(s.start, s.end.unwrap_or(end), y + h - 7.0, 5.0, class, Some(s.seq), &title);
        let label = format!("{} {}", i + 1, short(&s.name, 32));
        let x = p.x(s.start) + 2.0;
        if let Some(row) = labels.place(x, &label) {
            p.text(x, y + 10.0 + row as f64 * LABEL_ROW_H, if s.failed { "tl failed" } else { "tl" }, &label);
        }
    }
}

fn server_lane(p: &mut Picture) {
    let changes: Vec<(f64, u64, &ServerChange)> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Server(c) => Some((e.at_ms, e.seq, c)),
            _ => None,
        })
        .collect();
    let rows = 1;
    let h = 10.0 + rows as f64 * LABEL_ROW_H;
    let y = p.lane(h, "server", "server");
    // Phases: starting (spawned..healthy), up (..signalled), stopping (..exited).
    let mut phase: Option<(f64, &str)> = None;
    let end = p.t_end;
    let mut labels = Labeler::new(rows);
    for (at, seq, c) in &changes {
        let (next, label) = match c {
            ServerChange::Spawned { pid } => (Some("srv-starting"), format!("spawned (pid {pid})")),
            ServerChange::Listening { .. } => (None, String::new()),
            ServerChange::Healthy { version } => (Some("srv-up"), format!("healthy {version}")),
            ServerChange::Signalled { signal } => (Some("srv-stopping"), format!("SIG{signal}")),
            ServerChange::Exited { code, signal } => (
                Some(""),
                match (code, signal) {
                    (Some(c), _) => format!("exited {c}"),
                    (None, Some(s)) => format!("exited (signal {s})"),
                    _ => "exited".into(),
                },
            ),
        };
        if let Some(next) = next {
            if let Some((t0, class)) = phase.take() {
                if !class.is_empty() {
                    p.bar(t0, *at, y + h - 9.0, 7.0, class, None, &format!("server {}", &class[4..]));
                }
            }
            phase = Some((*at, next));
        }
        if !label.is_empty() {
            let class = match c {
                ServerChange::Exited { code: Some(0), .. } => "srv-mark",
                ServerChange::Exited { .. } | ServerChange::Signalled { .. } => "srv-mark bad",
                _ => "srv-mark",
            };
            p.tick(*at, y + 2.0, y + h - 2.0, class, Some(*seq), &format!("{:.1} ms: server {label}", at));
            let x = p.x(*at) + 3.0;
            if labels.place(x, &label).is_some() {
                p.text(x, y + 11.0, "tl", &label);
            }
        }
    }
    if let Some((t0, class)) = phase {
        if !class.is_empty() {
            p.bar(t0, end, y + h - 9.0, 7.0, class, None, &format!("server {}", &class[4..]));
        }
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "busy" => "st-busy",
        "idle" => "st-idle",
        "retry" => "st-retry",
        _ => "st-other",
    }
}

fn status_lanes(p: &mut Picture) {
    let mut sessions: Vec<&str> = Vec::new();
    if let Some(s) = &p.tl.session_id {
        sessions.push(s);
    }
    for e in &p.tl.entries {
        if let Observation::Status { session_id, .. } = &e.obs {
            if !sessions.contains(&session_id.as_str()) {
                sessions.push(session_id);
            }
        }
    }
    if sessions.is_empty() {
        sessions.push("");
    }
    let main = p.tl.session_id.clone();
    for sid in sessions {
        let name = if main.as_deref() == Some(sid) || sid.is_empty() {
            "status (GET)".to_string()
        } else {
            format!("status {}", short(sid, 12))
        };
        let h = 20.0;
        let y = p.lane(h, &name, "status");
        let points: Vec<(f64, u64, &str)> = p
            .tl
            .entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::Status { session_id, status } if session_id == sid => {
                    Some((e.at_ms, e.seq, status.as_str()))
                }
                _ => None,
            })
            .collect();
        let end = p.t_end;
        for (i, (at, seq, status)) in points.iter().enumerate() {
            let until = points.get(i + 1).map_or(end, |n| n.0);
            let title = format!("GET /session/status: {status} from {at:.1} ms to {until:.1} ms");
            p.bar(*at, until, y + 3.0, h - 6.0, &format!("st {}", status_class(status)), Some(*seq), &title);
            let (x0, x1) = (p.x(*at), p.x(until));
            let w = status.chars().count() as f64 * CHAR_W + 6.0;
            if x1 - x0 > w {
                p.text(x0 + 3.0, y + 14.0, "bartext", status);
            }
        }
        if points.is_empty() {
            p.text(PLOT_X0 + 4.0, y + 14.0, "none", "no status observed");
        }
    }
}

fn permissions_lane(p: &mut Picture) {
    let points: Vec<(f64, u64, &Vec<String>)> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::PendingPermissions { ids } => Some((e.at_ms, e.seq, ids)),
            _ => None,
        })
        .collect();
    if points.is_empty() {
        return;
    }
    let h = 20.0;
    let y = p.lane(h, "pending perms (GET)", "perms");
    let end = p.t_end;
    for (i, (at, seq, ids)) in points.iter().enumerate() {
        let until = points.get(i + 1).map_or(end, |n| n.0);
        if ids.is_empty() {
            continue;
        }
        let title = format!("GET /permission: {} pending from {at:.1} ms: {}", ids.len(), ids.join(", "));
        p.bar(*at, until, y + 3.0, h - 6.0, "st st-perm", Some(*seq), &title);
        let label = format!("{} pending", ids.len());
        if p.x(until) - p.x(*at) > label.len() as f64 * CHAR_W + 6.0 {
            p.text(p.x(*at) + 3.0, y + 14.0, "bartext", &label);
        }
    }
}

/// How an event is drawn: its class and label, or `None` to leave it out of the picture.
fn event_mark(event_type: &str, props: &Value) -> Option<(&'static str, String)> {
    let str_at = |ptr: &str| props.pointer(ptr).and_then(Value::as_str);
    Some(match event_type {
        "session.status" => {
            let s = str_at("/status/type").unwrap_or("?");
            let class = match s {
                "busy" => "ev-busy",
                "idle" => "ev-idle",
                _ => "ev-retry",
            };
            (class, s.to_string())
        }
        "session.idle" => ("ev-idle", "session.idle".into()),
        "session.error" => ("ev-error", format!("error {}", str_at("/error/name").unwrap_or(""))),
        "message.part.updated" => {
            if str_at("/part/type") != Some("tool") {
                return None;
            }
            let status = str_at("/part/state/status").unwrap_or("?");
            let class = match status {
                "error" => "ev-error",
                "completed" => "ev-tooldone",
                _ => "ev-tool",
            };
            (class, format!("{} {status}", str_at("/part/tool").unwrap_or("tool")))
        }
        "message.updated" => {
            let name = str_at("/info/error/name")?;
            ("ev-error", format!("message {name}"))
        }
        t if t.starts_with("permission.") => {
            let what = t.trim_start_matches("permission.");
            match str_at("/reply").or_else(|| str_at("/response")) {
                Some(r) => ("ev-perm", format!("perm {what} {r}")),
                None => ("ev-perm", format!("perm {what}")),
            }
        }
        "server.connected" => ("ev-misc", "connected".into()),
        t if t.contains("disposed") => ("ev-error", t.to_string()),
        _ => return None,
    })
}

fn events_lane(p: &mut Picture, stream: EventStream, dropped: &mut BTreeMap<String, usize>) {
    let mut ticks = Vec::new();
    let mut any = false;
    for (e, event_type, props) in p.tl.events(stream) {
        any = true;
        match event_mark(event_type, props) {
            Some((class, label)) => ticks.push(Tick {
                at: e.at_ms,
                seq: e.seq,
                class,
                label,
                title: format!("{:.1} ms (#{}): {}", e.at_ms, e.seq, e.obs.describe()),
            }),
            None => *dropped.entry(event_type.to_string()).or_default() += 1,
        }
    }
    if !any && stream == EventStream::Directory {
        return;
    }
    let name = match stream {
        EventStream::Global => "events /global/event",
        EventStream::Directory => "events /event",
    };
    p.tick_lane(name, 2, &ticks);
}

/// `/session/ses_abc.../abort` -> `/session/…/abort`.
fn short_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.len() > 12 && (seg.starts_with("ses_") || seg.starts_with("msg_") || seg.starts_with("per_")) {
                "…"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn requests_lane(p: &mut Picture) {
    let ticks: Vec<Tick> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Http { method, path, status, error, .. } => Some(Tick {
                at: e.at_ms,
                seq: e.seq,
                class: if error.is_some() || *status == 0 || *status >= 400 { "rq-bad" } else { "rq" },
                label: format!(
                    "{method} {} {}",
                    short_path(path),
                    if *status == 0 { "no answer".to_string() } else { status.to_string() }
                ),
                title: format!("{:.1} ms (#{}): {}", e.at_ms, e.seq, e.obs.describe()),
            }),
            _ => None,
        })
        .collect();
    if ticks.is_empty() {
        return;
    }
    p.tick_lane("harness requests", 2, &ticks);
}

fn model_lane(p: &mut Picture) {
    let ticks: Vec<Tick> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::ModelRequest { index, kind, turn, has_tool_result, summary } => {
                let (class, what) = match kind {
                    ModelRequestKind::Title => ("md-title", "title".to_string()),
                    ModelRequestKind::Turn => (
                        "md-turn",
                        match turn {
                            Some(t) => format!("turn {t}"),
                            None => "turn".into(),
                        },
                    ),
                    ModelRequestKind::Unplanned => ("md-bad", "UNPLANNED".to_string()),
                };
                let mut title = format!("{:.1} ms (#{}): {}", e.at_ms, e.seq, e.obs.describe());
                if *has_tool_result {
                    title.push_str(", with a tool result");
                }
                if !summary.is_empty() {
                    let _ = write!(title, "\n{}", short(summary, 300));
                }
                Some(Tick {
                    at: e.at_ms,
                    seq: e.seq,
                    class,
                    label: format!("#{index} {what}"),
                    title,
                })
            }
            _ => None,
        })
        .collect();
    p.tick_lane("model requests", 1, &ticks);
}

fn plugin_lane(p: &mut Picture) {
    let ticks: Vec<Tick> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Plugin { record } => {
                let label = record
                    .get("event")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| short(&record.to_string(), 24));
                Some(Tick {
                    at: e.at_ms,
                    seq: e.seq,
                    class: "pl",
                    label,
                    title: format!("{:.1} ms (#{}): plugin record {}", e.at_ms, e.seq, short(&record.to_string(), 600)),
                })
            }
            _ => None,
        })
        .collect();
    if ticks.is_empty() {
        return;
    }
    p.tick_lane("plugin records", 1, &ticks);
}

fn harness_lane(p: &mut Picture) {
    let ticks: Vec<Tick> = p
        .tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Harness { message } => Some(Tick {
                at: e.at_ms,
                seq: e.seq,
                class: "hn",
                label: short(message, 36),
                title: format!("{:.1} ms (#{}): harness: {message}", e.at_ms, e.seq),
            }),
            _ => None,
        })
        .collect();
    if ticks.is_empty() {
        return;
    }
    p.tick_lane("harness notes", 2, &ticks);
}

struct Proc {
    pid: u32,
    role: ProcessRole,
    cmdline: String,
    ppid: Option<u32>,
    start: f64,
    seq: u64,
    end: Option<(f64, u64)>,
    zombie: Option<(f64, u64)>,
    marks: Vec<(f64, u64, String, &'static str)>,
}

/// `/tmp/cache/opencode/1.2.3/bin/opencode serve --port 0` -> `opencode serve --port 0`.
fn short_cmd(cmdline: &str) -> String {
    let mut parts = cmdline.splitn(2, ' ');
    let argv0 = parts.next().unwrap_or("");
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    match parts.next() {
        Some(rest) => format!("{base} {rest}"),
        None => base.to_string(),
    }
}

fn role_name(r: ProcessRole) -> &'static str {
    match r {
        ProcessRole::Server => "server",
        ProcessRole::Opencode => "opencode",
        ProcessRole::Tool => "tool",
    }
}

fn process_lanes(p: &mut Picture) {
    let mut procs: Vec<Proc> = Vec::new();
    let server_pid = p.tl.server_pid;
    for e in &p.tl.entries {
        let Observation::Process(change) = &e.obs else { continue };
        let pid = match change {
            ProcessChange::Appeared(i) => i.pid,
            ProcessChange::Exec { pid, .. }
            | ProcessChange::Reparented { pid, .. }
            | ProcessChange::Zombie { pid }
            | ProcessChange::Exited { pid } => *pid,
        };
        // A pid seen again after it exited is a new process.
        let idx = match procs.iter().rposition(|q| q.pid == pid && q.end.is_none()) {
            Some(i) if !matches!(change, ProcessChange::Appeared(_)) => i,
            _ => {
                let (role, cmdline, ppid) = match change {
                    ProcessChange::Appeared(i) => (i.role, i.cmdline.clone(), Some(i.ppid)),
                    ProcessChange::Exec { role, cmdline, .. } => (*role, cmdline.clone(), None),
                    _ => (ProcessRole::Tool, format!("pid {pid}"), None),
                };
                procs.push(Proc {
                    pid,
                    role,
                    cmdline,
                    ppid,
                    start: e.at_ms,
                    seq: e.seq,
                    end: None,
                    zombie: None,
                    marks: vec![],
                });
                if matches!(change, ProcessChange::Appeared(_)) {
                    continue;
                }
                procs.len() - 1
            }
        };
        let q = &mut procs[idx];
        match change {
            ProcessChange::Appeared(_) => {}
            ProcessChange::Exec { cmdline, role, .. } => {
                q.marks.push((e.at_ms, e.seq, format!("exec {}", short_cmd(cmdline)), "pr-exec"));
                q.cmdline.clone_from(cmdline);
                q.role = *role;
            }
            ProcessChange::Reparented { ppid, .. } => {
                let orphan = Some(*ppid) != server_pid;
                let label = if orphan {
                    format!("orphan: re-parented to {ppid}")
                } else {
                    format!("re-parented to {ppid}")
                };
                q.marks.push((e.at_ms, e.seq, label, "pr-orphan"));
                q.ppid = Some(*ppid);
            }
            ProcessChange::Zombie { .. } => q.zombie = Some((e.at_ms, e.seq)),
            ProcessChange::Exited { .. } => q.end = Some((e.at_ms, e.seq)),
        }
    }
    if procs.is_empty() {
        let y = p.lane(20.0, "processes", "procs");
        p.text(PLOT_X0 + 4.0, y + 14.0, "none", "no process of the run observed");
        return;
    }
    let hidden = procs.len().saturating_sub(MAX_PROCESS_ROWS);
    let end = p.t_end;
    for q in procs.iter().take(MAX_PROCESS_ROWS) {
        let y = p.lane(PROC_ROW_H, &format!("{} {}", q.pid, role_name(q.role)), "proc");
        let role = role_name(q.role);
        let stop = q.zombie.map(|z| z.0).or(q.end.map(|e| e.0)).unwrap_or(end);
        let mut title = format!(
            "pid {} ({role}{}): {}\nappeared at {:.1} ms",
            q.pid,
            q.ppid.map(|pp| format!(", ppid {pp}")).unwrap_or_default(),
            q.cmdline,
            q.start
        );
        match q.end {
            Some((t, _)) => {
                let _ = write!(title, ", exited at {t:.1} ms");
            }
            None => title.push_str(", still alive at the end of the timeline"),
        }
        p.bar(q.start, stop, y + 3.0, PROC_ROW_H - 6.0, &format!("pr pr-{role}"), Some(q.seq), &title);
        if let Some((z, zseq)) = q.zombie {
            let zend = q.end.map_or(end, |e| e.0);
            p.bar(z, zend, y + 3.0, PROC_ROW_H - 6.0, "pr pr-zombie", Some(zseq), &format!("pid {} zombie from {z:.1} ms", q.pid));
        }
        if let Some((t, seq)) = q.end {
            p.tick(t, y + 1.0, y + PROC_ROW_H - 1.0, "pr-exit", Some(seq), &format!("{t:.1} ms: pid {} exited", q.pid));
        } else {
            let x = p.x(end);
            let _ = write!(
                p.out,
                "<path class=\"pr-alive\" d=\"M{:.1},{:.1} l6,5.5 l-6,5.5 z\"><title>still alive at the end</title></path>",
                x - 1.0,
                y + 3.0
            );
        }
        let x0 = p.x(q.start) + 3.0;
        p.text(x0, y + 12.0, "bartext", &short(&short_cmd(&q.cmdline), 70));
        for (t, seq, label, class) in &q.marks {
            let x = p.x(*t);
            let _ = write!(
                p.out,
                "<path class=\"{class}{}\" data-seq=\"{seq}\" d=\"M{x:.1},{:.1} l5,5 l-5,5 l-5,-5 z\"><title>{}</title></path>",
                p.wit_class(Some(*seq)),
                y + 3.5,
                esc(&format!("{t:.1} ms (#{seq}): pid {} {label}", q.pid))
            );
            p.text(x + 7.0, y + 12.0, &format!("tl {class}"), label);
        }
    }
    if hidden > 0 {
        let y = p.lane(16.0, &format!("+{hidden} more"), "proc");
        p.text(PLOT_X0 + 4.0, y + 12.0, "none", &format!("{hidden} more process(es) not drawn: see timeline.json"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_checks::testing::stories;

    #[test]
    fn every_lane_and_witness_is_drawn_and_escaped() {
        let mut b = stories::phantom_idle();
        b.harness("<script>alert(1)</script>");
        let tl = b.build();
        let w = vec![WitnessMark { n: 1, seq: 3, at_ms: 1100.0, what: "a <b>".into() }];
        let svg = render(&tl, &w);
        for lane in ["steps", "server", "status (GET)", "events /global/event", "events /event",
                     "model requests", "plugin records", "harness notes", "4242 tool"] {
            assert!(svg.contains(&format!(">{}</text>", esc(lane))), "lane {lane} missing");
        }
        assert!(svg.contains("class=\"witline\" data-seq=\"3\""));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(short_path("/session/ses_e0241220dffeUU1pJsVQ1YRbeP/abort"), "/session/…/abort");
        assert_eq!(short_cmd("/a/b/opencode serve --port 0"), "opencode serve --port 0");
    }
}
