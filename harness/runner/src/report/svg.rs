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

use oc_conform_checks::wire::{self, Event};
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
const TOP: f64 = 44.0;
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

/// Label rows of a lane: places a label where it overlaps no other label of its row.
struct Labeler {
    rows: Vec<Vec<(f64, f64, String)>>,
}

impl Labeler {
    fn new(rows: usize) -> Self {
        Labeler {
            rows: vec![Vec::new(); rows],
        }
    }

    /// Where a label of `text` wanting to start at `x` goes: its row and its x (moved
    /// left when it would run off the picture). A label repeating one close by is not
    /// placed again.
    fn place(&mut self, x: f64, text: &str) -> Option<(usize, f64)> {
        let w = text.chars().count() as f64 * CHAR_W + 6.0;
        let x = x.min(WIDTH - 2.0 - w).max(0.0);
        if self
            .rows
            .iter()
            .flatten()
            .any(|(lx, _, lt)| lt == text && (x - lx).abs() < 60.0)
        {
            return None;
        }
        let row = self
            .rows
            .iter()
            .position(|r| r.iter().all(|(a, b, _)| x + w <= *a || x >= *b))?;
        self.rows[row].push((x, x + w, text.to_string()));
        Some((row, x))
    }

    /// The free width from `x` to the next label of the first row (or the picture's edge).
    fn room_at(&self, x: f64) -> f64 {
        let row = &self.rows[0];
        if row.iter().any(|(a, b, _)| x >= *a && x < *b) {
            return 0.0;
        }
        row.iter()
            .map(|(a, _, _)| *a)
            .filter(|a| *a >= x)
            .fold(WIDTH - 2.0, f64::min)
            - x
    }

    /// Where the labels of `row` end.
    fn end_of_row(&self, row: usize) -> f64 {
        self.rows[row]
            .iter()
            .map(|(_, b, _)| *b)
            .fold(0.0, f64::max)
    }
}

struct Picture<'a> {
    out: String,
    y: f64,
    /// The end of the run (bars of what is still on run to it).
    t_end: f64,
    /// The time window drawn: the whole run, or a zoom.
    t0: f64,
    t1: f64,
    witness: HashSet<u64>,
    tl: &'a Timeline,
    /// Lane backgrounds, drawn first.
    bands: String,
}

impl Picture<'_> {
    fn x(&self, t: f64) -> f64 {
        PLOT_X0
            + ((t.clamp(self.t0, self.t1) - self.t0) / (self.t1 - self.t0)) * (PLOT_X1 - PLOT_X0)
    }

    fn visible(&self, t: f64) -> bool {
        t >= self.t0 && t <= self.t1
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
        seq.map(|s| format!(" data-seq=\"{s}\""))
            .unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn bar(
        &mut self,
        t0: f64,
        t1: f64,
        y: f64,
        h: f64,
        class: &str,
        seq: Option<u64>,
        title: &str,
    ) {
        if t1 < self.t0 || t0 > self.t1 {
            return;
        }
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

    /// A tick, if `t` is in the window drawn.
    fn tick(
        &mut self,
        t: f64,
        y0: f64,
        y1: f64,
        class: &str,
        seq: Option<u64>,
        title: &str,
    ) -> bool {
        if !self.visible(t) {
            return false;
        }
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
        true
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
        let mut drawn: Vec<&Tick> = ticks
            .iter()
            .filter(|t| self.tick(t.at, y + 2.0, y + h - 2.0, t.class, Some(t.seq), &t.title))
            .collect();
        // Labels by importance (errors and idles before tool updates), then in time order.
        drawn.sort_by(|a, b| {
            label_rank(a.class)
                .cmp(&label_rank(b.class))
                .then(a.at.total_cmp(&b.at))
        });
        let mut labels = Labeler::new(rows);
        for t in drawn {
            if let Some((row, x)) = labels.place(self.x(t.at) + 3.0, &t.label) {
                self.text(
                    x,
                    y + 11.0 + row as f64 * LABEL_ROW_H,
                    &format!("tl {}", t.class),
                    &t.label,
                );
            }
        }
    }
}

/// Which labels of a lane get room first.
fn label_rank(class: &str) -> u8 {
    match class {
        "ev-error" | "rq-bad" | "md-bad" => 0,
        "ev-idle" => 1,
        "ev-busy" | "ev-retry" => 2,
        "ev-perm" | "ev-msgerr" => 3,
        "ev-tool" | "ev-tooldone" => 4,
        "ev-misc" | "hn" => 6,
        _ => 5,
    }
}

struct Tick {
    at: f64,
    seq: u64,
    class: &'static str,
    label: String,
    title: String,
}

/// The picture of `tl`, with `witness` entries marked: the whole run, then, when the
/// witness entries sit in a small part of it, a second picture zoomed on them.
pub fn render(tl: &Timeline, witness: &[WitnessMark]) -> String {
    let end = tl
        .entries
        .iter()
        .map(|e| e.at_ms)
        .fold(0.0_f64, f64::max)
        .max(1000.0)
        * 1.01;
    let mut html = picture(tl, witness, 0.0, end, end, true);
    if let Some((t0, t1)) = zoom_window(witness, end) {
        let _ = write!(
            html,
            "<p class=\"zoomcap\">Zoom on the witness: {:.2} s to {:.2} s</p>",
            t0 / 1000.0,
            t1 / 1000.0
        );
        html.push_str(&picture(tl, witness, t0, t1, end, false));
    }
    html
}

/// The window around the witness entries, when it is under 40% of the run.
fn zoom_window(witness: &[WitnessMark], end: f64) -> Option<(f64, f64)> {
    let lo = witness
        .iter()
        .map(|w| w.at_ms)
        .fold(f64::INFINITY, f64::min);
    let hi = witness
        .iter()
        .map(|w| w.at_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.6).max(150.0).max(end * 0.01);
    let (t0, t1) = ((lo - pad).max(0.0), (hi + pad).min(end));
    (t1 - t0 < end * 0.4).then_some((t0, t1))
}

fn picture(
    tl: &Timeline,
    witness: &[WitnessMark],
    t0: f64,
    t1: f64,
    end: f64,
    overview: bool,
) -> String {
    let mut p = Picture {
        out: String::new(),
        y: TOP,
        t_end: end,
        t0,
        t1,
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
        "<svg class=\"timeline{}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"timeline of {} on {}{}\">",
        if overview { "" } else { " zoom" },
        esc(&tl.scenario),
        esc(&tl.opencode_version),
        if overview { "" } else { " (zoomed)" }
    );
    svg.push_str(&p.bands);
    axis(&p, height, &mut svg);
    step_lines(&p, height, &mut svg);
    svg.push_str(&p.out);
    witness_lines(&p, witness, height, &mut svg);
    svg.push_str("</svg>");
    if overview && !dropped.is_empty() {
        let total: usize = dropped.values().sum();
        let mut top: Vec<(&String, &usize)> = dropped.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = top
            .iter()
            .take(5)
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let _ = write!(
            svg,
            "<p class=\"dropped\">Not drawn: {total} other event(s): {}{}</p>",
            esc(&list.join(", ")),
            if top.len() > 5 { ", ..." } else { "" }
        );
    }
    svg
}

/// Time ticks along the top and faint grid lines down through the lanes.
fn axis(p: &Picture, height: f64, svg: &mut String) {
    let span_s = (p.t1 - p.t0) / 1000.0;
    let step = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ]
    .into_iter()
    .find(|s| span_s / s <= 14.0)
    .unwrap_or(1200.0);
    let decimals = if step < 0.1 {
        2
    } else if step < 1.0 {
        1
    } else {
        0
    };
    let _ = write!(
        svg,
        "<text class=\"axis-unit\" x=\"8\" y=\"14\">time (s)</text>"
    );
    let mut i = (p.t0 / 1000.0 / step).ceil() as i64;
    loop {
        let t_s = i as f64 * step;
        if t_s * 1000.0 > p.t1 {
            break;
        }
        let x = p.x(t_s * 1000.0);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"14\">{t_s:.decimals$} s</text>",
            TOP - 8.0,
            height - 4.0
        );
        i += 1;
    }
}

fn step_lines(p: &Picture, height: f64, svg: &mut String) {
    for e in &p.tl.entries {
        if let Observation::Step {
            phase: StepPhase::Started,
            ..
        } = &e.obs
        {
            if !p.visible(e.at_ms) {
                continue;
            }
            let x = p.x(e.at_ms);
            let _ = write!(
                svg,
                "<line class=\"stepline\" x1=\"{x:.1}\" y1=\"{TOP:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
                height - 4.0
            );
        }
    }
}

/// A red line per witness entry across every lane, numbered at the top (`W1`, or
/// `W2,3` for entries too close to tell apart).
fn witness_lines(p: &Picture, witness: &[WitnessMark], height: f64, svg: &mut String) {
    let mut sorted: Vec<&WitnessMark> = witness.iter().filter(|w| p.visible(w.at_ms)).collect();
    sorted.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms).then(a.n.cmp(&b.n)));
    for w in &sorted {
        let x = p.x(w.at_ms);
        let _ = write!(
            svg,
            "<g class=\"witline\" data-seq=\"{}\"><line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><title>{}</title></g>",
            w.seq,
            TOP - 10.0,
            height - 4.0,
            esc(&format!("W{} at {:.1} ms (#{}): {}", w.n, w.at_ms, w.seq, w.what))
        );
    }
    // Clusters of marks within a few pixels share one label.
    let mut clusters: Vec<(f64, Vec<&WitnessMark>)> = Vec::new();
    for w in sorted {
        let x = p.x(w.at_ms);
        match clusters.last_mut() {
            Some((cx, ws)) if x - *cx < 14.0 => ws.push(w),
            _ => clusters.push((x, vec![w])),
        }
    }
    let mut labels = Labeler::new(2);
    for (x, ws) in clusters {
        let mut ns: Vec<usize> = ws.iter().map(|w| w.n).collect();
        ns.sort_unstable();
        ns.dedup();
        let label = format!(
            "W{}",
            ns.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        if let Some((row, lx)) = labels.place(x + 2.0, &label) {
            let _ = write!(
                svg,
                "<text class=\"witlabel\" data-seq=\"{}\" x=\"{lx:.1}\" y=\"{}\">{label}</text>",
                ws[0].seq,
                if row == 0 { 38 } else { 27 }
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
        if let Observation::Step {
            index,
            name,
            phase,
            note,
        } = &e.obs
        {
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
        let class = match (s.failed, i % 2) {
            (true, _) => "step failed",
            (false, 0) => "step",
            (false, _) => "step alt",
        };
        let mut title = format!("step {} {}: {:.1} ms", i + 1, s.name, s.start);
        match s.end {
            Some(e) => {
                let _ = write!(
                    title,
                    " to {e:.1} ms ({})",
                    if s.failed { "failed" } else { "finished" }
                );
            }
            None => title.push_str(", not finished"),
        }
        if let Some(n) = &s.note {
            let _ = write!(title, ": {n}");
        }
        p.bar(
            s.start,
            s.end.unwrap_or(end),
            y + h - 7.0,
            5.0,
            class,
            Some(s.seq),
            &title,
        );
        let label = format!("{} {}", i + 1, short(&s.name, 32));
        if s.end.unwrap_or(end) < p.t0 || s.start > p.t1 {
            continue;
        }
        if let Some((row, x)) = labels.place(p.x(s.start) + 2.0, &label) {
            p.text(
                x,
                y + 10.0 + row as f64 * LABEL_ROW_H,
                if s.failed { "tl failed" } else { "tl" },
                &label,
            );
        }
    }
}

fn server_lane(p: &mut Picture) {
    let changes: Vec<(f64, u64, &ServerChange)> =
        p.tl.entries
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
                    p.bar(
                        t0,
                        *at,
                        y + h - 9.0,
                        7.0,
                        class,
                        None,
                        &format!("server {}", &class[4..]),
                    );
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
            let drawn = p.tick(
                *at,
                y + 2.0,
                y + h - 2.0,
                class,
                Some(*seq),
                &format!("{:.1} ms: server {label}", at),
            );
            if !drawn {
                continue;
            }
            if let Some((_, x)) = labels.place(p.x(*at) + 3.0, &label) {
                p.text(x, y + 11.0, "tl", &label);
            }
        }
    }
    if let Some((t0, class)) = phase {
        if !class.is_empty() {
            p.bar(
                t0,
                end,
                y + h - 9.0,
                7.0,
                class,
                None,
                &format!("server {}", &class[4..]),
            );
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
        let points: Vec<(f64, u64, &str)> =
            p.tl.entries
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
            p.bar(
                *at,
                until,
                y + 3.0,
                h - 6.0,
                &format!("st {}", status_class(status)),
                Some(*seq),
                &title,
            );
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
    let points: Vec<(f64, u64, &Vec<String>)> =
        p.tl.entries
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
        let title = format!(
            "GET /permission: {} pending from {at:.1} ms: {}",
            ids.len(),
            ids.join(", ")
        );
        p.bar(
            *at,
            until,
            y + 3.0,
            h - 6.0,
            "st st-perm",
            Some(*seq),
            &title,
        );
        let label = format!("{} pending", ids.len());
        if p.x(until) - p.x(*at) > label.len() as f64 * CHAR_W + 6.0 {
            p.text(p.x(*at) + 3.0, y + 14.0, "bartext", &label);
        }
    }
}

/// How an event is drawn: its class and label, or `None` to leave it out of the picture.
fn event_mark(event_type: &str, props: &Value) -> Option<(&'static str, String)> {
    Some(match wire::decode(event_type, props) {
        Event::SessionStatus { status } => {
            let s = status.unwrap_or("?");
            let class = match s {
                "busy" => "ev-busy",
                "idle" => "ev-idle",
                _ => "ev-retry",
            };
            (class, s.to_string())
        }
        Event::SessionIdle => ("ev-idle", "session.idle".into()),
        Event::SessionError(err) => ("ev-error", format!("error {}", err.name.unwrap_or(""))),
        Event::PartUpdated(part) => {
            if !part.is_tool() {
                return None;
            }
            let status = part.status();
            let class = match status {
                "error" => "ev-error",
                "completed" => "ev-tooldone",
                _ => "ev-tool",
            };
            (class, format!("{} {status}", part.tool().unwrap_or("tool")))
        }
        Event::MessageUpdated(info) => ("ev-msgerr", format!("message {}", info.error?)),
        Event::PermissionAsked(_) => ("ev-perm", format!("perm {}", event_type.trim_start_matches("permission."))),
        Event::PermissionReplied(r) => match r.reply {
            Some(reply) => ("ev-perm", format!("perm replied {reply}")),
            None => ("ev-perm", "perm replied".into()),
        },
        Event::ServerConnected => ("ev-misc", "connected".into()),
        Event::InstanceDisposed => ("ev-error", event_type.to_string()),
        _ if event_type.starts_with("permission.") => {
            ("ev-perm", format!("perm {}", event_type.trim_start_matches("permission.")))
        }
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
            if seg.len() > 12
                && (seg.starts_with("ses_") || seg.starts_with("msg_") || seg.starts_with("per_"))
            {
                "…"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn requests_lane(p: &mut Picture) {
    let ticks: Vec<Tick> =
        p.tl.entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::Http {
                    method,
                    path,
                    status,
                    error,
                    ..
                } => Some(Tick {
                    at: e.at_ms,
                    seq: e.seq,
                    class: if error.is_some() || *status == 0 || *status >= 400 {
                        "rq-bad"
                    } else {
                        "rq"
                    },
                    label: format!(
                        "{method} {} {}",
                        short_path(path),
                        if *status == 0 {
                            "no answer".to_string()
                        } else {
                            status.to_string()
                        }
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
    let ticks: Vec<Tick> =
        p.tl.entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::ModelRequest {
                    index,
                    kind,
                    turn,
                    has_tool_result,
                    summary,
                } => {
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
    let ticks: Vec<Tick> =
        p.tl.entries
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
                        title: format!(
                            "{:.1} ms (#{}): plugin record {}",
                            e.at_ms,
                            e.seq,
                            short(&record.to_string(), 600)
                        ),
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
    let ticks: Vec<Tick> =
        p.tl.entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::Harness { message } => Some(Tick {
                    at: e.at_ms,
                    seq: e.seq,
                    class: "hn",
                    label: short(message, 36),
                    title: format!("{:.1} ms (#{}): harness: {message}", e.at_ms, e.seq),
                }),
                Observation::StreamEnded { .. } | Observation::TeardownKilled { .. } => Some(Tick {
                    at: e.at_ms,
                    seq: e.seq,
                    class: "hn",
                    label: short(&e.obs.describe(), 36),
                    title: format!("{:.1} ms (#{}): {}", e.at_ms, e.seq, e.obs.describe()),
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
        let Observation::Process(change) = &e.obs else {
            continue;
        };
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
                // The bar keeps the command it appeared with; the mark tells what it became.
                q.marks.push((
                    e.at_ms,
                    e.seq,
                    format!("exec {}", short_cmd(cmdline)),
                    "pr-exec",
                ));
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
        p.text(
            PLOT_X0 + 4.0,
            y + 14.0,
            "none",
            "no process of the run observed",
        );
        return;
    }
    let hidden = procs.len().saturating_sub(MAX_PROCESS_ROWS);
    let end = p.t_end;
    for q in procs.iter().take(MAX_PROCESS_ROWS) {
        let y = p.lane(
            PROC_ROW_H,
            &format!("{} {}", q.pid, role_name(q.role)),
            "proc",
        );
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
        p.bar(
            q.start,
            stop,
            y + 3.0,
            PROC_ROW_H - 6.0,
            &format!("pr pr-{role}"),
            Some(q.seq),
            &title,
        );
        if let Some((z, zseq)) = q.zombie {
            let zend = q.end.map_or(end, |e| e.0);
            p.bar(
                z,
                zend,
                y + 3.0,
                PROC_ROW_H - 6.0,
                "pr pr-zombie",
                Some(zseq),
                &format!("pid {} zombie from {z:.1} ms", q.pid),
            );
        }
        if let Some((t, seq)) = q.end {
            p.tick(
                t,
                y + 1.0,
                y + PROC_ROW_H - 1.0,
                "pr-exit",
                Some(seq),
                &format!("{t:.1} ms: pid {} exited", q.pid),
            );
        } else if p.t1 >= end {
            let x = p.x(end);
            let _ = write!(
                p.out,
                "<path class=\"pr-alive\" d=\"M{:.1},{:.1} l6,5.5 l-6,5.5 z\"><title>still alive at the end</title></path>",
                x - 1.0,
                y + 3.0
            );
        }
        // Marks (exec, re-parenting) and their labels first, then the command where room is left.
        let mut labels = Labeler::new(1);
        for (t, seq, label, class) in &q.marks {
            if !p.visible(*t) {
                continue;
            }
            let x = p.x(*t);
            let _ = write!(
                p.out,
                "<path class=\"{class}{}\" data-seq=\"{seq}\" d=\"M{x:.1},{:.1} l5,5 l-5,5 l-5,-5 z\"><title>{}</title></path>",
                p.wit_class(Some(*seq)),
                y + 3.5,
                esc(&format!("{t:.1} ms (#{seq}): pid {} {label}", q.pid))
            );
            if let Some((_, lx)) = labels.place(x + 7.0, label) {
                p.text(lx, y + 12.0, &format!("tl {class}"), label);
            }
        }
        if q.start <= p.t1 && stop >= p.t0 {
            let cmd = short(&short_cmd(&q.cmdline), 70);
            let x0 = p.x(q.start) + 3.0;
            let placed = match labels.place(x0, &cmd) {
                Some((_, lx)) => Some((lx, cmd.clone())),
                None => {
                    // Cut to the room before the next label, or put after the last one.
                    let chars = ((labels.room_at(x0) - 6.0) / CHAR_W).floor() as usize;
                    let cut = short(&cmd, chars);
                    (if chars >= 10 {
                        labels.place(x0, &cut).map(|(_, lx)| (lx, cut))
                    } else {
                        None
                    })
                    .or_else(|| {
                        labels
                            .place(labels.end_of_row(0) + 8.0, &cmd)
                            .map(|(_, lx)| (lx, cmd.clone()))
                    })
                }
            };
            if let Some((lx, text)) = placed {
                p.text(lx, y + 12.0, "bartext", &text);
            }
        }
    }
    if hidden > 0 {
        let y = p.lane(16.0, &format!("+{hidden} more"), "proc");
        p.text(
            PLOT_X0 + 4.0,
            y + 12.0,
            "none",
            &format!("{hidden} more process(es) not drawn: see timeline.json"),
        );
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
        let w = vec![WitnessMark {
            n: 1,
            seq: 3,
            at_ms: 1100.0,
            what: "a <b>".into(),
        }];
        let svg = render(&tl, &w);
        for lane in [
            "steps",
            "server",
            "status (GET)",
            "events /global/event",
            "events /event",
            "model requests",
            "plugin records",
            "harness notes",
            "4242 tool",
        ] {
            assert!(
                svg.contains(&format!(">{}</text>", esc(lane))),
                "lane {lane} missing"
            );
        }
        assert!(svg.contains("class=\"witline\" data-seq=\"3\""));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(
            short_path("/session/ses_e0241220dffeUU1pJsVQ1YRbeP/abort"),
            "/session/…/abort"
        );
        assert_eq!(
            short_cmd("/a/b/opencode serve --port 0"),
            "opencode serve --port 0"
        );
    }

    #[test]
    fn the_picture_speaks_words_not_rust() {
        let mut b = oc_conform_checks::testing::TimelineBuilder::new();
        b.server_started();
        b.at(100.0).step(&crate::execute::step_name(&oc_conform_scenario::Step::Signal {
            signal: oc_conform_scenario::SignalName::Kill,
        }), StepPhase::Started);
        b.at(120.0).model_request(oc_conform_checks::ModelRequestKind::Turn);
        b.at(150.0).server_exited(None, Some(9));
        let svg = render(&b.build(), &[]);
        assert!(svg.contains("signal SIGKILL"), "{svg}");
        for debug in ["Kill", "Some(", "{ code", "Exited", "(Turn", "Started"] {
            assert!(!svg.contains(debug), "{debug} in the picture");
        }
    }
}
