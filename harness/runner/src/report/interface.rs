//! The "Interface changes" section of a run over several opencode versions: what changed
//! in opencode's interface (its OpenAPI document at `GET /doc`) between each pair of
//! adjacent versions of the matrix, as `oc-conform api-diff` classifies it. It is kept
//! apart from the behavioural outcomes: it is not a cell, it never moves the gate, and it
//! sets the exit code only when the run was asked to (`--api-fail-on`, then `fails`).
//!
//! This is the section as results.json stores it and every report renders it; the diff
//! itself is `oc-conform-apidiff`'s, gathered by the run driver
//! (`oc-conform-app`'s `drivers::interface_changes`).

use super::summary::{md_cell, md_inline};
use super::svg::esc;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceChanges {
    /// `--api-fail-on`: `breaking` or `possibly-breaking`, when the run was asked to fail
    /// on a change this severe or worse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<String>,
    /// A change at `fail_on` or worse was found: the run exits 1 even when the gate is ok.
    #[serde(default)]
    pub fails: bool,
    /// Adjacent versions of the matrix, oldest first.
    pub pairs: Vec<InterfacePair>,
}

/// Whether a pair's documents were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairStatus {
    Compared,
    /// One side publishes a stub document (a handful of routes): its server serves more
    /// than it documents, so nothing is reported as removed.
    Stub,
    /// One side's document could not be had (not installed, server did not start, `/doc`
    /// did not answer or did not parse); `notes` says why.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfacePair {
    pub from: String,
    pub to: String,
    pub status: PairStatus,
    pub breaking: usize,
    pub possibly_breaking: usize,
    pub additive: usize,
    /// Why the pair was not compared, and other things to know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Every change, most severe first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<InterfaceChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceChange {
    /// `breaking`, `possibly-breaking` or `additive`.
    pub severity: String,
    /// `POST /session -> 200 at .time`, `event session.status`, `schema Model at .id`.
    pub place: String,
    pub detail: String,
}

/// Changes listed per pair in summary.md (the rest are in index.html and results.json).
const MAX_MD_CHANGES: usize = 30;

impl InterfacePair {
    /// `1.17.18 -> 1.18.34: 2 breaking, 8 possibly breaking, 10 additive`, or why the pair
    /// was not compared.
    pub fn headline(&self) -> String {
        let what = match self.status {
            PairStatus::Compared => format!(
                "{} breaking, {} possibly breaking, {} additive",
                self.breaking, self.possibly_breaking, self.additive
            ),
            PairStatus::Stub => "not compared: stub document".to_string(),
            PairStatus::Unavailable => "not compared: no document".to_string(),
        };
        format!("{} -> {}: {what}", self.from, self.to)
    }

    /// The command that lists the pair in full.
    pub fn command(&self) -> String {
        format!("oc-conform api-diff {} {} --all", self.from, self.to)
    }

    fn listed_in_summary(&self) -> impl Iterator<Item = &InterfaceChange> {
        self.changes.iter().filter(|c| c.severity != "additive")
    }
}

impl InterfaceChanges {
    /// The terminal's lines: one per pair, and the verdict of `--api-fail-on`.
    pub fn terminal_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.pairs.iter().map(|p| format!("interface {}", p.headline())).collect();
        if let Some(level) = &self.fail_on {
            lines.push(if self.fails {
                format!("interface: a change at --api-fail-on {level} or worse: the run exits 1")
            } else {
                format!("interface: no change at --api-fail-on {level} or worse")
            });
        }
        lines
    }

    /// The section of summary.md.
    pub fn markdown(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Interface changes\n\nopencode's OpenAPI document (`GET /doc`) between adjacent versions, classified as \
             `oc-conform api-diff` does. Not behaviour: {}.\n",
            self.gate_note()
        );
        for p in &self.pairs {
            let _ = writeln!(md, "#### {}\n", md_inline(&p.headline()));
            for n in &p.notes {
                let _ = writeln!(md, "> {}\n", md_inline(n));
            }
            let listed: Vec<&InterfaceChange> = p.listed_in_summary().collect();
            if !listed.is_empty() {
                let _ = writeln!(md, "| severity | where | change |\n|---|---|---|");
                for c in listed.iter().take(MAX_MD_CHANGES) {
                    let _ = writeln!(md, "| {} | {} | {} |", c.severity, md_cell(&format!("`{}`", c.place.replace('`', "'"))), md_cell(&c.detail));
                }
                if listed.len() > MAX_MD_CHANGES {
                    let _ = writeln!(md, "\n{} more in index.html and results.json.", listed.len() - MAX_MD_CHANGES);
                }
                md.push('\n');
            }
            if p.status == PairStatus::Compared {
                let _ = writeln!(md, "Every change, additive ones too: `{}`\n", p.command());
            }
        }
    }

    /// The section of index.html.
    pub fn html(&self, h: &mut String) {
        let _ = write!(
            h,
            "<section id=\"interface\"><h2>Interface changes</h2><p class=\"dim\">opencode's OpenAPI document \
             (<code>GET /doc</code>) between adjacent versions, classified as <code>oc-conform api-diff</code> does. \
             Not behaviour: {}.</p>",
            esc(&self.gate_note())
        );
        for p in &self.pairs {
            let _ = write!(h, "<details{}><summary>{}</summary>", if p.breaking > 0 { " open" } else { "" }, esc(&p.headline()));
            for n in &p.notes {
                let _ = write!(h, "<p class=\"banner\">{}</p>", esc(n));
            }
            if !p.changes.is_empty() {
                h.push_str("<table><thead><tr><th>severity</th><th>where</th><th>change</th></tr></thead><tbody>");
                for c in &p.changes {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                        esc(&c.severity),
                        esc(&c.place),
                        esc(&c.detail)
                    );
                }
                h.push_str("</tbody></table>");
            }
            h.push_str("</details>");
        }
        h.push_str("</section>\n");
    }

    fn gate_note(&self) -> String {
        match (&self.fail_on, self.fails) {
            (None, _) => "it does not change the gate or the exit code (`--api-fail-on` makes it)".into(),
            (Some(level), true) => format!("`--api-fail-on {level}` was given and such a change was found: the run exits 1"),
            (Some(level), false) => format!("`--api-fail-on {level}` was given and no such change was found"),
        }
    }
}
