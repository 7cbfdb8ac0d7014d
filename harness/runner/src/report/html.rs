//! `index.html`: the run as one self-contained page (inline CSS and script, nothing
//! fetched), for a person to open from the report directory or a CI artifact.
//!
//! At the top the gate and the counts, then the scenario x version matrix (colored cells;
//! a click opens that cell below). Then one section per cell, regressions first and open:
//! the timeline picture ([`super::svg`]) with the failing checks' witness entries marked
//! `W1`, `W2`, ... (hovering a witness line highlights its mark), the failing checks'
//! messages and witnesses, every check, and the tail of `server.log`. Each cell's
//! timeline is read from `<dir>/<artifacts.timeline>`; a missing one is said so. All text
//! from the run is escaped.

use super::common::{self, witness_line};
use super::model::{CellReport, ResultsDoc};
use super::svg::{self, esc, WitnessMark};
use super::gate::Decision;
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Timeline;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const FILE: &str = "index.html";

const LOG_TAIL_LINES: usize = 200;
const LOG_TAIL_BYTES: u64 = 256 * 1024;
const LOG_LINE_CHARS: usize = 400;
/// Cells drawn in full (timeline picture, every check, the log's tail: ~19 KB each). A
/// run with more cells draws its regressions in full up to this many, and gives the rest
/// one line with their artifacts' links, so a 40 x 30 matrix still opens fast.
pub const MAX_FULL_CELLS: usize = 60;

pub fn write(doc: &ResultsDoc, dir: &Path) -> std::io::Result<()> {
    common::write_atomic(dir, FILE, render(doc, dir).as_bytes())
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "o-pass",
        Outcome::Fail => "o-fail",
        Outcome::ExpectedFail => "o-xfail",
        Outcome::UnexpectedPass => "o-xpass",
        Outcome::Flaky => "o-flaky",
        Outcome::Timeout => "o-timeout",
        Outcome::Error => "o-error",
    }
}

/// The page for `doc`, reading artifacts relative to `dir`.
pub fn render(doc: &ResultsDoc, dir: &Path) -> String {
    let decision = doc.gate_decision();
    let gate = decision.headline.as_str();
    let gate_class = match decision.decision {
        Decision::Ok => "g-ok",
        Decision::Regression => "g-bad",
        Decision::NoVerdict => "g-nov",
    };
    // Cell ids by position in results: stable, and free of any text from the run.
    let id = |c: &CellReport| {
        let i = doc
            .results
            .iter()
            .position(|x| std::ptr::eq(x, c))
            .unwrap_or(0);
        format!("cell-{i}")
    };

    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\" data-js=\"off\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>oc-conform: {} · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(gate),
        esc(&doc.started_at)
    );

    // Header.
    let _ = write!(
        h,
        "<header><h1>oc-conform <span class=\"gate {gate_class}\">{}</span></h1><p class=\"counts\">",
        esc(gate)
    );
    for (o, n) in common::counts(doc) {
        let _ = write!(
            h,
            "<span class=\"badge {}\">{n} {}</span> ",
            outcome_class(o),
            esc(o.as_str())
        );
    }
    let versions = common::versions(doc);
    let scenarios = common::scenarios(doc);
    let _ = write!(
        h,
        "</p><p class=\"meta\">{} cells · {} version(s) x {} scenario(s) · {} · {} to {}{}</p>",
        doc.results.len(),
        versions.len(),
        scenarios.len(),
        esc(&doc.tool),
        esc(&doc.started_at),
        esc(&doc.finished_at),
        doc.partition
            .as_ref()
            .map(|p| format!(" · partition {}", esc(p)))
            .unwrap_or_default()
    );
    for line in doc.results.iter().filter_map(common::first_bad_headline) {
        let _ = write!(h, "<p class=\"bisected\"><b>auto-bisect:</b> {}</p>", esc(&line));
    }
    if doc.interrupted {
        let _ = write!(
            h,
            "<p class=\"banner\">Interrupted: the run was stopped; {} cell(s) of the matrix have no result.</p>",
            common::missing_cells(doc)
        );
    }
    h.push_str("</header>\n<main>\n");

    // Matrix.
    h.push_str("<section id=\"matrix\"><h2>Matrix</h2><table class=\"matrix\"><thead><tr><th>scenario</th>");
    for v in &versions {
        let _ = write!(h, "<th>{}</th>", esc(v));
    }
    h.push_str("</tr></thead><tbody>");
    for s in &scenarios {
        let _ = write!(h, "<tr><th>{}</th>", esc(s));
        for v in &versions {
            match common::cell(doc, s, v) {
                Some(c) => {
                    let _ = write!(
                        h,
                        "<td class=\"{}\"><a href=\"#{}\" title=\"{}\">{}</a></td>",
                        outcome_class(c.outcome),
                        id(c),
                        esc(&cell_title(c)),
                        esc(common::marker(c.outcome))
                    );
                }
                None => {
                    let (text, why) = match common::skipped(doc, s, v) {
                        Some(skip) => ("skip", format!("SKIPPED: {}", skip.reason)),
                        None => ("-", common::missing_reason(doc).to_string()),
                    };
                    let _ = write!(h, "<td class=\"o-none\" title=\"{}\">{text}</td>", esc(&why));
                }
            }
        }
        h.push_str("</tr>");
    }
    h.push_str(
        "</tbody></table><p class=\"legend\"><span class=\"badge o-pass\">pass</span> \
         <span class=\"badge o-fail\">FAIL</span> regression \
         <span class=\"badge o-xfail\">xfail</span> expected failure \
         <span class=\"badge o-xpass\">XPASS</span> unexpected pass \
         <span class=\"badge o-flaky\">flaky</span> \
         <span class=\"badge o-timeout\">TIMEOUT</span> <span class=\"badge o-error\">ERROR</span> no verdict \
         · click a cell for its timeline</p></section>\n",
    );

    if let Some(interface) = &doc.interface_changes {
        interface.html(&mut h);
    }

    // Cells, regressions first.
    h.push_str(
        "<section id=\"cells\"><h2>Cells <button type=\"button\" id=\"expand\">expand all</button> \
         <button type=\"button\" id=\"collapse\">collapse all</button></h2>\n",
    );
    let cells = common::ordered_cells(doc);
    let everything = doc.results.len() <= MAX_FULL_CELLS;
    let mut full = 0;
    let mut brief = 0;
    for o in common::OUTCOME_ORDER {
        for c in cells.iter().filter(|c| c.outcome == o) {
            if everything || (common::needs_attention(c.outcome) && full < MAX_FULL_CELLS) {
                full += 1;
                cell_section(&mut h, c, &id(c), dir);
            } else {
                brief += 1;
                brief_cell_section(&mut h, c, &id(c));
            }
        }
    }
    if brief > 0 {
        let _ = write!(
            h,
            "<p class=\"dim\">{brief} cell(s) are shown in one line: a run of {} cells draws at most {MAX_FULL_CELLS} in full, regressions first; the others' timelines and logs are linked.</p>",
            doc.results.len()
        );
    }
    h.push_str("</section>\n</main>\n");
    let _ = writeln!(
        h,
        "<footer>{} · results.json, junit.xml and summary.md are beside this page</footer>",
        esc(&doc.tool)
    );
    let _ = writeln!(h, "<script>{SCRIPT}</script>\n</body>\n</html>");
    h
}

fn cell_title(c: &CellReport) -> String {
    let mut t = format!(
        "{} on {}: {}",
        c.scenario,
        c.opencode_version,
        c.outcome.as_str()
    );
    if !c.failed_checks.is_empty() {
        let _ = write!(t, " ({})", c.failed_checks.join(", "));
    }
    t
}

/// A cell's one line: its outcome, scenario, version, time and failing checks.
fn cell_line(c: &CellReport) -> String {
    format!(
        "<span class=\"badge {}\">{}</span> <b>{}</b> on <b>{}</b> <span class=\"dim\">{}{}</span>",
        outcome_class(c.outcome),
        esc(c.outcome.as_str()),
        esc(&c.scenario),
        esc(&c.opencode_version),
        esc(&common::secs(c.duration_ms)),
        if c.failed_checks.is_empty() {
            String::new()
        } else {
            format!(" · failing: {}", esc(&c.failed_checks.join(", ")))
        }
    )
}

/// A cell in one line (a large run), with its artifacts' links.
fn brief_cell_section(h: &mut String, c: &CellReport, id: &str) {
    let _ = writeln!(
        h,
        "<p class=\"brief\" id=\"{id}\">{} <a href=\"{}\">timeline.json</a> · <a href=\"{}\">server.log</a></p>",
        cell_line(c),
        esc(&c.artifacts.timeline),
        esc(&c.artifacts.server_log),
    );
}

fn cell_section(h: &mut String, c: &CellReport, id: &str, dir: &Path) {
    let open = if common::needs_attention(c.outcome) {
        " open"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<details class=\"cell {}\" id=\"{id}\"{open}><summary>{}</summary>\n<div class=\"body\">",
        outcome_class(c.outcome),
        cell_line(c)
    );

    // What the cell means.
    h.push_str("<ul class=\"facts\">");
    if let Some(e) = &c.error {
        let _ = write!(h, "<li class=\"err\"><b>no verdict:</b> {}</li>", esc(e));
    }
    if let Some(e) = &c.expectation {
        let issue = match &e.issue {
            Some(url) if common::is_web_url(url) => format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                esc(url),
                esc(&common::issue_label(url))
            ),
            Some(other) => esc(other),
            None => "no issue given".into(),
        };
        let what = match c.outcome {
            Outcome::UnexpectedPass => {
                "expected to fail, but passed: the bug may be fixed (update expectations.toml)"
            }
            Outcome::ExpectedFail => "fails the known way",
            _ => "expectation",
        };
        let _ = write!(
            h,
            "<li><b>{what}:</b> {issue}{}</li>",
            e.reason
                .as_ref()
                .map(|r| format!(" · {}", esc(r)))
                .unwrap_or_default()
        );
    }
    if c.runs.len() > 1 {
        let runs: Vec<String> = c.runs.iter().map(|r| esc(r.verdict.as_str())).collect();
        let _ = write!(
            h,
            "<li><b>{} runs:</b> {}; the picture, checks and log are the first run's</li>",
            c.runs.len(),
            runs.join(", ")
        );
    }
    for line in super::common::cell_findings(c) {
        let _ = write!(h, "<li>{}</li>", esc(&line));
    }
    let _ = write!(
        h,
        "<li><b>artifacts:</b> <a href=\"{}\">timeline.json</a> · <a href=\"{}\">server.log</a> · \
         <a href=\"{}\">model-requests.jsonl</a></li></ul>",
        esc(&c.artifacts.timeline),
        esc(&c.artifacts.server_log),
        esc(&c.artifacts.model_requests)
    );

    // The picture.
    let failing = common::failing_checks(c);
    // Witness entries numbered in time order (W1 is the earliest), each once.
    let mut marks: Vec<WitnessMark> = Vec::new();
    for chk in &failing {
        for w in &chk.witness {
            if !marks.iter().any(|m| m.seq == w.seq) {
                marks.push(WitnessMark {
                    n: 0,
                    seq: w.seq,
                    at_ms: w.at_ms,
                    what: w.what.clone(),
                });
            }
        }
    }
    marks.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms).then(a.seq.cmp(&b.seq)));
    for (i, m) in marks.iter_mut().enumerate() {
        m.n = i + 1;
    }
    h.push_str("<div class=\"picture\">");
    match load_timeline(dir, &c.artifacts.timeline) {
        Ok(tl) => {
            h.push_str(&svg::render(&tl, &marks));
            h.push_str(LEGEND);
        }
        Err(e) => {
            let _ = write!(
                h,
                "<p class=\"missing\">No timeline picture: {}</p>",
                esc(&e)
            );
        }
    }
    h.push_str("</div>");

    // Failing checks.
    if !failing.is_empty() {
        h.push_str("<h4>Failing checks</h4>");
        for chk in &failing {
            let _ = write!(
                h,
                "<div class=\"check\"><p><code class=\"cname\">{}</code> <span class=\"v v-{}\">{}</span> {}</p>",
                esc(&chk.check),
                chk.verdict.as_str(),
                chk.verdict.as_str(),
                esc(&chk.message)
            );
            if !chk.witness.is_empty() {
                h.push_str("<ol class=\"witness\">");
                for w in &chk.witness {
                    let n = marks.iter().find(|m| m.seq == w.seq).map_or(0, |m| m.n);
                    let _ = write!(
                        h,
                        "<li data-seq=\"{}\"><span class=\"wn\">W{n}</span><code>{}</code></li>",
                        w.seq,
                        esc(&witness_line(w))
                    );
                }
                h.push_str("</ol>");
            }
            h.push_str("</div>");
        }
    }

    // Every check.
    if !c.checks.is_empty() {
        let _ = write!(
            h,
            "<details class=\"all\"><summary>All checks ({})</summary><table class=\"checks\">",
            c.checks.len()
        );
        for chk in &c.checks {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td><span class=\"v v-{}\">{}</span></td><td>{}</td></tr>",
                esc(&chk.check),
                chk.verdict.as_str(),
                chk.verdict.as_str(),
                esc(&chk.message)
            );
        }
        h.push_str("</table></details>");
    }

    // Server log tail.
    match log_tail(&dir.join(&c.artifacts.server_log)) {
        Ok((lines, total)) => {
            let _ = write!(
                h,
                "<details class=\"log\"><summary>server.log ({})</summary><pre>",
                if total > lines.len() {
                    format!("last {} of {total} lines", lines.len())
                } else {
                    format!("{total} lines")
                }
            );
            for l in &lines {
                let class = if l.starts_with("[err]") { "e" } else { "o" };
                let _ = writeln!(
                    h,
                    "<span class=\"{class}\">{}</span>",
                    esc(&common::truncate(l, LOG_LINE_CHARS))
                );
            }
            h.push_str("</pre></details>");
        }
        Err(e) => {
            let _ = write!(h, "<p class=\"missing\">No server log: {}</p>", esc(&e));
        }
    }
    h.push_str("</div></details>\n");
}

fn load_timeline(dir: &Path, rel: &str) -> Result<Timeline, String> {
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{rel} is missing (no timeline was recorded for this run)")
        }
        _ => format!("{rel}: {e}"),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{rel} cannot be read: {e}"))
}

/// The last lines of a log (reading at most its last [`LOG_TAIL_BYTES`]), and how many
/// lines it has (counted in what was read, when the file is larger).
fn log_tail(path: &Path) -> Result<(Vec<String>, usize), String> {
    let mut f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "server.log is missing".to_string(),
        _ => format!("server.log: {e}"),
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let cut = len > LOG_TAIL_BYTES;
    if cut {
        f.seek(SeekFrom::Start(len - LOG_TAIL_BYTES))
            .map_err(|e| format!("server.log: {e}"))?;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("server.log: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if cut && !lines.is_empty() {
        lines.remove(0); // most likely a partial line
    }
    let total = lines.len();
    let tail = lines
        .iter()
        .skip(total.saturating_sub(LOG_TAIL_LINES))
        .map(|s| s.to_string())
        .collect();
    Ok((tail, total))
}

const LEGEND: &str = "<p class=\"tlegend\">\
<span class=\"sw st-busy\"></span>busy <span class=\"sw st-idle\"></span>idle \
<span class=\"sw st-retry\"></span>retry \
<span class=\"sw ev-tool\"></span>tool part <span class=\"sw ev-error\"></span>error \
<span class=\"sw ev-perm\"></span>permission \
<span class=\"sw pr-server\"></span>server process <span class=\"sw pr-opencode\"></span>other opencode \
<span class=\"sw pr-tool\"></span>tool process <span class=\"sw pr-orphan\"></span>re-parented \
<span class=\"sw witness\"></span>witness · hover a mark for details</p>";

const CSS: &str = r#"
:root{--fail:#d93f3f;--pass:#dff3df;--passt:#1d6b1d;--xfail:#e6e8f0;--xpass:#ffe08a;--flaky:#ffbf80;--nov:#7e57c2}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f7f9}
header,main,footer{max-width:1260px;margin:0 auto;padding:12px 20px}
header{padding-top:18px}
h1{margin:0 0 6px;font-size:22px}h2{font-size:18px;margin:18px 0 8px}h4{margin:14px 0 6px}
.gate{font-size:15px;padding:3px 10px;border-radius:12px;vertical-align:middle}
.g-ok{background:var(--pass);color:var(--passt)}.g-bad{background:var(--fail);color:#fff}.g-nov{background:var(--nov);color:#fff}
.meta,.dim,.legend,.tlegend,.dropped,footer{color:#59636e;font-size:12.5px}
.banner{background:#fff4ce;border:1px solid #e5c36b;padding:6px 10px;border-radius:6px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.o-pass,td.o-pass{background:var(--pass);color:var(--passt)}.badge.o-fail,td.o-fail{background:var(--fail);color:#fff}
.badge.o-xfail,td.o-xfail{background:var(--xfail);color:#4a5060}.badge.o-xpass,td.o-xpass{background:var(--xpass);color:#5c4500}
.badge.o-flaky,td.o-flaky{background:var(--flaky);color:#5a2d00}
.badge.o-timeout,.badge.o-error,td.o-timeout,td.o-error{background:var(--nov);color:#fff}
td.o-none{background:#fafafa;color:#aaa}
table.matrix{border-collapse:collapse;background:#fff;font-size:13px}
.matrix th,.matrix td{border:1px solid #d8dde3;padding:3px 10px;text-align:left}
.matrix thead th{background:#eef1f4}.matrix tbody th{font-weight:500;font-family:ui-monospace,monospace;font-size:12.5px}
.matrix td{text-align:center;min-width:92px;padding:0}
.matrix td a{display:block;padding:3px 10px;color:inherit;text-decoration:none;font-weight:600}
.matrix td a:hover{outline:2px solid #1f2328;outline-offset:-2px}
details.cell{background:#fff;border:1px solid #d8dde3;border-left:6px solid #d8dde3;border-radius:6px;margin:8px 0}
details.cell.o-fail{border-left-color:var(--fail)}details.cell.o-xpass{border-left-color:#e0b100}
details.cell.o-flaky{border-left-color:#f08c2e}details.cell.o-timeout,details.cell.o-error{border-left-color:var(--nov)}
details.cell.o-pass{border-left-color:#7cc67c}details.cell.o-xfail{border-left-color:#a9b0c4}
details.cell:target{box-shadow:0 0 0 3px #1f6feb55}
details.cell>summary{cursor:pointer;padding:7px 12px;list-style-position:inside}
.body{padding:0 14px 12px}
.facts{margin:4px 0 8px;padding-left:18px}.facts .err{color:#a40e26}
.picture{overflow-x:auto;border:1px solid #e3e6ea;border-radius:4px;background:#fff}
.picture .tlegend,.picture .dropped{margin:4px 8px}
.missing{color:#a40e26;font-style:italic;margin:8px}
.check{margin:6px 0 10px}.check p{margin:2px 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.cname{background:#eef1f4;padding:1px 5px;border-radius:4px;font-weight:600}
.v{font-size:11px;font-weight:700;text-transform:uppercase;padding:0 5px;border-radius:4px}
.v-pass{color:var(--passt);background:var(--pass)}.v-fail{color:#fff;background:var(--fail)}.v-error{color:#fff;background:var(--nov)}
ol.witness{list-style:none;margin:4px 0 0;padding-left:8px}
ol.witness li{padding:1px 4px;border-radius:3px;white-space:pre-wrap;word-break:break-all}
ol.witness li.hl,ol.witness li:hover{background:#ffe3e3}
.wn{display:inline-block;min-width:30px;font-weight:700;color:#c62828;font-size:12px}
table.checks{border-collapse:collapse;font-size:12.5px;margin:4px 0}
table.checks td{border-top:1px solid #eee;padding:3px 8px;vertical-align:top}table.checks td:first-child{white-space:nowrap}
details.log pre{background:#0f1419;color:#d6dde6;padding:8px 10px;border-radius:4px;max-height:420px;overflow:auto;white-space:pre-wrap;word-break:break-all}
details.log .e{color:#ffb4a8}
details.all>summary,details.log>summary{cursor:pointer;color:#0b5cad;margin:8px 0 4px}
button{font:12px system-ui,sans-serif;margin-left:6px;cursor:pointer}
svg.timeline{display:block;width:100%;min-width:900px;height:auto;font:10px system-ui,sans-serif}
svg .band{fill:#fff}svg .lane:nth-child(even) .band{fill:#f6f8fa}
svg .lname{fill:#39414a;font-size:11px;font-weight:600}
svg .grid{stroke:#e3e6ea}svg .axis{fill:#59636e;text-anchor:middle}svg .axis-unit{fill:#59636e;font-weight:600}
svg .stepline{stroke:#9aa7b4;stroke-dasharray:2 3}
svg .tl{fill:#39414a}svg .tl.failed{fill:#c62828}
svg .bartext{fill:#1f2328;font-size:10px;pointer-events:none}
svg .none{fill:#8c959f;font-style:italic}
svg .tick line{stroke:#8c959f;stroke-width:1.6}svg .tick .hit{fill:transparent}
svg .tick:hover line{stroke-width:3}
svg .step{fill:#9aa7b4}svg .step.alt{fill:#5f6f80}svg .step.failed{fill:#e57373}
.zoomcap{margin:10px 8px 2px;font-weight:600;color:#39414a;font-size:12.5px}
svg .srv-starting{fill:#cfd8dc}svg .srv-up{fill:#a5d6a7}svg .srv-stopping{fill:#ffcc80}
svg .srv-mark line{stroke:#607d8b}svg .srv-mark.bad line{stroke:#e65100}
.st-busy,svg .st-busy{fill:#f5a623;background:#f5a623}.st-idle,svg .st-idle{fill:#5cb85c;background:#5cb85c}
.st-retry,svg .st-retry{fill:#ab47bc;background:#ab47bc}svg .st-other{fill:#b0bec5}svg .st-perm{fill:#4db6ac}
svg .ev-busy line{stroke:#f5a623}svg .ev-idle line{stroke:#2e9d2e}svg .ev-retry line{stroke:#ab47bc}
svg .ev-error line,svg .ev-msgerr line{stroke:#d32f2f}svg .ev-tool line{stroke:#1e88e5}svg .ev-tooldone line{stroke:#0d47a1}
svg .ev-perm line{stroke:#00897b}svg .ev-misc line{stroke:#b0bec5}
svg .tl.ev-error,svg .tl.ev-msgerr{fill:#c62828}svg .tl.ev-idle{fill:#1d6b1d}svg .tl.ev-busy{fill:#9a6200}svg .tl.ev-tool,svg .tl.ev-tooldone{fill:#0d47a1}
svg .rq line{stroke:#546e7a}svg .rq-bad line{stroke:#d32f2f}svg .tl.rq-bad{fill:#c62828}
svg .md-title line{stroke:#90a4ae}svg .md-turn line{stroke:#6a1b9a}svg .md-bad line{stroke:#d32f2f;stroke-width:3}svg .tl.md-bad{fill:#c62828;font-weight:700}
svg .pl line{stroke:#8d6e63}svg .hn line{stroke:#bdbdbd}svg .tl.hn{fill:#757575}
.ev-tool{background:#1e88e5}.ev-error{background:#d32f2f}.ev-perm{background:#00897b}
.pr-server,svg .pr-server{fill:#90caf9;background:#90caf9}.pr-opencode,svg .pr-opencode{fill:#ce93d8;background:#ce93d8}
.pr-tool,svg .pr-tool{fill:#ffab91;background:#ffab91}svg .pr-zombie{fill:#bdbdbd}
svg .pr-exit line{stroke:#37474f;stroke-width:2}svg .pr-alive{fill:#d32f2f}
.pr-orphan,svg .pr-orphan{fill:#d32f2f;background:#d32f2f}svg .tl.pr-orphan{fill:#c62828;font-weight:600}svg .pr-exec{fill:#5c6bc0}
svg .wit{stroke:#d32f2f;stroke-width:2.2}svg .tick.wit .hit{stroke:none}svg .tick.wit line{stroke:#d32f2f;stroke-width:3}
svg .witline line{stroke:#d32f2f;stroke-width:1.2;stroke-dasharray:5 3;opacity:.85}
svg .witlabel{fill:#c62828;font-weight:700;font-size:11px}
svg .hl,svg .hl line{stroke:#111 !important;stroke-width:4 !important;opacity:1}
.sw{display:inline-block;width:12px;height:10px;border-radius:2px;margin:0 3px 0 8px;vertical-align:-1px}
.sw.witness{background:repeating-linear-gradient(90deg,#d32f2f 0 4px,transparent 4px 6px)}
footer{padding-bottom:30px}
"#;

const SCRIPT: &str = r#"
(function(){
  var root=document.documentElement; root.setAttribute('data-js','ready');
  function openHash(){
    var id=decodeURIComponent(location.hash.slice(1)); if(!id) return;
    var el=document.getElementById(id);
    if(el && el.tagName==='DETAILS'){ el.open=true; el.scrollIntoView({block:'start'}); }
  }
  window.addEventListener('hashchange',openHash); openHash();
  function all(open){ document.querySelectorAll('details.cell').forEach(function(d){d.open=open;}); }
  var ex=document.getElementById('expand'), co=document.getElementById('collapse');
  if(ex) ex.onclick=function(){all(true)}; if(co) co.onclick=function(){all(false)};
  function mark(cell,seq,on){
    cell.querySelectorAll('[data-seq="'+seq+'"]').forEach(function(e){ e.classList.toggle('hl',on); });
  }
  document.querySelectorAll('details.cell').forEach(function(cell){
    cell.querySelectorAll('ol.witness li[data-seq], svg [data-seq]').forEach(function(el){
      var seq=el.getAttribute('data-seq');
      el.addEventListener('mouseenter',function(){mark(cell,seq,true)});
      el.addEventListener('mouseleave',function(){mark(cell,seq,false)});
    });
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server.log");
        let text: String = (0..250).map(|i| format!("[out] line {i}\n")).collect();
        std::fs::write(&p, text).unwrap();
        let (lines, total) = log_tail(&p).unwrap();
        assert_eq!(total, 250);
        assert_eq!(lines.len(), LOG_TAIL_LINES);
        assert_eq!(lines.last().unwrap(), "[out] line 249");
        assert!(log_tail(&dir.path().join("nope"))
            .unwrap_err()
            .contains("missing"));
    }
}
