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
