//! The api-diff report: both sides, the document changes, the observed payload changes,
//! the payloads that differ from their own document, and a count per consumer. Rendered
//! for a terminal, as markdown, or as JSON (the report itself, `format_version` 1).

use crate::diff::{diff_documents, diff_observed, Change, Consumer, Severity};
use crate::observed::{Mismatch, Observed};
use crate::surface::{Surface, STUB_OPERATIONS};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

pub const FORMAT_VERSION: u32 = 1;

/// One side as the driver got it.
pub struct Side {
    /// What the user named (`1.18.34`, `latest`, a path).
    pub label: String,
    /// The version it is.
    pub version: String,
    /// Its document, when one was fetched.
    pub document: Option<Surface>,
    /// Its payloads as seen, when runs were given for it.
    pub observed: Option<Observed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub label: String,
    pub version: String,
    pub operations: usize,
    pub event_types: usize,
    /// Its document is a stub: it lists fewer than `STUB_OPERATIONS` operations.
    pub stub: bool,
    pub observed_timelines: usize,
    pub observed_event_types: usize,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub breaking: usize,
    pub possibly_breaking: usize,
    pub additive: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub a: SideSummary,
    pub b: SideSummary,
    /// Whether the documents were compared (not when one is a stub or missing).
    pub documents_compared: bool,
    /// Why something was not compared, and other things to know.
    pub notes: Vec<String>,
    pub changes: Vec<Change>,
    pub observed_changes: Vec<Change>,
    /// Observed payloads that differ from their own release's document.
    pub conformance: Vec<Mismatch>,
    /// Per consumer (`http-client`, `event-subscriber`, `plugin-author`).
    pub per_consumer: BTreeMap<Consumer, Counts>,
}

fn summary(side: &Side) -> SideSummary {
    SideSummary {
        label: side.label.clone(),
        version: side.version.clone(),
        operations: side.document.as_ref().map_or(0, |d| d.operations.len()),
        event_types: side.document.as_ref().map_or(0, |d| d.events.len()),
        stub: side.document.as_ref().is_some_and(Surface::is_stub),
        observed_timelines: side.observed.as_ref().map_or(0, |o| o.timelines),
        observed_event_types: side.observed.as_ref().map_or(0, |o| o.events.len()),
    }
}

/// Compares A (the baseline) with B.
pub fn compare(a: &Side, b: &Side) -> Report {
    let mut notes = Vec::new();
    let mut changes = Vec::new();
    let mut documents_compared = false;
    match (&a.document, &b.document) {
        (Some(da), Some(db)) => {
            let stubs: Vec<&Side> = [a, b].into_iter().filter(|s| s.document.as_ref().is_some_and(Surface::is_stub)).collect();
            if stubs.is_empty() {
                changes = diff_documents(da, db);
                documents_compared = true;
            }
            for s in stubs {
                let n = s.document.as_ref().map_or(0, |d| d.operations.len());
                notes.push(format!(
                    "{} ({}) publishes a stub document at /doc ({n} operation(s), fewer than {STUB_OPERATIONS}): \
                     its server serves more than it documents, so the documents were not compared",
                    s.label, s.version
                ));
            }
        }
        _ => notes.push("no document on one side: the documents were not compared".into()),
    }
    let mut observed_changes = Vec::new();
    let mut conformance = Vec::new();
    match (&a.observed, &b.observed) {
        (Some(oa), Some(ob)) => observed_changes = diff_observed(&oa.events, &ob.events),
        (Some(_), None) | (None, Some(_)) => notes.push("runs were given for one side only: observed payloads were not diffed".into()),
        (None, None) => {}
    }
    for side in [a, b] {
        if let (Some(o), Some(d)) = (&side.observed, &side.document) {
            if !d.is_stub() {
                conformance.extend(o.conformance(&side.version, d));
            }
        }
    }
    let mut per_consumer: BTreeMap<Consumer, Counts> = Consumer::ALL.iter().map(|c| (*c, Counts::default())).collect();
    for c in changes.iter().chain(&observed_changes) {
        for who in &c.consumers {
            let n = per_consumer.entry(*who).or_default();
            match c.severity {
                Severity::Breaking => n.breaking += 1,
                Severity::PossiblyBreaking => n.possibly_breaking += 1,
                Severity::Additive => n.additive += 1,
            }
        }
    }
    Report {
        format_version: FORMAT_VERSION,
        a: summary(a),
        b: summary(b),
        documents_compared,
        notes,
        changes,
        observed_changes,
        conformance,
        per_consumer,
    }
}

impl Report {
    /// The most severe change found (documents and observed payloads), if any.
    pub fn worst(&self) -> Option<Severity> {
        self.changes.iter().chain(&self.observed_changes).map(|c| c.severity).max()
    }

    /// Whether `--fail-on LEVEL` fails: a change at LEVEL or worse.
    pub fn fails(&self, fail_on: Severity) -> bool {
        self.worst().is_some_and(|w| w >= fail_on)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.changes.iter().chain(&self.observed_changes).filter(|c| c.severity == severity).count()
    }

    fn title(&self) -> String {
        format!("opencode interface: {} -> {}", self.a.version, self.b.version)
    }

    fn headline(&self) -> String {
        format!(
            "{} breaking, {} possibly breaking, {} additive",
            self.count(Severity::Breaking),
            self.count(Severity::PossiblyBreaking),
            self.count(Severity::Additive)
        )
    }

    /// For a terminal: every breaking and possibly breaking change, additive ones counted
    /// (all of them with `all`).
    pub fn render_terminal(&self, all: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}: {}", self.title(), self.headline());
        for side in [&self.a, &self.b] {
            let _ = writeln!(
                s,
                "  {} ({}): {} operations, {} event types{}{}",
                side.label,
                side.version,
                side.operations,
                side.event_types,
                if side.stub { " [STUB DOCUMENT]" } else { "" },
                if side.observed_timelines > 0 {
                    format!("; {} event types seen in {} timelines", side.observed_event_types, side.observed_timelines)
                } else {
                    String::new()
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        for (who, c) in &self.per_consumer {
            let _ = writeln!(
                s,
                "  for {}s: {} breaking, {} possibly breaking, {} additive",
                who.as_str(),
                c.breaking,
                c.possibly_breaking,
                c.additive
            );
        }
        for (title, list) in [("document", &self.changes), ("observed event payloads", &self.observed_changes)] {
            for sev in [Severity::Breaking, Severity::PossiblyBreaking, Severity::Additive] {
                let these: Vec<&Change> = list.iter().filter(|c| c.severity == sev).collect();
                if these.is_empty() {
                    continue;
                }
                let _ = writeln!(s, "\n{} ({title}): {}", sev.as_str().to_uppercase(), these.len());
                if sev == Severity::Additive && !all {
                    let _ = writeln!(s, "  (listed with --all, or in --format markdown/json)");
                    continue;
                }
                for c in these {
                    let _ = writeln!(s, "  {}: {}{}", c.place(), c.detail, c.via());
                }
            }
        }
        if !self.conformance.is_empty() {
            let _ = writeln!(s, "\nPAYLOADS THAT DIFFER FROM THEIR OWN DOCUMENT: {}", self.conformance.len());
            for m in &self.conformance {
                let _ = writeln!(s, "  {} event {}{}: {} ({} frame(s))", m.version, m.event, m.path, m.problem, m.frames);
            }
        }
        s
    }

    pub fn render_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n\n**{}**\n", self.title(), self.headline());
        let _ = writeln!(s, "| side | version | operations | event types | stub | timelines seen |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for side in [&self.a, &self.b] {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                md(&side.label),
                side.version,
                side.operations,
                side.event_types,
                if side.stub { "yes" } else { "no" },
                side.observed_timelines
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n> {}", md(n));
        }
        let _ = writeln!(s, "\n| consumer | breaking | possibly breaking | additive |\n|---|---|---|---|");
        for (who, c) in &self.per_consumer {
            let _ = writeln!(s, "| {} | {} | {} | {} |", who.as_str(), c.breaking, c.possibly_breaking, c.additive);
        }
        for (title, list) in [("Document", &self.changes), ("Observed event payloads", &self.observed_changes)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n## {title}\n\n| severity | where | change | reached from |\n|---|---|---|---|");
            for c in list {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} |",
                    c.severity.as_str(),
                    md(&c.place()),
                    md(&c.detail),
                    c.reached_from.as_deref().map(md).unwrap_or_default()
                );
            }
        }
        if !self.conformance.is_empty() {
            let _ = writeln!(
                s,
                "\n## Payloads that differ from their own document\n\n| version | event | where | problem | frames |\n|---|---|---|---|---|"
            );
            for m in &self.conformance {
                let _ = writeln!(s, "| {} | {} | `{}` | {} | {} |", m.version, m.event, md(&m.path), md(&m.problem), m.frames);
            }
        }
        s
    }

    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Text safe in a markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
