//! `index.html` in a real browser: headless Chromium (Debian package `chromium`) loads the
//! page of a synthetic run, its DOM after the page's script ran must hold the matrix and
//! every timeline lane, and a screenshot must show a picture. A missing Chromium fails
//! the test, naming the package.
//!
//! The page and its screenshot are copied to `target/tmp/oc-conform-html-report/` for a
//! person to look at.
//! `OC_CONFORM_RENDER_DIR=<report dir> cargo test -p oc-conform-runner --test html_report
//! -- --ignored` (re)writes the reports of a stored run there and screenshots its page.

mod common;

use oc_conform_runner::report::{self, html, ResultsDoc};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs headless Chromium on `page` with `extra` flags; its stdout.
fn chromium(page: &Path, extra: &[String]) -> String {
    let bin = common::require_tool("chromium", "apt-get install -y chromium");
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            // Our own child, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    out
}

fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 20_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    let mut seen = [false; 256];
    bytes.iter().for_each(|b| seen[*b as usize] = true);
    let distinct = seen.iter().filter(|s| **s).count();
    assert!(
        distinct > 200,
        "the screenshot looks blank ({distinct} distinct byte values)"
    );
}

fn kept(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    dir.join(name)
}

#[test]
fn the_page_renders_in_a_browser_with_every_lane() {
    let (doc, timelines) = common::synthetic();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_artifacts(dir, &timelines);
    html::write(&doc, dir).unwrap();
    let page = dir.join(html::FILE);
    let source = std::fs::read_to_string(&page).unwrap();

    // Self-contained: nothing to fetch.
    for external in ["<link", " src=", "@import", "url(", "<iframe"] {
        assert!(
            !source.contains(external),
            "the page refers to something outside it: {external}"
        );
    }
    // Escaped: text from the run never becomes markup.
    assert!(!source.contains("<phantom idle>") && source.contains("&lt;phantom idle&gt;"));
    assert!(
        !source.contains("<b>not markup</b>") && source.contains("&lt;b&gt;not markup&lt;/b&gt;")
    );
    assert!(!source.contains("<stderr>"));

    let dom = chromium(&page, &["--dump-dom".to_string()]);
    assert!(
        dom.contains("data-js=\"ready\""),
        "the page's script did not run:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("<table class=\"matrix\">"));
    assert!(
        dom.contains("<svg class=\"timeline\""),
        "no timeline picture at all"
    );
    for lane in [
        "steps",
        "server",
        "status (GET)",
        "events /global/event",
        "events /event",
        "harness requests",
        "model requests",
        "plugin records",
        "harness notes",
        "4242 tool",
        "17824 server",
        "17841 opencode",
    ] {
        assert!(
            dom.contains(&format!(">{lane}</text>")),
            "the lane `{lane}` is not in the rendered page"
        );
    }
    // Witness entries of the failing checks are marked and listed.
    assert!(dom.contains("class=\"witline\""));
    assert!(dom.contains("orphan: re-parented to 1"));
    assert!(dom.contains("<span class=\"wn\">W1</span>"));
    // The ERROR cell has no timeline, and says so; the cells are there, regressions open.
    assert!(dom.contains(
        "No timeline picture: 1.15.13/server-sigterm-during-tool/timeline.json is missing"
    ));
    assert_eq!(
        dom.matches("<details class=\"cell ").count(),
        doc.results.len()
    );
    assert!(dom.contains("server.log (3 lines)"));

    let png = dir.join("index.png");
    screenshot(&page, &png, 1400, 1000);
    // Kept for a person to look at (best effort: another test run may be writing too).
    let kept = kept("oc-conform-html-report");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&page, kept.join(html::FILE));
    let _ = std::fs::copy(&png, kept.join("index.png"));
    eprintln!("screenshot: {}", kept.join("index.png").display());
}

/// Renders a stored run's reports (`OC_CONFORM_RENDER_DIR`) and screenshots the page:
/// `index.png` as it opens, `index-open.png` with every cell open (taller).
#[test]
#[ignore = "needs a report dir: OC_CONFORM_RENDER_DIR=<dir>"]
fn render_a_stored_report() {
    let dir = PathBuf::from(
        std::env::var_os("OC_CONFORM_RENDER_DIR").expect("set OC_CONFORM_RENDER_DIR"),
    );
    let doc = ResultsDoc::load(&dir).unwrap();
    report::write_all(&doc, &dir).unwrap();
    let height = |var: &str, default: u32| {
        std::env::var(var)
            .ok()
            .and_then(|h| h.parse().ok())
            .unwrap_or(default)
    };
    let png = dir.join("index.png");
    screenshot(
        &dir.join(html::FILE),
        &png,
        1400,
        height("OC_CONFORM_RENDER_HEIGHT", 3000),
    );
    eprintln!("screenshot: {}", png.display());

    let page = std::fs::read_to_string(dir.join(html::FILE)).unwrap();
    let open = dir.join(".index-open.html");
    std::fs::write(
        &open,
        page.replace("<details class=\"cell ", "<details open class=\"cell "),
    )
    .unwrap();
    let png = dir.join("index-open.png");
    screenshot(
        &open,
        &png,
        1400,
        height("OC_CONFORM_RENDER_OPEN_HEIGHT", 6000),
    );
    let _ = std::fs::remove_file(open);
    eprintln!("screenshot, every cell open: {}", png.display());
}

/// A 40 x 30 matrix built from the synthetic run's cells: every outcome, regressions
/// spread over versions and scenarios; each cell points at one of the synthetic
/// timelines (so the page reads real artifacts).
fn large_matrix() -> (ResultsDoc, Vec<(String, oc_conform_checks::Timeline)>) {
    use oc_conform_checks::outcome::Outcome;
    let (mut doc, timelines) = common::synthetic();
    let templates = doc.results.clone();
    let of = |o: Outcome| templates.iter().find(|c| c.outcome == o).cloned().expect("the synthetic run has every outcome");
    let (pass, fail, xfail) = (of(Outcome::Pass), of(Outcome::Fail), of(Outcome::ExpectedFail));
    let versions: Vec<String> = (0..40).map(|i| format!("1.{}.{}", 10 + i / 10, i % 10)).collect();
    let scenarios: Vec<String> = (0..30).map(|i| format!("scenario-{i:02}")).collect();
    let mut cells = Vec::new();
    for (vi, v) in versions.iter().enumerate() {
        for (si, s) in scenarios.iter().enumerate() {
            let mut c = if (vi * 31 + si) % 37 == 0 {
                fail.clone()
            } else if si % 7 == 0 {
                xfail.clone()
            } else {
                pass.clone()
            };
            c.scenario = s.clone();
            c.opencode_version = v.clone();
            cells.push(c);
        }
    }
    doc.versions = versions;
    doc.scenarios = scenarios;
    doc.results = cells;
    doc.gate = Some(report::gate::decide(&doc.results, false));
    (doc, timelines)
}

#[test]
fn a_40_by_30_matrix_stays_readable() {
    let (doc, timelines) = large_matrix();
    assert_eq!(doc.results.len(), 1200);
    let regressions = doc.results.iter().filter(|c| c.outcome == oc_conform_checks::outcome::Outcome::Fail).count();
    assert!(regressions > 20, "{regressions}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_artifacts(dir, &timelines);
    report::write_all(&doc, dir).unwrap();

    // summary.md: under GitHub's job-summary limit, regressions before the matrix, each
    // regression named.
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.len() <= report::summary::MAX_BYTES, "summary.md is {} bytes", summary.len());
    let attention = summary.find("### Needs attention").expect("regressions listed");
    assert!(attention < summary.find("### Matrix").unwrap_or(usize::MAX), "regressions come first");
    for c in doc.results.iter().filter(|c| c.outcome == oc_conform_checks::outcome::Outcome::Fail) {
        assert!(summary.contains(&format!("`{}` on `{}`", c.scenario, c.opencode_version)), "{} {}", c.scenario, c.opencode_version);
    }

    // One annotation per regression.
    let annotations = report::annotations::github_lines(&doc);
    assert_eq!(annotations.len(), regressions);
    assert!(annotations.iter().all(|l| l.starts_with("::error title=oc-conform FAIL") && !l.contains('\n')));

    // index.html: small enough to open fast, and it does.
    let page = dir.join(html::FILE);
    let size = std::fs::metadata(&page).unwrap().len();
    let started = Instant::now();
    let dom = chromium(&page, &["--dump-dom".to_string()]);
    let load = started.elapsed();
    eprintln!("40 x 30: index.html {size} bytes, summary.md {} bytes, headless chromium --dump-dom {load:?}", summary.len());
    assert!(size < 3 * 1024 * 1024, "index.html is {size} bytes");
    assert!(dom.contains("data-js=\"ready\""), "the page's script did not run");
    assert_eq!(dom.matches("<td class=\"o-").count(), 1200, "every cell is in the matrix");
    assert!(dom.contains("<svg class=\"timeline\""), "the regressions keep their pictures");
    for i in 0..1200 {
        assert!(dom.contains(&format!("id=\"cell-{i}\"")), "the matrix link to cell-{i} has no target");
    }
    assert!(load < Duration::from_secs(30), "loading took {load:?}");
    std::fs::copy(&page, kept("large-matrix.html")).unwrap();
}
