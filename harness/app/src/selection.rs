//! Which scenarios a run plays: `--scenario PATTERN` (a name or a glob: `abort-*`) and
//! `--tag TAG`, the way test runners select tests. `run`, `list` and `bench` read the same
//! selection, so `list` shows what a run would play.
//!
//! A scenario is selected when it matches one of the patterns (or none are given) and
//! carries one of the tags (or none are given). A pattern or a tag that selects nothing
//! is a usage error naming what exists: a typo must not silently run an empty suite.

use crate::workspace::Catalogue;
use crate::AppError;
use oc_conform_scenario::Scenario;
use std::collections::BTreeMap;

/// `--scenario` patterns and `--tag`s.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub patterns: Vec<String>,
    pub tags: Vec<String>,
}

impl Selection {
    pub fn new(patterns: &[String], tags: &[String]) -> Selection {
        Selection {
            patterns: patterns.to_vec(),
            tags: tags.to_vec(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.patterns.is_empty() && self.tags.is_empty()
    }

    /// The selected scenarios in the order the patterns name them (catalogue order within
    /// a glob, and throughout when only tags select), each once.
    pub fn apply(&self, catalogue: &Catalogue) -> Result<Vec<Scenario>, AppError> {
        let all: Vec<&Scenario> = catalogue.entries.iter().map(|(_, s)| s).collect();
        for pattern in &self.patterns {
            if !all.iter().any(|s| glob_matches(pattern, &s.name)) {
                let what = if is_glob(pattern) {
                    format!("no scenario matches `{pattern}`")
                } else {
                    format!("no scenario named `{pattern}`")
                };
                return Err(AppError::usage(format!(
                    "{what}; known scenarios: {}",
                    catalogue.names().join(", ")
                )));
            }
        }
        let known_tags = tag_counts(&all);
        for tag in &self.tags {
            if !known_tags.contains_key(tag.as_str()) {
                let known: Vec<String> = known_tags.iter().map(|(t, n)| format!("{t} ({n})")).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(AppError::usage(format!("no scenario is tagged `{tag}`; known tags: {known}")));
            }
        }
        let tagged = |s: &Scenario| self.tags.is_empty() || s.tags.iter().any(|t| self.tags.contains(t));
        let mut chosen: Vec<&Scenario> = Vec::new();
        if self.patterns.is_empty() {
            chosen.extend(all.iter().copied().filter(|s| tagged(s)));
        } else {
            for pattern in &self.patterns {
                for s in all.iter().copied().filter(|s| glob_matches(pattern, &s.name) && tagged(s)) {
                    if !chosen.iter().any(|c| c.name == s.name) {
                        chosen.push(s);
                    }
                }
            }
        }
        if chosen.is_empty() {
            return Err(AppError::usage(format!(
                "--scenario {} with --tag {} select no scenario together; `oc-conform list --tag TAG` shows each tag's scenarios",
                self.patterns.join(" "),
                self.tags.join(" ")
            )));
        }
        Ok(chosen.into_iter().cloned().collect())
    }
}

/// Each tag and how many scenarios carry it.
pub fn tag_counts<'a>(scenarios: impl IntoIterator<Item = &'a &'a Scenario>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for s in scenarios {
        for t in &s.tags {
            *counts.entry(t.as_str()).or_insert(0) += 1;
        }
    }
    counts
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Shell-style matching of a whole name: `*` any run of characters, `?` one character;
/// everything else literally.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer walk: on a mismatch, let the last `*` swallow one more
    // character. Linear in practice, never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scenario(name: &str, tags: &[&str]) -> Scenario {
        let text = format!(
            "format_version = 1\nname = \"{name}\"\ndescription = \"x\"\ntags = [{}]\n[[steps]]\ndo = \"prompt\"\ntext = \"hi\"\n",
            tags.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ")
        );
        oc_conform_scenario::parse_str(&text, std::path::Path::new("x.toml")).expect("a valid scenario")
    }

    fn catalogue() -> Catalogue {
        let entries = [
            ("abort-http", vec!["abort"]),
            ("abort-plugin-client", vec!["abort", "plugin"]),
            ("permission-reply-http", vec!["permission"]),
            ("plugin-loads", vec!["plugin"]),
        ]
        .into_iter()
        .map(|(n, t)| (PathBuf::from(format!("{n}.toml")), scenario(n, &t)))
        .collect();
        Catalogue {
            entries,
            project_dir: PathBuf::from("."),
        }
    }

    fn names(sel: Selection) -> Vec<String> {
        sel.apply(&catalogue()).expect("a selection").into_iter().map(|s| s.name).collect()
    }

    fn error(sel: Selection) -> String {
        let e = sel.apply(&catalogue()).expect_err("a usage error");
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        e.to_string()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_malformed_tag_is_refused_at_its_line() {
        let text = "format_version = 1\nname = \"x\"\ndescription = \"x\"\ntags = [\"Abort\"]\n[[steps]]\ndo = \"prompt\"\ntext = \"hi\"\n";
        let e = oc_conform_scenario::parse_str(text, std::path::Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml:4:") && e.contains("tag `Abort` must be lower-case"), "{e}");
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("abort-*", "abort-http"));
        assert!(glob_matches("*-http", "abort-http"));
        assert!(glob_matches("*plugin*", "abort-plugin-client"));
        assert!(glob_matches("abort-htt?", "abort-http"));
        assert!(glob_matches("a*b*c", "aXbYbZc"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("abort-*", "permission-abort"));
        assert!(!glob_matches("abort", "abort-http"));
        assert!(!glob_matches("abort-htt?", "abort-htt"));
        assert!(!glob_matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn patterns_select_in_their_order_each_once() {
        assert_eq!(names(Selection::new(&s(&["abort-*"]), &[])), ["abort-http", "abort-plugin-client"]);
        assert_eq!(
            names(Selection::new(&s(&["plugin-loads", "abort-*", "abort-http"]), &[])),
            ["plugin-loads", "abort-http", "abort-plugin-client"]
        );
        assert_eq!(names(Selection::default()).len(), 4);
    }

    #[test]
    fn tags_select_and_narrow_patterns() {
        assert_eq!(names(Selection::new(&[], &s(&["plugin"]))), ["abort-plugin-client", "plugin-loads"]);
        assert_eq!(
            names(Selection::new(&[], &s(&["permission", "plugin"]))),
            ["abort-plugin-client", "permission-reply-http", "plugin-loads"]
        );
        assert_eq!(names(Selection::new(&s(&["abort-*"]), &s(&["plugin"]))), ["abort-plugin-client"]);
    }

    #[test]
    fn what_selects_nothing_names_what_exists() {
        let e = error(Selection::new(&s(&["abrt-*"]), &[]));
        assert!(e.contains("no scenario matches `abrt-*`") && e.contains("abort-http, abort-plugin-client"), "{e}");
        let e = error(Selection::new(&s(&["abort"]), &[]));
        assert!(e.contains("no scenario named `abort`"), "{e}");
        let e = error(Selection::new(&[], &s(&["mcp"])));
        assert!(e.contains("no scenario is tagged `mcp`") && e.contains("abort (2), permission (1), plugin (2)"), "{e}");
        let e = error(Selection::new(&s(&["permission-*"]), &s(&["abort"])));
        assert!(e.contains("select no scenario together"), "{e}");
    }
}
