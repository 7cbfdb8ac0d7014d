//! Which opencode to run, as given on the command line.

use super::InstallError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which opencode to run, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpencodeSpec {
    /// A released version, e.g. `1.18.34` (normalized semver, no leading `v`).
    Version(String),
    /// The registry's newest release (its `latest` dist-tag).
    Latest,
    /// A binary on this machine.
    Local(PathBuf),
}

impl OpencodeSpec {
    /// Parses `s` with `is_file` deciding whether a bare word names an existing file.
    fn parse_with(s: &str, is_file: impl Fn(&str) -> bool) -> Result<Self, InstallError> {
        let t = s.trim();
        let invalid = |reason: &str| InstallError::InvalidSpec {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        if t.is_empty() {
            return Err(invalid("it is empty"));
        }
        if t.eq_ignore_ascii_case("latest") {
            return Ok(OpencodeSpec::Latest);
        }
        if t.contains('/') || is_file(t) {
            return Ok(OpencodeSpec::Local(PathBuf::from(t)));
        }
        let bare = t
            .strip_prefix('v')
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(t);
        match semver::Version::parse(bare) {
            Ok(v) => Ok(OpencodeSpec::Version(v.to_string())),
            Err(e) => {
                let numeric_parts = bare.split('.').filter(|p| p.parse::<u64>().is_ok()).count();
                if numeric_parts == bare.split('.').count() && numeric_parts < 3 {
                    Err(invalid(&format!(
                        "`{bare}` is not a full version (major.minor.patch)"
                    )))
                } else {
                    Err(invalid(&format!(
                        "not a version ({e}), not `latest`, and no file of that name exists"
                    )))
                }
            }
        }
    }
}

impl FromStr for OpencodeSpec {
    type Err = InstallError;

    /// `latest`; anything containing `/` or naming an existing file is a local binary;
    /// otherwise a semver version, with an optional leading `v`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with(s, |p| Path::new(p).is_file())
    }
}

impl fmt::Display for OpencodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpencodeSpec::Version(v) => f.write_str(v),
            OpencodeSpec::Latest => f.write_str("latest"),
            OpencodeSpec::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<OpencodeSpec, InstallError> {
        OpencodeSpec::parse_with(s, |p| p == "opencode-local")
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(
            spec("1.18.34").unwrap(),
            OpencodeSpec::Version("1.18.34".into())
        );
        assert_eq!(
            spec(" v1.3.2 ").unwrap(),
            OpencodeSpec::Version("1.3.2".into())
        );
        assert_eq!(
            spec("0.0.0-dev-202609212252").unwrap(),
            OpencodeSpec::Version("0.0.0-dev-202609212252".into())
        );
        assert_eq!(spec("latest").unwrap(), OpencodeSpec::Latest);
        assert_eq!(spec("LATEST").unwrap(), OpencodeSpec::Latest);
        assert_eq!(
            spec("./opencode").unwrap(),
            OpencodeSpec::Local("./opencode".into())
        );
        assert_eq!(
            spec("/usr/bin/opencode").unwrap(),
            OpencodeSpec::Local("/usr/bin/opencode".into())
        );
        assert_eq!(
            spec("opencode-local").unwrap(),
            OpencodeSpec::Local("opencode-local".into())
        );
        // The real parser also accepts what exists as a file.
        assert_eq!(
            "/proc/self/exe".parse::<OpencodeSpec>().unwrap(),
            OpencodeSpec::Local("/proc/self/exe".into())
        );
        assert_eq!(spec("1.18.34").unwrap().to_string(), "1.18.34");
        assert_eq!(spec("latest").unwrap().to_string(), "latest");

        for (bad, needle) in [
            ("", "it is empty"),
            ("1.18", "not a full version"),
            ("1", "not a full version"),
            ("1.18.x", "not a version"),
            ("opencode", "no file of that name"),
        ] {
            let e = spec(bad).unwrap_err();
            assert!(
                matches!(e, InstallError::InvalidSpec { .. }),
                "{bad}: {e:?}"
            );
            let msg = e.to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
            assert!(msg.starts_with("invalid opencode spec"), "{msg}");
            assert!(msg.contains("pass a version like 1.18.34"), "{msg}");
        }
    }
}
