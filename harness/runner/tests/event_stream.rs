//! The one stream of events: `results.json` is what the results reporter builds from the
//! events, so a `--message-format json` stream rebuilds the same document; and the gate
//! decision the run made is what every report says.

mod common;

use oc_conform_checks::outcome::Outcome;
use oc_conform_runner::report::events::{JsonLines, Recording};
use oc_conform_runner::report::gate::{self, Decision};
use oc_conform_runner::report::model::SkippedCell;
use oc_conform_runner::report::{html, summary, Bus, Event, ResultsDoc, ResultsFiles, RunHeader};

fn header(doc: &ResultsDoc, dir: &std::path::Path) -> RunHeader {
    RunHeader {
        tool: doc.tool.clone(),
        started_at: doc.started_at.clone(),
        partition: doc.partition.clone(),
        versions: doc.versions.clone(),
        local_builds: doc.local_builds.clone(),
        scenarios: doc.scenarios.clone(),
        attached_to: None,
        report_dir: dir.display().to_string(),
        round: None,
        cells: doc.results.len(),
    }
}

/// The events a run of `doc` emits, cells in a completion order unlike the matrix's.
fn events_of(doc: &ResultsDoc, dir: &std::path::Path, strict: bool) -> Vec<Event> {
    let mut events = vec![Event::stream_started("run"), Event::RunStarted { run: header(doc, dir) }];
    let total = doc.results.len();
    for (i, c) in doc.results.iter().rev().enumerate() {
        events.push(Event::CellFinished {
            cell: Box::new(c.clone()),
            done: i + 1,
            total,
        });
    }
    events.push(Event::Skipped {
        skipped: SkippedCell {
            scenario: "server-sigkill-during-tool".into(),
            opencode_version: None,
            reason: "it signals the server".into(),
        },
    });
    events.push(Event::RunFinished {
        finished_at: doc.finished_at.clone(),
        gate: gate::decide(&doc.results, strict),
    });
    events
}

#[test]
fn results_json_is_rebuilt_from_the_json_stream() {
    let (doc, timelines) = common::synthetic();
    let dir = tempfile::tempdir().unwrap();
    common::write_artifacts(dir.path(), &timelines);
    let lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>> = Default::default();
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let bus = Bus::new(vec![Box::new(ResultsFiles::new()), Box::new(JsonLines::new(Shared(lines.clone())))]);
    for e in events_of(&doc, dir.path(), true) {
        bus.emit(e);
    }
    assert!(bus.errors().is_empty(), "{:?}", bus.errors());

    let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    let parsed: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event: {e}: {l}")))
        .collect();
    assert_eq!(parsed.len(), doc.results.len() + 4, "one line per event");
    assert!(text.lines().next().unwrap().contains(r#""event":"stream-started","schema_version":1"#), "{text}");
    let rebuilt = ResultsDoc::from_events(&parsed).expect("a run in the stream");
    let written = ResultsDoc::load(dir.path()).unwrap();
    assert_eq!(rebuilt, written);
    // The matrix order, whatever order the cells finished in.
    let order = |d: &ResultsDoc| d.results.iter().map(|c| (c.opencode_version.clone(), c.scenario.clone())).collect::<Vec<_>>();
    let mut matrix = doc.clone();
    matrix.sort_results();
    assert_eq!(order(&written), order(&matrix));
    assert_eq!(written.results, matrix.results, "the cells as the run reported them");
    assert_eq!(written.skipped.len(), 1);
    assert!(written.gate.as_ref().is_some_and(|g| g.strict));
}

#[test]
fn an_interrupt_writes_what_finished() {
    let (doc, timelines) = common::synthetic();
    let dir = tempfile::tempdir().unwrap();
    common::write_artifacts(dir.path(), &timelines);
    let rec = Recording::default();
    let bus = Bus::new(vec![Box::new(ResultsFiles::new()), Box::new(rec.clone())]);
    let events = events_of(&doc, dir.path(), false);
    // Started and two cells, then SIGINT.
    for e in events.into_iter().take(4) {
        bus.emit(e);
    }
    bus.emit(Event::Interrupted { signal: "SIGINT".into() });
    let written = ResultsDoc::load(dir.path()).unwrap();
    assert!(written.interrupted);
    assert_eq!(written.results.len(), 2);
    assert_eq!(written.gate, None, "an interrupted run decides nothing");
    assert_eq!(ResultsDoc::from_events(&rec.events()).unwrap().results.len(), 2);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("> **Interrupted**"), "{md}");
}

/// `--strict` with an unexpected pass: exit 1, and every report's headline says why.
#[test]
fn strict_is_one_decision_that_every_report_renders() {
    let (mut doc, timelines) = common::synthetic();
    doc.results.retain(|c| matches!(c.outcome, Outcome::Pass | Outcome::UnexpectedPass | Outcome::ExpectedFail));
    assert!(doc.results.iter().any(|c| c.outcome == Outcome::UnexpectedPass), "the fixture has an unexpected pass");
    let dir = tempfile::tempdir().unwrap();
    common::write_artifacts(dir.path(), &timelines);

    let lenient = gate::decide(&doc.results, false);
    assert_eq!((lenient.decision, lenient.exit_code), (Decision::Ok, 0));
    assert_eq!(lenient.headline, "all as expected");

    let strict = gate::decide(&doc.results, true);
    assert_eq!((strict.decision, strict.exit_code), (Decision::Regression, 1));
    assert!(strict.headline.starts_with("REGRESSION (--strict: 1 unexpected pass"), "{}", strict.headline);
    assert!(strict.because.iter().any(|b| b.ends_with("UNEXPECTED-PASS")), "{:?}", strict.because);

    doc.gate = Some(strict.clone());
    let md = summary::render(&doc);
    assert!(md.starts_with(&format!("## oc-conform: {}", strict.headline)), "{md}");
    let page = html::render(&doc, dir.path());
    assert!(page.contains("REGRESSION (--strict"), "the page's headline");
    assert!(!page.contains("all as expected"), "the page contradicts the exit code");
}

/// JUnit renders the same decision: under --strict the unexpected pass is a failure.
#[test]
fn junit_marks_a_strict_unexpected_pass_as_a_failure() {
    let (mut doc, _) = common::synthetic();
    doc.results.retain(|c| matches!(c.outcome, Outcome::Pass | Outcome::UnexpectedPass));
    let lenient = oc_conform_runner::report::junit::render(&doc).unwrap();
    assert_eq!(lenient.matches("<failure").count(), 0, "{lenient}");
    doc.gate = Some(gate::decide(&doc.results, true));
    let strict = oc_conform_runner::report::junit::render(&doc).unwrap();
    assert_eq!(strict.matches("<failure").count(), 1, "{strict}");
    assert!(strict.contains("UNEXPECTED-PASS: expected to fail but passed; --strict makes it a regression"), "{strict}");
}
