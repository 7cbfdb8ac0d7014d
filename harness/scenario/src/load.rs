//! Reading scenario files, with errors that point at the file, line and column and say
//! what was expected.

use crate::model::{CheckSpec, Condition, ModelTurn, Scenario, Step};
use crate::FORMAT_VERSION;
use std::fmt;
use std::path::{Path, PathBuf};

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
    let scenario = parse_str(&text, path)?;
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        if stem != scenario.name {
            return Err(invalid_at_key(
                path,
                &text,
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
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_col(text, offset);
        ScenarioError::Invalid(Located {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        })
    })?;
    validate(&scenario, text, path)?;
    Ok(scenario)
}

fn validate(s: &Scenario, text: &str, path: &Path) -> Result<(), ScenarioError> {
    let err = |key: &str, msg: String| Err(invalid_at_key(path, text, key, msg));
    if s.format_version != FORMAT_VERSION {
        return err(
            "format_version",
            format!(
                "format_version {} is not understood; this oc-conform reads format_version = {FORMAT_VERSION}",
                s.format_version
            ),
        );
    }
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return err(
            "name",
            format!(
                "name `{}` must be lower-case letters, digits and dashes (it names reports and expectations)",
                s.name
            ),
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
        validate_turn(turn).or_else(|m| {
            err_nth(path, text, "[[model.turns]]", i, format!("model turn {}: {m}", i + 1))
        })?;
    }
    for (i, step) in s.steps.iter().enumerate() {
        validate_step(step, s.deadline_ms)
            .or_else(|m| err_nth(path, text, "[[steps]]", i, format!("step {}: {m}", i + 1)))?;
    }
    for (i, check) in s.checks.iter().enumerate() {
        validate_check(check)
            .or_else(|m| err_nth(path, text, "[[checks]]", i, format!("check {}: {m}", i + 1)))?;
    }
    Ok(())
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
        _ => Ok(()),
    }
}

fn validate_check(check: &CheckSpec) -> Result<(), String> {
    match check {
        CheckSpec::PluginReported { event } if event.is_empty() => {
            Err("event must not be empty".into())
        }
        CheckSpec::MessagesStored { min, max: Some(max) } if max < min => {
            Err(format!("max {max} is less than min {min}"))
        }
        _ => Ok(()),
    }
}

fn invalid_at_key(path: &Path, text: &str, key: &str, message: String) -> ScenarioError {
    let offset = find_key(text, key).unwrap_or(0);
    let (line, column) = line_col(text, offset);
    ScenarioError::Invalid(Located {
        path: path.to_path_buf(),
        line,
        column,
        message,
    })
}

fn err_nth<T>(
    path: &Path,
    text: &str,
    header: &str,
    n: usize,
    message: String,
) -> Result<T, ScenarioError> {
    let offset = text
        .match_indices(header)
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let (line, column) = line_col(text, offset);
    Err(ScenarioError::Invalid(Located {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }))
}

/// The offset of the first line that assigns `key` at the top level.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(offset + (line.len() - trimmed.len()));
            }
        }
        offset += line.len();
    }
    None
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
