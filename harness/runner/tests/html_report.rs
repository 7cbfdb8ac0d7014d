//! `index.html` in a real browser: headless Chromium (Debian package `chromium`) loads the
//! page of a synthetic run, its DOM after the page's script ran must hold the matrix and
//! every timeline lane, and its screenshot, decoded, must show each cell of the matrix
//! filled with its outcome's colour (a FAIL cell red, a PASS cell green), where the
//! browser laid that cell out. A missing Chromium fails the test, naming the package.
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

/// A decoded screenshot: 8-bit RGB pixels, row by row.
struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

type Rgb = [u8; 3];

impl Picture {
    fn decode(bytes: &[u8]) -> Picture {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("the screenshot is a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
        let info = reader.next_frame(&mut buf).expect("the PNG decodes");
        let samples = info.color_type.samples();
        assert!(
            samples >= 3,
            "the screenshot is not in colour ({:?})",
            info.color_type
        );
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(samples)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    /// The most common colour among the pixels inside `rect` and the share of them it
    /// covers.
    fn dominant(&self, rect: &Rect) -> (Rgb, f64) {
        let mut counts = std::collections::HashMap::<Rgb, usize>::new();
        let (x0, y0) = (rect.x.max(0.0) as usize, rect.y.max(0.0) as usize);
        let x1 = ((rect.x + rect.w) as usize).min(self.width);
        let y1 = ((rect.y + rect.h) as usize).min(self.height);
        for y in y0..y1 {
            for x in x0..x1 {
                *counts.entry(self.rgb[y * self.width + x]).or_default() += 1;
            }
        }
        let total: usize = counts.values().sum();
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(c, n)| (c, n as f64 / total as f64))
            .unwrap_or(([0; 3], 0.0))
    }
}

/// Where an element was laid out, in CSS pixels of the page (device scale 1).
#[derive(serde::Deserialize, Debug)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    /// The rectangle without its outer `by` pixels (cell borders, anti-aliased edges).
    fn inset(&self, by: f64) -> Rect {
        Rect {
            x: self.x + by,
            y: self.y + by,
            w: self.w - 2.0 * by,
            h: self.h - 2.0 * by,
        }
    }
}

/// One matrix cell as the browser laid it out.
#[derive(serde::Deserialize, Debug)]
struct MatrixCell {
    class: String,
    #[serde(flatten)]
    rect: Rect,
}

/// Appended to a copy of the page: lays out the matrix's cells and writes where each one
/// is into the DOM, for `--dump-dom` to hand back.
const MEASURE_CELLS: &str = "<script>(()=>{const pre=document.createElement('pre');\
pre.id='cell-rects';pre.textContent=JSON.stringify([...document.querySelectorAll('table.matrix td')]\
.map(td=>{const r=td.getBoundingClientRect();return {class:td.className,x:r.left,y:r.top,w:r.width,h:r.height}}));\
document.body.appendChild(pre)})()</script>";

/// Where the browser puts the matrix's cells on `page` in a `width` x `height` window.
fn matrix_cells(page: &Path, width: u32, height: u32) -> Vec<MatrixCell> {
    let source = std::fs::read_to_string(page).unwrap();
    let measured = page.with_file_name(".index-measure.html");
    std::fs::write(
        &measured,
        source.replace("</body>", &format!("{MEASURE_CELLS}</body>")),
    )
    .unwrap();
    let dom = chromium(
        &measured,
        &[
            "--dump-dom".to_string(),
            format!("--window-size={width},{height}"),
        ],
    );
    let _ = std::fs::remove_file(&measured);
    let json = dom
        .split_once("<pre id=\"cell-rects\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| json)
        .unwrap_or_else(|| {
            panic!(
                "the cells were not measured:\n{}",
                &dom[..dom.len().min(2000)]
            )
        });
    serde_json::from_str(json).unwrap_or_else(|e| panic!("cell rects `{json}`: {e}"))
}

/// What an outcome's cell must look like: red for a failure, green for a pass, and so on.
fn looks_like(class: &str, [r, g, b]: Rgb) -> bool {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    match class {
        "o-fail" => r > 170 && g < 110 && b < 110,
        "o-pass" => g > r + 10 && g > b + 10,
        "o-xpass" => r > 200 && g > 180 && b < 170,
        "o-flaky" => r > 200 && (130..=215).contains(&g) && b < 160,
        "o-timeout" | "o-error" => b > g + 40 && r > g + 20,
        "o-xfail" | "o-none" => (r - b).abs() < 30 && (g - b).abs() < 30 && r > 180,
        other => panic!("a matrix cell of unknown class `{other}`"),
    }
}

/// Judges the picture of the matrix: every cell is filled with its outcome's colour
/// (a FAIL cell red, a PASS cell green, ...), and a FAIL and a PASS cell are both there.
/// An error names the first cell that does not look right.
fn judge_matrix(picture: &Picture, cells: &[MatrixCell]) -> Result<(), String> {
    for class in ["o-fail", "o-pass"] {
        if !cells.iter().any(|c| c.class == class) {
            return Err(format!("no `{class}` cell in the matrix: {cells:?}"));
        }
    }
    for cell in cells {
        let inner = cell.rect.inset(2.0);
        if inner.w < 20.0 || inner.h < 8.0 {
            return Err(format!("the cell {cell:?} is too small to see"));
        }
        let (colour, share) = picture.dominant(&inner);
        if share < 0.5 || !looks_like(&cell.class, colour) {
            return Err(format!(
                "the `{}` cell at {:?} shows #{:02x}{:02x}{:02x} on {:.0}% of it",
                cell.class,
                cell.rect,
                colour[0],
                colour[1],
                colour[2],
                share * 100.0
            ));
        }
    }
    Ok(())
}

/// Screenshots `page` into `png` in a `width` x `height` window; the decoded picture.
fn capture(page: &Path, png: &Path, width: u32, height: u32) -> Picture {
    chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    let picture = Picture::decode(&bytes);
    assert_eq!(
        (picture.width, picture.height),
        (width as usize, height as usize),
        "the screenshot is not the window's size"
    );
    picture
}

/// Why the picture looks blank (one colour covers nearly all of it), if it does.
fn blank(picture: &Picture) -> Option<String> {
    let everything = Rect {
        x: 0.0,
        y: 0.0,
        w: picture.width as f64,
        h: picture.height as f64,
    };
    let (colour, share) = picture.dominant(&everything);
    (share >= 0.9).then(|| {
        format!(
            "#{:02x}{:02x}{:02x} covers {:.0}% of it",
            colour[0],
            colour[1],
            colour[2],
            share * 100.0
        )
    })
}

/// Screenshots `page` and judges that the picture is not blank.
fn screenshot(page: &Path, png: &Path, width: u32, height: u32) -> Picture {
    let picture = capture(page, png, width, height);
    if let Some(why) = blank(&picture) {
        panic!("the screenshot {} looks blank: {why}", png.display());
    }
    picture
}

fn kept(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    dir.join(name)
}

/// The synthetic run's reports written into a new temporary directory.
fn synthetic_page() -> (ResultsDoc, tempfile::TempDir) {
    let (doc, timelines) = common::synthetic();
    let tmp = tempfile::tempdir().unwrap();
    common::write_artifacts(tmp.path(), &timelines);
    html::write(&doc, tmp.path()).unwrap();
    (doc, tmp)
}

#[test]
fn the_page_renders_in_a_browser_with_every_lane() {
    let (doc, tmp) = synthetic_page();
    let dir = tmp.path();
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
    let picture = screenshot(&page, &png, 1400, 1000);
    let cells = matrix_cells(&page, 1400, 1000);
    assert_eq!(cells.len(), 10, "5 scenarios x 2 versions: {cells:?}");
    if let Err(why) = judge_matrix(&picture, &cells) {
        panic!("the matrix does not show the outcomes: {why}");
    }
    // Kept for a person to look at (best effort: another test run may be writing too).
    let kept = kept("oc-conform-html-report");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&page, kept.join(html::FILE));
    let _ = std::fs::copy(&png, kept.join("index.png"));
    eprintln!("screenshot: {}", kept.join("index.png").display());
}

/// The picture's judges can say no: a blank page is judged blank, and the page with its
/// style sheet taken out (the outcomes as plain text, no colours) is judged not to show
/// the matrix's outcomes.
#[test]
fn a_blank_or_unstyled_page_is_judged_broken() {
    let (_, tmp) = synthetic_page();
    let dir = tmp.path();
    let source = std::fs::read_to_string(dir.join(html::FILE)).unwrap();

    let empty = dir.join("blank.html");
    std::fs::write(&empty, "<!doctype html><html><body></body></html>").unwrap();
    let picture = capture(&empty, &dir.join("blank.png"), 1400, 1000);
    assert!(
        blank(&picture).is_some(),
        "an empty page was not judged blank"
    );

    let (before, rest) = source
        .split_once("<style>")
        .expect("the page has a style sheet");
    let (_, after) = rest.split_once("</style>").unwrap();
    let unstyled = dir.join("unstyled.html");
    std::fs::write(&unstyled, format!("{before}{after}")).unwrap();
    let picture = capture(&unstyled, &dir.join("unstyled.png"), 1400, 1000);
    let cells = matrix_cells(&unstyled, 1400, 1000);
    assert_eq!(cells.len(), 10, "the unstyled page still has its matrix");
    let verdict = judge_matrix(&picture, &cells);
    assert!(
        verdict.is_err(),
        "a matrix without colours was judged to show the outcomes"
    );
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
