//! `scenarios/expectations.toml`: which scenarios are known to fail (or to be
//! intermittent) on which opencode versions, with the upstream issue. The gate compares
//! each run's verdicts with it: a known failure is EXPECTED-FAIL, not a regression.

use crate::load::{entry_offset, key_offset, line_col, Located};
use serde::{Deserialize, Serialize};
use toml::de::DeTable;
use std::path::{Path, PathBuf};

pub const EXPECTATIONS_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    pub format_version: u32,
    #[serde(default, rename = "expect")]
    pub entries: Vec<Expectation>,
}

/// One known behaviour of one scenario on a set of versions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub scenario: String,
    /// Version requirements (semver syntax: `"*"`, `"=1.15.13"`, `">=1.14.51, <1.17.7"`);
    /// the expectation holds for a version matching any of them.
    pub versions: Vec<String>,
    pub outcome: ExpectedOutcome,
    /// For `fail`: the checks known to fail. Another check failing is still a regression.
    /// Empty: any failure is the known one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_checks: Vec<String>,
    /// The upstream issue (a URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedOutcome {
    /// Fails on these versions (a known upstream bug).
    Fail,
    /// Passes or fails from run to run on these versions.
    Flaky,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpectationsError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0)]
    Invalid(Located),
}

impl Expectations {
    /// Reads the file; a missing file is an empty set of expectations.
    pub fn load(path: &Path) -> Result<Expectations, ExpectationsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Expectations {
                    format_version: EXPECTATIONS_FORMAT_VERSION,
                    entries: vec![],
                })
            }
            Err(source) => {
                return Err(ExpectationsError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Expectations, ExpectationsError> {
        let located = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ExpectationsError::Invalid(Located {
                path: path.to_path_buf(),
                line,
                column,
                message,
            })
        };
        let toml_error = |e: toml::de::Error| {
            located(e.span().map_or(0, |s| s.start), e.message().trim().to_string())
        };
        // Places come from the parser's spans: a `[[expect]]` in a comment is no entry.
        let doc = DeTable::parse(text).map_err(toml_error)?;
        let e = Expectations::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(toml_error)?;
        if e.format_version != EXPECTATIONS_FORMAT_VERSION {
            return Err(located(
                key_offset(&doc, "format_version"),
                format!(
                    "format_version {} is not understood; this oc-conform reads format_version = {EXPECTATIONS_FORMAT_VERSION}",
                    e.format_version
                ),
            ));
        }
        for (i, entry) in e.entries.iter().enumerate() {
            let offset = entry_offset(&doc, &["expect"], i);
            if entry.versions.is_empty() {
                return Err(located(offset, format!("expectation for `{}` lists no versions; use versions = [\"*\"] for all", entry.scenario)));
            }
            for v in &entry.versions {
                if let Err(err) = semver::VersionReq::parse(v) {
                    return Err(located(
                        offset,
                        format!("expectation for `{}`: `{v}` is not a version requirement ({err}); write e.g. \"=1.15.13\" or \">=1.14.51, <1.17.7\"", entry.scenario),
                    ));
                }
            }
        }
        Ok(e)
    }

    /// The expectation for a scenario on a version, if any. A version that is not semver
    /// (a local build reporting `dev`) matches only `"*"`.
    pub fn find(&self, scenario: &str, version: &str) -> Option<&Expectation> {
        self.entries
            .iter()
            .filter(|e| e.scenario == scenario)
            .find(|e| e.matches_version(version))
    }

    /// Rendered back to TOML, entries sorted by scenario.
    pub fn to_toml(&self) -> String {
        let mut sorted = self.clone();
        sorted.entries.sort_by(|a, b| a.scenario.cmp(&b.scenario));
        let body = toml::to_string_pretty(&sorted).unwrap_or_default();
        format!(
            "# Known failures and intermittent outcomes, by scenario and opencode version.\n\
             # A run whose verdicts match these exits 0; see README \"Expectations\".\n\
             # `oc-conform expectations update RUN_DIR` rewrites this file from a run.\n\n{body}"
        )
    }
}

impl Expectation {
    pub fn matches_version(&self, version: &str) -> bool {
        match semver::Version::parse(version) {
            Ok(v) => self
                .versions
                .iter()
                .filter_map(|r| semver::VersionReq::parse(r).ok())
                .any(|r| r.matches(&v)),
            Err(_) => self.versions.iter().any(|r| r.trim() == "*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"format_version = 1

[[expect]]
scenario = "abort-plugin-client"
versions = [">=1.14.51, <1.17.7"]
outcome = "fail"
failing_checks = ["status-reaches-idle"]
issue = "https://github.com/sst/opencode/issues/29894"

[[expect]]
scenario = "abort-idle-once"
versions = ["*"]
outcome = "fail"
"#;

    #[test]
    fn versions_match_by_semver_requirement() {
        let e = Expectations::parse(FILE, Path::new("e.toml")).unwrap();
        assert!(e.find("abort-plugin-client", "1.15.13").is_some());
        assert!(e.find("abort-plugin-client", "1.18.34").is_none());
        assert!(e.find("abort-plugin-client", "1.14.50").is_none());
        assert!(e.find("abort-idle-once", "1.18.34").is_some());
        assert!(e.find("abort-idle-once", "dev-build").is_some());
        assert!(e.find("abort-plugin-client", "dev-build").is_none());
        assert!(e.find("abort-http", "1.18.34").is_none());
    }

    #[test]
    fn a_bad_requirement_points_at_its_entry() {
        let bad = FILE.replace(">=1.14.51, <1.17.7", "from 1.14 on");
        let err = Expectations::parse(&bad, Path::new("e.toml")).unwrap_err().to_string();
        assert!(err.starts_with("e.toml:3:"), "{err}");
        assert!(err.contains("from 1.14 on"), "{err}");
    }

    /// Every entry comes back whole, sorted by scenario, under the file's header.
    #[test]
    fn round_trips_through_toml() {
        let e = Expectations::parse(FILE, Path::new("e.toml")).unwrap();
        let text = e.to_toml();
        assert!(text.starts_with("# Known failures"), "{text}");
        let again = Expectations::parse(&text, Path::new("e.toml")).unwrap();
        let mut sorted = e.clone();
        sorted.entries.reverse();
        assert_eq!(sorted.entries[0].scenario, "abort-idle-once");
        assert_eq!(again, sorted);
    }

    /// A table header in a comment is not the entry: the error points at the real one.
    #[test]
    fn an_error_points_at_the_entry_not_at_a_comment() {
        let commented = FILE.replace(
            "format_version = 1\n",
            "format_version = 1\n# Each [[expect]] table is one entry.\n",
        );
        let bad = commented.replace("versions = [\"*\"]", "versions = []");
        let err = Expectations::parse(&bad, Path::new("e.toml")).unwrap_err().to_string();
        assert!(err.starts_with("e.toml:11:"), "{err}");
        assert!(err.contains("lists no versions"), "{err}");
        let bad = commented.replace("format_version = 1", "# format_version = 2\nformat_version = 2");
        let err = Expectations::parse(&bad, Path::new("e.toml")).unwrap_err().to_string();
        assert!(err.starts_with("e.toml:2:1:"), "{err}");
    }

    #[test]
    fn a_missing_file_expects_nothing() {
        let e = Expectations::load(Path::new("/nonexistent/expectations.toml")).unwrap();
        assert!(e.entries.is_empty());
    }

    #[test]
    fn the_shipped_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/expectations.toml");
        let e = Expectations::load(&path).unwrap();
        assert_eq!(e.format_version, EXPECTATIONS_FORMAT_VERSION);
        assert!(!e.entries.is_empty(), "{}", path.display());
    }

    /// Only a missing file means "no expectations"; one that cannot be read is an error.
    #[test]
    fn an_unreadable_file_is_an_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let e = Expectations::load(dir).unwrap_err();
        assert!(matches!(e, ExpectationsError::Io { .. }), "{e}");
    }
}
