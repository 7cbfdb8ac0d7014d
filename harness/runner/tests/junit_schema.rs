//! `junit.xml` validates against the JUnit schema CI tools follow: the Jenkins xUnit
//! plugin's `junit-10.xsd`, checked by a real validator (`xmllint`, Debian package
//! `libxml2-utils`).
//!
//! The schema is not copied into this repository: it is taken from the pytest source
//! distribution on PyPI (`testing/example_scripts/junit-10.xsd`, pytest validates its own
//! JUnit output against it), fetched once through `python3 -m pip download`, checked
//! against a pinned SHA-256 and cached in `$OC_CONFORM_CACHE/schemas/` (default
//! `~/.cache/oc-conform/schemas/`). `OC_CONFORM_JUNIT_XSD=/path/junit-10.xsd` uses a
//! schema file already at hand instead. A missing tool fails the test, naming it.
//!
//! One attribute is added to the schema before validating: a `skipped` count on the root
//! `<testsuites>`, which quick-junit writes (as newer JUnit dialects do) and junit-10.xsd,
//! older, does not declare (the amended copy is written beside the cached one, as
//! `junit-10-root-skipped.xsd`). Everything else is judged by the pinned schema as it is.
//!
//! Below, junit.xml is also read back as CI tools read a testcase's identity.

mod common;

use oc_conform_runner::report::junit;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PYTEST: &str = "pytest==9.2.0";
const XSD_IN_SDIST: &str = "pytest-9.2.0/testing/example_scripts/junit-10.xsd";
const XSD_SHA256: &str = "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6";

fn cache_dir() -> PathBuf {
    match std::env::var_os("OC_CONFORM_CACHE") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/oc-conform")
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The schema (given, cached, or fetched now) with the root's `skipped` allowed; made
/// once per test process.
fn junit_xsd() -> PathBuf {
    static XSD: OnceLock<PathBuf> = OnceLock::new();
    XSD.get_or_init(|| {
        let pinned = find_or_fetch_xsd();
        let text = std::fs::read_to_string(&pinned)
            .unwrap_or_else(|e| panic!("{}: {e}", pinned.display()));
        let schemas = cache_dir().join("schemas");
        std::fs::create_dir_all(&schemas).unwrap();
        let amended = schemas.join("junit-10-root-skipped.xsd");
        let mut part = tempfile::NamedTempFile::new_in(&schemas).unwrap();
        std::io::Write::write_all(&mut part, allow_root_skipped(&text).as_bytes()).unwrap();
        part.persist(&amended).unwrap();
        amended
    })
    .clone()
}

/// `xsd` with a `skipped` attribute declared on the `testsuites` element, after its
/// `errors`.
fn allow_root_skipped(xsd: &str) -> String {
    let root = xsd
        .find("<xs:element name=\"testsuites\">")
        .expect("the schema declares <testsuites>");
    let errors = "<xs:attribute name=\"errors\" type=\"xs:string\" />";
    let at = root
        + xsd[root..]
            .find(errors)
            .expect("<testsuites> declares `errors`")
        + errors.len();
    format!(
        "{}\n            <xs:attribute name=\"skipped\" type=\"xs:string\" />{}",
        &xsd[..at],
        &xsd[at..]
    )
}

fn find_or_fetch_xsd() -> PathBuf {
    if let Some(p) = std::env::var_os("OC_CONFORM_JUNIT_XSD") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "OC_CONFORM_JUNIT_XSD={} is not a file",
            p.display()
        );
        return p;
    }
    let cached = cache_dir().join("schemas/junit-10.xsd");
    if let Ok(bytes) = std::fs::read(&cached) {
        if sha256_hex(&bytes) == XSD_SHA256 {
            return cached;
        }
    }
    common::require_tool(
        "python3",
        "apt-get install -y python3-pip (or set OC_CONFORM_JUNIT_XSD to a junit-10.xsd)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            PYTEST,
            "-d",
        ])
        .arg(tmp.path())
        .output()
        .expect("cannot run python3");
    assert!(
        out.status.success(),
        "fetching the JUnit schema failed: `python3 -m pip download --no-deps --no-binary :all: {PYTEST}` \
         exited {} (is pip installed? `apt-get install -y python3-pip`; or set OC_CONFORM_JUNIT_XSD):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let sdist = tmp.path().join("pytest-9.2.0.tar.gz");
    let file = std::fs::File::open(&sdist).unwrap_or_else(|e| panic!("{}: {e}", sdist.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut xsd = None;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == XSD_IN_SDIST {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            xsd = Some(bytes);
            break;
        }
    }
    let xsd = xsd.unwrap_or_else(|| panic!("{XSD_IN_SDIST} is not in {}", sdist.display()));
    assert_eq!(
        sha256_hex(&xsd),
        XSD_SHA256,
        "the schema in {PYTEST} is not the pinned one"
    );
    let schemas = cached.parent().unwrap();
    std::fs::create_dir_all(schemas).unwrap();
    let mut part = tempfile::NamedTempFile::new_in(schemas).unwrap();
    std::io::Write::write_all(&mut part, &xsd).unwrap();
    part.persist(&cached).unwrap();
    cached
}

fn validate(xml: &str) {
    if let Err(e) = check(xml) {
        panic!("{e}");
    }
}

fn check(xml: &str) -> Result<(), String> {
    let xmllint = common::require_tool("xmllint", "apt-get install -y libxml2-utils");
    let xsd = junit_xsd();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("cannot run xmllint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stderr.contains("validates") {
        Ok(())
    } else {
        Err(format!(
            "junit.xml does not validate against {}:\n{stderr}\n--- junit.xml ---\n{xml}",
            xsd.display()
        ))
    }
}

/// The validator really judges: a suite's `disabled` count (what quick-junit 0.5 wrote in
/// place of `skipped`) is outside the schema, and is refused.
#[test]
fn the_validator_refuses_what_the_schema_does_not_allow() {
    let (doc, _) = common::synthetic();
    let xml = junit::render(&doc).unwrap();
    let suite = xml.find("<testsuite ").expect("a testsuite");
    let xml = format!(
        "{}{}",
        &xml[..suite],
        xml[suite..].replacen(" skipped=\"", " disabled=\"", 1)
    );
    assert!(xml.contains("<testsuite name=\"opencode 1.18.34\" tests=\"5\" disabled=\""), "{xml}");
    let err = check(&xml).expect_err("a suite with `disabled` must not validate");
    assert!(err.contains("disabled"), "{err}");
}

/// The one amendment is the root's `skipped`: another attribute there is still refused.
#[test]
fn the_amended_schema_allows_only_the_roots_skipped() {
    let (doc, _) = common::synthetic();
    let xml = junit::render(&doc).unwrap();
    assert!(xml.contains("<testsuites name=\"oc-conform\" tests=\"10\" skipped=\""), "{xml}");
    let err = check(&xml.replacen(" skipped=\"", " disabled=\"", 1))
        .expect_err("a root with `disabled` must not validate");
    assert!(err.contains("disabled"), "{err}");
}

#[test]
fn junit_xml_validates_against_the_junit_schema() {
    let (doc, _) = common::synthetic();
    validate(&junit::render(&doc).unwrap());
}

#[test]
fn an_interrupted_partial_run_validates_too() {
    let (mut doc, _) = common::synthetic();
    doc.interrupted = true;
    doc.results.retain(|c| c.opencode_version == common::OLD);
    doc.results[0].scenario = "odd <name> & \"quotes\" ]]>".into();
    doc.versions.push("9.9.9 & <more>".into());
    let xml = junit::render(&doc).unwrap();
    assert!(xml.contains("type=\"NOT-RUN\""));
    validate(&xml);
}

#[test]
fn an_empty_run_validates() {
    let (mut doc, _) = common::synthetic();
    doc.results.clear();
    doc.versions.clear();
    doc.scenarios.clear();
    validate(&junit::render(&doc).unwrap());
}

// How CI tools read a testcase. Jenkins splits `classname` at its last dot into package
// and class and keys a test's history on package, class and name; GitLab keys a test on
// classname and name and keeps only the first of two with the same. These tests read
// junit.xml back as they do.

/// (package, class, name) of each testcase, by Jenkins's rule, with its suite's name.
fn identities(xml: &str) -> Vec<(String, String, String, String)> {
    let report = quick_junit::Report::deserialize_from_str(xml).expect("junit.xml reads back");
    let mut out = Vec::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let classname = case.classname.as_ref().expect("every testcase has a classname");
            let (package, class) = classname
                .as_str()
                .rsplit_once('.')
                .unwrap_or(("(root)", classname.as_str()));
            out.push((
                suite.name.as_str().to_string(),
                package.to_string(),
                class.to_string(),
                case.name.as_str().to_string(),
            ));
        }
    }
    out
}

#[test]
fn ci_tools_file_each_scenario_as_a_class_of_the_oc_conform_package() {
    let (doc, _) = common::synthetic();
    let xml = junit::render(&doc).unwrap();
    let ids = identities(&xml);
    assert_eq!(ids.len(), doc.results.len(), "{xml}");
    for cell in &doc.results {
        let suite = format!("opencode {}", cell.opencode_version);
        let found = ids
            .iter()
            .find(|(s, _, class, _)| *s == suite && *class == cell.scenario)
            .unwrap_or_else(|| panic!("no testcase of class {} in suite `{suite}`:\n{xml}", cell.scenario));
        assert_eq!(found.1, "oc-conform", "package of {found:?}");
        assert!(found.3.starts_with(&cell.scenario), "the name says the scenario: {found:?}");
    }
    for (_, package, class, _) in &ids {
        for version in &doc.versions {
            let classname = format!("{package}.{class}");
            assert!(!classname.contains(version.as_str()), "{classname} names version {version}");
        }
    }
}

/// Two versions of a scenario in one file are two tests: neither hides the other.
#[test]
fn every_cell_is_a_test_of_its_own() {
    let (doc, _) = common::synthetic();
    let xml = junit::render(&doc).unwrap();
    let mut keys: Vec<(String, String)> = identities(&xml)
        .into_iter()
        .map(|(_, p, c, n)| (format!("{p}.{c}"), n))
        .collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "two testcases share classname and name:\n{xml}");
}

/// The usual gate runs one pinned version and moves it to each new release: a scenario
/// stays the same test, so CI keeps one history for it.
#[test]
fn a_one_version_run_keeps_its_tests_across_releases() {
    let (mut doc, _) = common::synthetic();
    doc.results.retain(|c| c.opencode_version == common::NEW);
    doc.versions = vec![common::NEW.to_string()];
    let before = identities(&junit::render(&doc).unwrap());
    let next = "1.18.35";
    doc.versions = vec![next.to_string()];
    for c in &mut doc.results {
        c.opencode_version = next.to_string();
    }
    let after = identities(&junit::render(&doc).unwrap());
    let tests = |ids: &[(String, String, String, String)]| -> Vec<(String, String, String)> {
        ids.iter().map(|(_, p, c, n)| (p.clone(), c.clone(), n.clone())).collect()
    };
    assert_eq!(tests(&before), tests(&after));
    assert_eq!(after[0].0, format!("opencode {next}"), "the suite says the version");
}
