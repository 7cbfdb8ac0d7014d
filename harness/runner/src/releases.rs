//! opencode release numbers: ordering, `FROM..TO` ranges, the nearest releases to one that
//! does not exist, and the releases between two ends (a bisect's candidates). Pure: the
//! lists come from the registry (or the cache) through `install`.

use std::fmt;
use std::str::FromStr;

/// Parses a version as a user types it: surrounding blanks and one leading `v` allowed.
pub fn parse(s: &str) -> Result<semver::Version, semver::Error> {
    let t = s.trim();
    let bare = t
        .strip_prefix('v')
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(t);
    semver::Version::parse(bare)
}

/// The semver entries of `list`, ascending, duplicates (by semver) dropped; each with its
/// original text.
fn parsed(list: &[String]) -> Vec<(semver::Version, &String)> {
    let mut parsed: Vec<(semver::Version, &String)> = list
        .iter()
        .filter_map(|s| semver::Version::parse(s.trim()).ok().map(|v| (v, s)))
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.dedup_by(|a, b| a.0 == b.0);
    parsed
}

/// Sorts ascending by semver, dropping strings that are not semver and duplicates.
pub fn sort(list: Vec<String>) -> Vec<String> {
    parsed(&list).into_iter().map(|(_, s)| s.clone()).collect()
}

/// Up to `per_side` versions of `available` just below `wanted` and up to `per_side` from
/// it upward, ascending. Pre-releases are left out unless `wanted` is one.
pub fn nearest(available: &[String], wanted: &str, per_side: usize) -> Vec<String> {
    let Ok(w) = semver::Version::parse(wanted) else {
        return Vec::new();
    };
    let list: Vec<(semver::Version, &String)> = parsed(available)
        .into_iter()
        .filter(|(v, _)| v.pre.is_empty() || !w.pre.is_empty())
        .collect();
    let at = list.partition_point(|(v, _)| *v < w);
    let lo = at.saturating_sub(per_side);
    let hi = (at + per_side).min(list.len());
    list[lo..hi].iter().map(|(_, s)| (*s).clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Ranges

/// `FROM..TO`, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: semver::Version,
    pub to: semver::Version,
}

/// A `--opencode-range` value that is not `FROM..TO`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("--opencode-range {range}: expected FROM..TO, e.g. 1.18.30..1.18.34")]
    NotARange { range: String },
    #[error("--opencode-range: `{version}` is not a version: {reason}; expected FROM..TO, e.g. 1.18.30..1.18.34")]
    NotAVersion { version: String, reason: String },
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(range: &str) -> Result<Self, Self::Err> {
        let (from, to) = range
            .split_once("..")
            .ok_or_else(|| RangeError::NotARange {
                range: range.to_string(),
            })?;
        let version = |v: &str| {
            semver::Version::parse(v.trim()).map_err(|e| RangeError::NotAVersion {
                version: v.to_string(),
                reason: e.to_string(),
            })
        };
        Ok(Range {
            from: version(from)?,
            to: version(to)?,
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

impl Range {
    /// The versions of `all` in `[from, to]`, ascending (pre-releases in the range
    /// included), each once.
    pub fn select(&self, all: &[String]) -> Vec<String> {
        parsed(all)
            .into_iter()
            .filter(|(v, _)| *v >= self.from && *v <= self.to)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// Parses `range` (`FROM..TO`) and returns the versions of `all` (the registry's) in
/// `[FROM, TO]`, ascending. Parse `range` with [`Range::from_str`] first to report a bad
/// range before asking the registry.
pub fn in_range(all: &[String], range: &str) -> Result<Vec<String>, RangeError> {
    Ok(range.parse::<Range>()?.select(all))
}

// ---------------------------------------------------------------------------------------
// Between two ends

/// An end of a window that the registry does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{version} is not in the registry{}", nearest_hint(.nearest))]
pub struct NotInRegistry {
    pub version: String,
    /// Up to 2 releases on each side of it.
    pub nearest: Vec<String>,
}

/// `; nearest there: a, b`, or nothing when there are none.
pub fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; nearest there: {}", nearest.join(", "))
    }
}

/// `old`, `new` (`old` < `new`, both in `registry`) and the registry's releases strictly
/// between them, oldest first. Pre-releases between are left out: they are not on the line
/// of releases (an end may be one).
pub fn between(
    registry: &[String],
    old: &semver::Version,
    new: &semver::Version,
) -> Result<Vec<String>, NotInRegistry> {
    let list = parsed(registry);
    for end in [old, new] {
        if !list.iter().any(|(v, _)| v == end) {
            return Err(NotInRegistry {
                version: end.to_string(),
                nearest: nearest(registry, &end.to_string(), 2),
            });
        }
    }
    Ok(list
        .into_iter()
        .filter(|(v, _)| v == old || v == new || (v > old && v < new && v.pre.is_empty()))
        .map(|(v, _)| v.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nearest_version_suggestions() {
        let avail = strings(&[
            "0.0.0-dev-202609212252",
            "1.3.2",
            "1.14.34",
            "1.14.41",
            "1.14.48",
            "1.15.0",
            "1.15.3",
            "1.15.4",
            "1.15.13",
            "1.17.0",
            "not-semver",
        ]);
        assert_eq!(
            nearest(&avail, "1.15.1", 3),
            ["1.14.41", "1.14.48", "1.15.0", "1.15.3", "1.15.4", "1.15.13"]
        );
        assert_eq!(nearest(&avail, "0.1.0", 3), ["1.3.2", "1.14.34", "1.14.41"]);
        assert_eq!(nearest(&avail, "9.0.0", 3), ["1.15.4", "1.15.13", "1.17.0"]);
        assert_eq!(nearest(&avail, "1.15.10", 1), ["1.15.4", "1.15.13"]);
        assert!(nearest(&avail, "junk", 3).is_empty());
        assert!(nearest(&[], "1.0.0", 3).is_empty());
        assert_eq!(
            sort(strings(&["1.10.0", "x", "1.9.0", "1.10.0"])),
            ["1.9.0", "1.10.0"]
        );
    }

    #[test]
    fn parse_accepts_what_users_type() {
        assert_eq!(parse(" v1.15.4 ").unwrap().to_string(), "1.15.4");
        assert_eq!(parse("1.18.34").unwrap().to_string(), "1.18.34");
        assert!(parse("v").is_err());
        assert!(parse("1.18").is_err());
    }

    #[test]
    fn ranges_select_the_registry_versions_inside() {
        let all = strings(&[
            "1.18.35",
            "1.18.29",
            "1.18.30",
            "1.18.31-dev",
            "1.18.31",
            "1.18.34",
            "junk",
            "1.18.30",
        ]);
        assert_eq!(
            in_range(&all, "1.18.30..1.18.34").unwrap(),
            ["1.18.30", "1.18.31-dev", "1.18.31", "1.18.34"]
        );
        assert_eq!(in_range(&all, " 1.18.34 .. 1.18.34").unwrap(), ["1.18.34"]);
        assert!(in_range(&all, "1.18.34..1.18.30").unwrap().is_empty());
        let r: Range = "1.18.30..1.18.34".parse().unwrap();
        assert_eq!(r.to_string(), "1.18.30..1.18.34");

        let e = in_range(&all, "1.18.30").unwrap_err();
        assert_eq!(
            e,
            RangeError::NotARange {
                range: "1.18.30".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "--opencode-range 1.18.30: expected FROM..TO, e.g. 1.18.30..1.18.34"
        );
        let e = in_range(&all, "1.18..1.18.34").unwrap_err();
        assert!(
            matches!(&e, RangeError::NotAVersion { version, .. } if version == "1.18"),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("--opencode-range: `1.18` is not a version"),
            "{msg}"
        );
        assert!(
            msg.ends_with("expected FROM..TO, e.g. 1.18.30..1.18.34"),
            "{msg}"
        );
    }

    #[test]
    fn between_keeps_the_ends_and_the_releases_inside() {
        let registry = strings(&[
            "1.3.2",
            "1.14.48",
            "1.15.0-rc.1",
            "1.15.0",
            "1.15.4",
            "1.15.13",
            "1.17.0",
            "1.15.4",
        ]);
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(
            between(&registry, &v("1.3.2"), &v("1.15.13")).unwrap(),
            ["1.3.2", "1.14.48", "1.15.0", "1.15.4", "1.15.13"]
        );
        assert_eq!(
            between(&registry, &v("1.15.0-rc.1"), &v("1.15.4")).unwrap(),
            ["1.15.0-rc.1", "1.15.0", "1.15.4"]
        );
        let e = between(&registry, &v("1.14.51"), &v("1.15.13")).unwrap_err();
        assert_eq!(e.nearest, ["1.3.2", "1.14.48", "1.15.0", "1.15.4"]);
        assert_eq!(
            e.to_string(),
            "1.14.51 is not in the registry; nearest there: 1.3.2, 1.14.48, 1.15.0, 1.15.4"
        );
        assert_eq!(
            between(&[], &v("1.0.0"), &v("2.0.0"))
                .unwrap_err()
                .to_string(),
            "1.0.0 is not in the registry"
        );
    }
}
