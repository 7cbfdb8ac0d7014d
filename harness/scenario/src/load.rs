//! Reading scenario files, with errors that point at the file, line and column and say
//! what was expected.
//!
//! Places come from the TOML parser's spans (the span-carrying document `toml::de::DeTable`),
//! never from searching the text: a `[[steps]]` in a comment or a `name = ` inside a
//! multi-line string is not a table or a key, and an error never points at it.

use crate::model::{CheckSpec, Condition, ModelTurn, Scenario, Step};
use crate::FORMAT_VERSION;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A scenario file that could not be used. Displays as `path:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0)]
    Invalid(Located),
    #[error("{path}: two scenarios are named `{name}` (the other is {other}); names must be unique")]
    DuplicateName {
        path: PathBuf,
        name: String,
        other: PathBuf,
    },
}

/// A message tied to a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl ScenarioError {
    /// The (line, column) the error points at, when it points at one.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            ScenarioError::Invalid(l) => Some((l.line, l.column)),
            _ => None,
        }
    }
}

/// Reads and validates one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = parse_doc(&text, path)?;
    let places = Places::new(&text, path, &doc);
    let scenario = deserialize(&doc, &places)?;
    validate(&scenario, &places)?;
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        if stem != scenario.name {
            return Err(places.at_key(
                "name",
                format!(
                    "the scenario is named `{}` but its file is `{stem}.toml`; rename one so they match",
                    scenario.name
                ),
            ));
        }
    }
    Ok(scenario)
}

/// Reads every `*.toml` scenario in `dir` (not `expectations.toml`), sorted by name.
/// All files are read; the first error is returned.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "expectations.toml"))
        .collect();
    paths.sort();
    let mut out: Vec<(PathBuf, Scenario)> = Vec::new();
    for path in paths {
        let scenario = load_file(&path)?;
        if let Some((other, _)) = out.iter().find(|(_, s)| s.name == scenario.name) {
            return Err(ScenarioError::DuplicateName {
                path: path.clone(),
                name: scenario.name.clone(),
                other: other.clone(),
            });
        }
        out.push((path, scenario));
    }
    Ok(out)
}

/// Parses and validates scenario text; `path` is only used in messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let doc = parse_doc(text, path)?;
    let places = Places::new(text, path, &doc);
    let scenario = deserialize(&doc, &places)?;
    validate(&scenario, &places)?;
    Ok(scenario)
}

/// The TOML document with the span of every table, array entry, key and value.
fn parse_doc<'a>(text: &'a str, path: &Path) -> Result<Spanned<DeTable<'a>>, ScenarioError> {
    DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        located(path, text, offset, e.message().trim().to_string())
    })
}

/// The scenario model from the document. An unknown key or name is pointed at where it
/// is written, with the nearest known spelling when one is close.
fn deserialize(doc: &Spanned<DeTable<'_>>, places: &Places<'_>) -> Result<Scenario, ScenarioError> {
    Scenario::deserialize(toml::de::Deserializer::from(doc.clone())).map_err(|e| {
        let mut offset = e.span().map_or(0, |s| s.start);
        let mut message = e.message().trim().to_string();
        if let Some(unknown) = Unknown::parse(&message) {
            if unknown.is_key {
                // An internally tagged table (`do`, `check`) reports its unknown keys at
                // the table; the key itself is the first of that name from there on.
                if let Some(at) = places.key_from(unknown.name, offset) {
                    offset = at;
                }
            }
            if let Some(near) = suggest(unknown.name, &unknown.known) {
                message.push_str(&format!("; did you mean `{near}`?"));
            }
        }
        places.at(offset, message)
    })
}

fn validate(s: &Scenario, places: &Places<'_>) -> Result<(), ScenarioError> {
    let err = |key: &str, msg: String| Err(places.at_key(key, msg));
    if s.format_version != FORMAT_VERSION {
        return err(
            "format_version",
            format!(
                "format_version {} is not understood; this oc-conform reads format_version = {FORMAT_VERSION}",
                s.format_version
            ),
        );
    }
    if !is_slug(&s.name) {
        return err(
            "name",
            format!(
                "name `{}` must be lower-case letters, digits and dashes (it names reports and expectations)",
                s.name
            ),
        );
    }
    if let Some(tag) = s.tags.iter().find(|t| !is_slug(t)) {
        return err(
            "tags",
            format!("tag `{tag}` must be lower-case letters, digits and dashes (`--tag` selects by it)"),
        );
    }
    if let Some(req) = &s.requires.opencode {
        if let Err(e) = semver::VersionReq::parse(req) {
            return err(
                "requires",
                format!("requires.opencode `{req}` is not a version requirement ({e}); write e.g. \">=1.15.0\""),
            );
        }
    }
    if let Some(route) = s.requires.route.as_deref().filter(|r| !r.starts_with('/')) {
        return err(
            "requires",
            format!("requires.route `{route}` is not a path; write it as GET /doc lists it, e.g. \"/question\""),
        );
    }
    if s.steps.is_empty() {
        return err(
            "name",
            "the scenario has no steps; add at least one `[[steps]]` table".into(),
        );
    }
    if s.deadline_ms == 0 {
        return err("deadline_ms", "deadline_ms must be more than 0".into());
    }
    for (i, turn) in s.model.turns.iter().enumerate() {
        validate_turn(turn).map_err(|m| {
            places.at_entry(&["model", "turns"], i, format!("model turn {}: {m}", i + 1))
        })?;
    }
    let mut names = Names::default();
    for (i, step) in s.steps.iter().enumerate() {
        validate_step(step, s.deadline_ms)
            .and_then(|()| names.follow(step))
            .map_err(|m| places.at_entry(&["steps"], i, format!("step {}: {m}", i + 1)))?;
    }
    for (i, check) in s.checks.iter().enumerate() {
        validate_check(check)
            .map_err(|m| places.at_entry(&["checks"], i, format!("check {}: {m}", i + 1)))?;
    }
    Ok(())
}

/// Lower-case letters, digits and dashes, not empty: names and tags.
fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn validate_turn(turn: &ModelTurn) -> Result<(), String> {
    if turn.text.is_none()
        && turn.tool_calls.is_empty()
        && turn.http_error.is_none()
        && turn.fault.is_none()
    {
        return Err("a turn needs `text`, `tool_calls`, `http_error` or `fault`".into());
    }
    if let Some(e) = &turn.http_error {
        if !(400..=599).contains(&e.status) {
            return Err(format!(
                "http_error.status {} is not an HTTP error status (400-599)",
                e.status
            ));
        }
    }
    for call in &turn.tool_calls {
        if !call.arguments.is_object() {
            return Err(format!(
                "tool call `{}`: arguments must be a table, e.g. arguments = {{ command = \"sleep 100\", description = \"wait\" }}",
                call.name
            ));
        }
    }
    Ok(())
}

const STATUSES: &[&str] = &["busy", "idle", "retry"];
const TOOL_STATES: &[&str] = &["pending", "running", "completed", "error"];
const REPLIES: &[&str] = &["once", "always", "reject"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn one_of(what: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{what} `{value}` is not one of: {}",
            allowed.join(", ")
        ))
    }
}

fn validate_step(step: &Step, deadline_ms: u64) -> Result<(), String> {
    match step {
        Step::Wait {
            until, timeout_ms, ..
        } => {
            if *timeout_ms == 0 || *timeout_ms > deadline_ms {
                return Err(format!(
                    "timeout_ms {timeout_ms} must be between 1 and the scenario's deadline_ms ({deadline_ms})"
                ));
            }
            match until {
                Condition::Status(s) => one_of("status", s, STATUSES),
                Condition::ToolState(s) => one_of("tool_state", s, TOOL_STATES),
                Condition::QuietMs(q) if *q >= *timeout_ms => Err(format!(
                    "quiet_ms {q} can never be reached within timeout_ms {timeout_ms}"
                )),
                Condition::Event(e) | Condition::Process(e) | Condition::ProcessGone(e)
                | Condition::Plugin(e)
                    if e.is_empty() =>
                {
                    Err("the condition's text must not be empty".into())
                }
                _ => Ok(()),
            }
        }
        Step::PermissionReply { reply } => one_of("reply", reply, REPLIES),
        Step::Http { method, path, .. } => {
            one_of("method", method, METHODS)?;
            if !path.starts_with('/') {
                return Err(format!("path `{path}` must start with `/`"));
            }
            Ok(())
        }
        Step::Command { name, .. } if name.is_empty() => {
            Err("command name must not be empty".into())
        }
        Step::NewSession { name }
        | Step::DeleteSession { name }
        | Step::OpenSubscriber { name, .. }
        | Step::CloseSubscriber { name }
            if !valid_name(name) =>
        {
            Err(format!("name `{name}` must be letters, digits, `-` or `_` (it is written as {{session:NAME}})"))
        }
        _ => Ok(()),
    }
}

/// The sessions and subscribers the steps so far made and have not ended: a step may
/// only name one of them, and `{session:NAME}` in an `http` step only a live session.
#[derive(Default)]
struct Names {
    sessions: std::collections::BTreeSet<String>,
    subscribers: std::collections::BTreeSet<String>,
}

impl Names {
    fn follow(&mut self, step: &Step) -> Result<(), String> {
        let made = |set: &mut std::collections::BTreeSet<String>, name: &str, what: &str| {
            if set.insert(name.to_string()) {
                Ok(())
            } else {
                Err(format!("{what} `{name}` is already open; end it first or use another name"))
            }
        };
        let ended = |set: &mut std::collections::BTreeSet<String>, name: &str, what: &str, opener: &str| {
            if set.remove(name) {
                Ok(())
            } else {
                Err(format!("no {what} `{name}` is open here; an earlier `{opener}` step must open it"))
            }
        };
        match step {
            Step::NewSession { name } => made(&mut self.sessions, name, "session"),
            Step::DeleteSession { name } => ended(&mut self.sessions, name, "session", "new-session"),
            Step::OpenSubscriber { name, .. } => made(&mut self.subscribers, name, "subscriber"),
            Step::CloseSubscriber { name } => ended(&mut self.subscribers, name, "subscriber", "open-subscriber"),
            Step::Http { path, body, .. } => {
                let text = format!("{path} {}", body.as_ref().map(|b| b.to_string()).unwrap_or_default());
                match session_references(&text).into_iter().find(|n| !self.sessions.contains(n)) {
                    Some(n) => Err(format!(
                        "{{session:{n}}} names no open session; an earlier `new-session` step must create `{n}`"
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// The names in `{session:NAME}` references of `text`.
pub fn session_references(text: &str) -> Vec<String> {
    text.split("{session:")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// A session's or subscriber's name: what `{session:NAME}` can spell.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate_check(check: &CheckSpec) -> Result<(), String> {
    match check {
        CheckSpec::PluginReported { event } if event.is_empty() => {
            Err("event must not be empty".into())
        }
        CheckSpec::MessagesStored { min, max: Some(max) } if max < min => {
            Err(format!("max {max} is less than min {min}"))
        }
        CheckSpec::ProcessNeverSeen { command } if command.trim().is_empty() => {
            Err("command must not be empty (it would match every process)".into())
        }
        _ => Ok(()),
    }
}

/// Where the parts of one scenario file are written, from the parser's spans.
struct Places<'a> {
    text: &'a str,
    path: &'a Path,
    doc: &'a Spanned<DeTable<'a>>,
}

impl<'a> Places<'a> {
    fn new(text: &'a str, path: &'a Path, doc: &'a Spanned<DeTable<'a>>) -> Self {
        Places { text, path, doc }
    }

    fn at(&self, offset: usize, message: String) -> ScenarioError {
        located(self.path, self.text, offset, message)
    }

    /// At the top-level key `key`, or the top of the file when it is absent.
    fn at_key(&self, key: &str, message: String) -> ScenarioError {
        self.at(key_offset(self.doc, key), message)
    }

    /// At the `n`th table of the array of tables at `path` (`[[steps]]`, `[[model.turns]]`),
    /// or the top of the file when there is none.
    fn at_entry(&self, path: &[&str], n: usize, message: String) -> ScenarioError {
        self.at(entry_offset(self.doc, path, n), message)
    }

    /// The first key named `name` that starts at or after `offset`, anywhere in the file.
    fn key_from(&self, name: &str, offset: usize) -> Option<usize> {
        fn walk(table: &DeTable<'_>, name: &str, offset: usize, best: &mut Option<usize>) {
            for (k, v) in table.iter() {
                let start = k.span().start;
                if k.get_ref() == name && start >= offset {
                    *best = Some(best.map_or(start, |b| b.min(start)));
                }
                walk_value(v.get_ref(), name, offset, best);
            }
        }
        fn walk_value(value: &DeValue<'_>, name: &str, offset: usize, best: &mut Option<usize>) {
            match value {
                DeValue::Table(t) => walk(t, name, offset, best),
                DeValue::Array(a) => a
                    .iter()
                    .for_each(|v| walk_value(v.get_ref(), name, offset, best)),
                _ => {}
            }
        }
        let mut best = None;
        walk(self.doc.get_ref(), name, offset, &mut best);
        best
    }
}

/// Where the top-level key `key` is written, or the top of the file when it is absent.
pub(crate) fn key_offset(doc: &Spanned<DeTable<'_>>, key: &str) -> usize {
    doc.get_ref()
        .get_key_value(key)
        .map_or(0, |(k, _)| k.span().start)
}

/// Where the `n`th table of the array of tables at `path` starts (its `[[...]]` header),
/// or the top of the file when there is none.
pub(crate) fn entry_offset(doc: &Spanned<DeTable<'_>>, path: &[&str], n: usize) -> usize {
    fn entry<'d, 'i>(
        doc: &'d DeTable<'i>,
        path: &[&str],
        n: usize,
    ) -> Option<&'d Spanned<DeValue<'i>>> {
        let (last, parents) = path.split_last()?;
        let mut table = doc;
        for key in parents {
            match table.get(*key)?.get_ref() {
                DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
        match table.get(*last)?.get_ref() {
            DeValue::Array(a) => a.get(n),
            _ => None,
        }
    }
    entry(doc.get_ref(), path, n).map_or(0, |e| e.span().start)
}

fn located(path: &Path, text: &str, offset: usize, message: String) -> ScenarioError {
    let (line, column) = line_col(text, offset);
    ScenarioError::Invalid(Located {
        path: path.to_path_buf(),
        line,
        column,
        message,
    })
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant ..."), read
/// back so the nearest known name can be offered.
struct Unknown<'m> {
    name: &'m str,
    /// A field (a key), rather than a variant (a value such as a step's `do`).
    is_key: bool,
    known: Vec<&'m str>,
}

impl<'m> Unknown<'m> {
    fn parse(message: &'m str) -> Option<Self> {
        let (is_key, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
            (true, rest)
        } else {
            (false, message.strip_prefix("unknown variant `")?)
        };
        let (name, expected) = rest.split_once("`, ")?;
        let known = expected.split('`').skip(1).step_by(2).collect();
        Some(Unknown {
            name,
            is_key,
            known,
        })
    }
}

/// The known name nearest to `name`, when it is near enough to be a slip: a few edits
/// away (a third of the name), or the known name with its end left off or added to.
fn suggest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let slips = (name.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= slips || shares_a_stem(name, k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// One starts with the other, and the shorter has at least three letters.
fn shares_a_stem(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.chars().count() >= 3 && long.starts_with(short)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_route_must_be_a_path_and_a_probed_command_not_empty() {
        let base = |extra: &str| {
            format!(
                "format_version = 1\nname = \"x\"\ndescription = \"d\"\n{extra}\n[[steps]]\ndo = \"abort\"\n"
            )
        };
        let path = Path::new("x.toml");
        let e = parse_str(&base("[requires]\nroute = \"question\""), path).unwrap_err().to_string();
        assert!(e.contains("requires.route `question` is not a path"), "{e}");
        let s = parse_str(&base("[requires]\nroute = \"/question\"\ntool = \"question\""), path).unwrap();
        assert!(s.requires.needs_probe());
        let e = parse_str(&base("[[checks]]\ncheck = \"process-never-seen\"\ncommand = \" \""), path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("command must not be empty"), "{e}");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("promt", "prompt"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("sitting", "kitten"), 3);
        assert_eq!(edit_distance("wiat", "wait"), 2);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn a_suggestion_is_a_slip_away() {
        let known = ["prompt", "wait", "abort", "stop-server"];
        assert_eq!(suggest("promt", &known), Some("prompt"));
        assert_eq!(suggest("wiat", &known), Some("wait"));
        // Two edits are always a slip; a third of a long name too.
        assert_eq!(suggest("xbxrt", &known), Some("abort"));
        assert_eq!(suggest("xbxrx", &known), None);
        assert_eq!(suggest("stap-sxrvex", &known), Some("stop-server"));
        assert_eq!(suggest("stap-sxrvxx", &known), None);
        // A name with its end cut off or added to.
        assert_eq!(suggest("stop", &known), Some("stop-server"));
        assert_eq!(suggest("abortion", &known), Some("abort"));
        assert_eq!(suggest("st", &["stop-server"]), None);
        assert_eq!(suggest("anything", &[]), None);
    }

    #[test]
    fn serde_messages_are_read_back() {
        let u = Unknown::parse("unknown field `timeout`, expected one of `until`, `timeout_ms`").unwrap();
        assert_eq!((u.name, u.is_key, u.known), ("timeout", true, vec!["until", "timeout_ms"]));
        let u = Unknown::parse("unknown variant `promt`, expected `prompt` or `wait`").unwrap();
        assert_eq!((u.name, u.is_key, u.known), ("promt", false, vec!["prompt", "wait"]));
        let u = Unknown::parse("unknown field `x`, there are no fields").unwrap();
        assert!(u.known.is_empty());
        assert!(Unknown::parse("missing field `name`").is_none());
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        assert_eq!(line_col("", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 2), (1, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
