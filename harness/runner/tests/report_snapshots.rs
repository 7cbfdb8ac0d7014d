//! `summary.md` and `junit.xml` of a fixed synthetic run, as insta snapshots
//! (`tests/snapshots/`). Review a change with `cargo insta review`, or re-run with
//! `INSTA_UPDATE=always` and read the diff.

mod common;

use oc_conform_runner::report::{self, junit, summary};

#[test]
fn summary_md() {
    let (doc, _) = common::synthetic();
    insta::assert_snapshot!("summary.md", summary::render(&doc));
}

#[test]
fn junit_xml() {
    let (doc, _) = common::synthetic();
    insta::assert_snapshot!("junit.xml", junit::render(&doc).unwrap());
}

/// An interrupted run: what finished, and the rest of the matrix said to be not run.
#[test]
fn interrupted_run() {
    let (mut doc, _) = common::synthetic();
    doc.interrupted = true;
    doc.results.retain(|c| c.opencode_version == common::NEW);
    let md = summary::render(&doc);
    assert!(md.contains("> **Interrupted**"), "{md}");
    assert!(md.contains("-: not run: the run was interrupted"), "{md}");
    let xml = junit::render(&doc).unwrap();
    assert!(xml.contains("type=\"NOT-RUN\""), "{xml}");
    assert!(
        xml.contains("<property name=\"interrupted\" value=\"true\"/>"),
        "{xml}"
    );
}

/// `write_all` writes every report, as `run`, `merge` and an interrupted run call it.
#[test]
fn write_all_writes_every_report() {
    let (doc, timelines) = common::synthetic();
    let dir = tempfile::tempdir().unwrap();
    common::write_artifacts(dir.path(), &timelines);
    report::write_all(&doc, dir.path()).unwrap();
    for f in ["results.json", "junit.xml", "summary.md", "index.html"] {
        let len = std::fs::metadata(dir.path().join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 500, "{f} is missing or nearly empty ({len} bytes)");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Rust's debug spelling of a value (`Exited { code: None, signal: Some(15) }`, an enum
/// variant's name such as `(Opencode, ...)`), found in `text`.
fn debug_text(text: &str) -> Vec<&str> {
    const MARKS: [&str; 6] = ["Some(", "None", " { ", "(Opencode", "(Tool", "(Server"];
    text.lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .collect()
}

#[test]
fn the_debug_text_finder_finds_it() {
    assert_eq!(
        debug_text("ok\n  #18 server Exited { code: None, signal: Some(15) }\nfine"),
        vec!["  #18 server Exited { code: None, signal: Some(15) }"]
    );
    assert!(debug_text("the server was killed by SIGTERM (signal 15)").is_empty());
}

/// People read junit.xml: its witness lines are words. The witness text is written by
/// `Observation::describe` (oc-conform-checks, `timeline.rs`), which still prints Rust
/// debug text for server changes, process roles, model request kinds and step phases.
#[test]
fn junit_xml_has_no_rust_debug_text() {
    let (doc, _) = common::synthetic();
    let xml = junit::render(&doc).unwrap();
    assert_eq!(debug_text(&xml), Vec::<&str>::new());
}
