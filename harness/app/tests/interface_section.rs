//! `run`'s "Interface changes" section built from the documents real releases published
//! at `GET /doc` (recorded in oc-conform-apidiff's `tests/documents/`), and rendered as
//! the terminal, summary.md, index.html and results.json show it.

#[path = "../../apidiff/tests/support/recorded.rs"]
mod support;

use oc_conform_apidiff::Severity;
use oc_conform_app::drivers::interface_changes::{compared_order, exit_code, section, InterfaceOptions, VersionDoc};
use oc_conform_runner::report::interface::{InterfaceChanges, PairStatus};
use oc_conform_runner::report::{exit, gate, html, summary, ResultsDoc, RunHeader};

fn recorded(version: &str) -> VersionDoc {
    VersionDoc {
        version: version.into(),
        document: Ok(support::recorded_document(version)),
    }
}

/// A matrix with a stub release (1.14.41), three full ones and a version whose document
/// could not be had.
fn matrix_section(fail_on: Option<Severity>) -> InterfaceChanges {
    let mut docs: Vec<VersionDoc> = ["1.14.41", "1.14.48", "1.17.18", "1.18.34"].into_iter().map(recorded).collect();
    docs.push(VersionDoc {
        version: "1.19.0".into(),
        document: Err("cannot start opencode 1.19.0: it exited at once".into()),
    });
    section(&docs, InterfaceOptions { fail_on }).expect("a section for five versions")
}

#[test]
fn adjacent_pairs_are_compared_a_stub_is_a_stub_and_a_missing_document_is_said() {
    let s = matrix_section(None);
    let heads: Vec<String> = s.pairs.iter().map(|p| p.headline()).collect();
    assert_eq!(heads[0], "1.14.41 -> 1.14.48: not compared: stub document");
    assert_eq!(s.pairs[0].status, PairStatus::Stub);
    assert!(s.pairs[0].changes.is_empty(), "a stub is not everything removed: {:?}", s.pairs[0].changes.first());
    assert!(s.pairs[0].notes[0].contains("stub document"), "{:?}", s.pairs[0].notes);
    assert_eq!(s.pairs[1].status, PairStatus::Compared);
    assert_eq!(heads[2], "1.17.18 -> 1.18.34: 1 breaking, 8 possibly breaking, 8 additive");
    assert_eq!(s.pairs[2].changes.len(), 17);
    assert_eq!(s.pairs[2].changes[0].severity, "breaking", "most severe first");
    assert!(s.pairs[2]
        .changes
        .iter()
        .any(|c| c.severity == "breaking" && c.place == "POST /global/upgrade request body at .target"));
    assert_eq!(heads[3], "1.18.34 -> 1.19.0: not compared: no document");
    assert_eq!(s.pairs[3].status, PairStatus::Unavailable);
    assert!(s.pairs[3].notes[0].contains("it exited at once"), "{:?}", s.pairs[3].notes);
    assert!(!s.fails);
    assert_eq!(
        s.terminal_lines(),
        heads.iter().map(|h| format!("interface {h}")).collect::<Vec<_>>(),
        "one line per pair, and no verdict line without --api-fail-on"
    );
}

#[test]
fn the_section_fails_only_when_asked_and_only_at_its_level() {
    assert!(matrix_section(Some(Severity::Breaking)).fails);
    assert!(matrix_section(Some(Severity::PossiblyBreaking)).fails);
    // A stub pair and a missing document have no change to fail on.
    let stub_only: Vec<VersionDoc> = ["1.14.41", "1.14.48"].into_iter().map(recorded).collect();
    let s = section(&stub_only, InterfaceOptions { fail_on: Some(Severity::PossiblyBreaking) }).unwrap();
    assert!(!s.fails);
    assert_eq!(s.terminal_lines().last().unwrap(), "interface: no change at --api-fail-on possibly-breaking or worse");
    let one: Vec<VersionDoc> = vec![recorded("1.18.34")];
    assert!(section(&one, InterfaceOptions::default()).is_none(), "one version has no pair");
}

#[test]
fn versions_are_compared_in_semver_order_each_once() {
    let given: Vec<(String, ())> = ["1.18.34", "1.9.2", "1.17.18", "a-local-build", "1.18.34"]
        .into_iter()
        .map(|v| (v.to_string(), ()))
        .collect();
    let order: Vec<&str> = compared_order(&given).iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(order, ["1.9.2", "1.17.18", "1.18.34", "a-local-build"]);
}

fn doc_with(section: InterfaceChanges) -> ResultsDoc {
    let mut doc = ResultsDoc::new(&RunHeader {
        tool: "oc-conform test".into(),
        started_at: "2026-12-01T10:00:00Z".into(),
        partition: None,
        versions: vec!["1.17.18".into(), "1.18.34".into()],
        local_builds: Default::default(),
        scenarios: vec![],
        attached_to: None,
        report_dir: "/tmp".into(),
        round: None,
        cells: 0,
    });
    doc.gate = Some(gate::decide(&[], false));
    doc.interface_changes = Some(section);
    doc
}

#[test]
fn summary_and_page_render_the_section_apart_from_the_cells() {
    let doc = doc_with(matrix_section(None));
    let md = summary::render(&doc);
    let at = md.find("### Interface changes").expect("the section in summary.md");
    let section = &md[at..];
    assert!(section.contains("it does not change the gate or the exit code"), "{section}");
    assert!(section.contains("#### 1.17.18 -\\> 1.18.34: 1 breaking, 8 possibly breaking, 8 additive"), "{section}");
    assert!(section.contains("| breaking | `POST /global/upgrade request body at .target` | now always present/required |"), "{section}");
    assert!(!section.contains("| additive |"), "additive changes are counted, not listed, in the summary");
    assert!(section.contains("`oc-conform api-diff 1.17.18 1.18.34 --all`"));
    assert!(section.contains("#### 1.14.41 -\\> 1.14.48: not compared: stub document"));
    assert!(section.contains("it exited at once"));

    let page = html::render(&doc, std::path::Path::new("/nonexistent"));
    let at = page.find("<section id=\"interface\">").expect("the section in index.html");
    let section = &page[at..page[at..].find("</section>").unwrap() + at];
    assert_eq!(section.matches("<details").count(), 4);
    assert!(section.contains("<td>additive</td>"), "the page lists every change");
    assert!(section.contains("1.17.18 -&gt; 1.18.34: 1 breaking"), "escaped");
}

#[test]
fn results_json_keeps_the_section_and_the_exit_code_follows_it_only_when_asked() {
    let doc = doc_with(matrix_section(None));
    let text = serde_json::to_string(&doc).unwrap();
    let back: ResultsDoc = serde_json::from_str(&text).unwrap();
    assert_eq!(back.interface_changes, doc.interface_changes);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["interface_changes"]["pairs"][2]["breaking"], 1);
    assert_eq!(v["interface_changes"]["pairs"][0]["status"], "stub");
    assert_eq!(exit_code(&doc), exit::OK, "breaking changes without --api-fail-on");
    let asked = doc_with(matrix_section(Some(Severity::Breaking)));
    assert_eq!(exit_code(&asked), exit::REGRESSION);
    assert_eq!(serde_json::to_value(&asked).unwrap()["interface_changes"]["fail_on"], "breaking");
}
