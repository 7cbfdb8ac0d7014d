//! The one npm client of the harness: which `npm` program, the environment it gets, the
//! directory it runs in, its deadline; `view`, `pack` and `install`; and what its
//! failures mean (registry unreachable, no such package, anything else), with host names
//! kept out of every message. Every run goes through [`crate::process`]: a process group
//! of its own, killed at the deadline.

use crate::process::{self, ProcessError};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// How many stderr lines an error message quotes.
const TAIL_LINES: usize = 8;

/// Why an npm run gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum NpmError {
    #[error("npm not found on PATH (tried `{program}`)")]
    NotFound { program: String },
    /// npm said E404: no such package or version.
    #[error("`{command}` found no such package or version (E404)\n{detail}")]
    NoSuchPackage { command: String, detail: String },
    #[error("the npm registry is unreachable (`{command}` failed)\n{detail}")]
    Unreachable {
        command: String,
        /// The tail of npm's stderr, host names redacted.
        detail: String,
    },
    #[error("`{command}` gave no answer within {deadline:?} and was killed\n{detail}")]
    Timeout {
        command: String,
        deadline: Duration,
        /// The tail of what npm had printed on stderr, host names redacted; may be empty.
        detail: String,
    },
    #[error("`{command}` failed ({status})\n{detail}")]
    Failed {
        command: String,
        status: String,
        detail: String,
    },
    /// The scratch project npm runs in could not be made.
    #[error("could not {context}: {source}")]
    Setup {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// An npm client. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npm {
    program: OsString,
    env: Vec<(OsString, OsString)>,
}

impl Default for Npm {
    /// `npm` from PATH.
    fn default() -> Self {
        Npm::new("npm")
    }
}

impl Npm {
    /// `program` (a name looked up on PATH, or a path), with npm's update notice, funding
    /// and audit messages turned off.
    pub fn new(program: impl Into<OsString>) -> Self {
        Npm {
            program: program.into(),
            env: [
                ("npm_config_update_notifier", "false"),
                ("npm_config_fund", "false"),
                ("npm_config_audit", "false"),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        }
    }

    /// Adds (or overrides) an environment variable of every run.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The command as messages show it: `npm view x --json`.
    pub fn describe(&self, args: &[String]) -> String {
        let program = Path::new(&self.program)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.to_string_lossy().into_owned());
        format!("{program} {}", args.join(" "))
    }

    /// `npm view <spec> <field> --json`, in a project of its own; its stdout.
    pub async fn view(
        &self,
        spec: &str,
        field: &str,
        deadline: Duration,
    ) -> Result<Vec<u8>, NpmError> {
        self.run(&view_args(spec, field), deadline).await
    }

    /// `npm pack <spec> --pack-destination <dest> --json`, in a project of its own; its
    /// stdout (the JSON that names the tarball).
    pub async fn pack(
        &self,
        spec: &str,
        dest: &Path,
        deadline: Duration,
    ) -> Result<Vec<u8>, NpmError> {
        self.run(&pack_args(spec, dest), deadline).await
    }

    /// `npm install <args>` in `dir` (a package.json there says what to install).
    pub async fn install(
        &self,
        dir: &Path,
        args: &[&str],
        deadline: Duration,
    ) -> Result<Vec<u8>, NpmError> {
        let mut all = vec!["install".to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        self.run_in(dir, &all, deadline).await
    }

    /// Runs npm in an empty project dir of its own, so no project `.npmrc` or
    /// `package.json` around the caller's directory changes what it does.
    pub async fn run(&self, args: &[String], deadline: Duration) -> Result<Vec<u8>, NpmError> {
        let setup = |context: &str| {
            let context = context.to_string();
            move |source| NpmError::Setup { context, source }
        };
        let cwd = tempfile::Builder::new()
            .prefix("oc-conform-npm-")
            .tempdir()
            .map_err(setup("create a temp dir for npm"))?;
        fs::write(cwd.path().join("package.json"), "{\"private\":true}\n")
            .map_err(setup("write a package.json for npm"))?;
        self.run_in(cwd.path(), args, deadline).await
    }

    /// Runs npm in `cwd`, in a process group of its own that is killed at `deadline`;
    /// returns its stdout when it succeeded.
    pub async fn run_in(
        &self,
        cwd: &Path,
        args: &[String],
        deadline: Duration,
    ) -> Result<Vec<u8>, NpmError> {
        let command = self.describe(args);
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .current_dir(cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = match process::run_captured(cmd, deadline).await {
            Ok(out) => out,
            Err(e) if e.is_not_found() => {
                return Err(NpmError::NotFound {
                    program: self.program.to_string_lossy().into_owned(),
                })
            }
            Err(ProcessError::Timeout { deadline, stderr }) => {
                return Err(NpmError::Timeout {
                    command,
                    deadline,
                    detail: stderr_tail(&stderr),
                })
            }
            Err(e @ (ProcessError::Spawn(_) | ProcessError::Wait(_))) => {
                return Err(NpmError::Failed {
                    command,
                    status: "could not run it".into(),
                    detail: e.to_string(),
                })
            }
        };
        if out.status.success() {
            return Ok(out.stdout);
        }
        let code = npm_error_code(&out.stdout, &out.stderr);
        let detail = failure_detail(&out.stdout, &out.stderr);
        Err(match code.as_deref() {
            Some("E404") => NpmError::NoSuchPackage { command, detail },
            Some(c) if is_network_code(c) => NpmError::Unreachable { command, detail },
            _ => NpmError::Failed {
                command,
                status: process::describe_status(out.status),
                detail,
            },
        })
    }
}

/// `view <spec> <field> --json`.
pub fn view_args(spec: &str, field: &str) -> Vec<String> {
    ["view", spec, field, "--json"].map(String::from).to_vec()
}

/// `pack <spec> --pack-destination <dest> --json`.
pub fn pack_args(spec: &str, dest: &Path) -> Vec<String> {
    vec![
        "pack".to_string(),
        spec.to_string(),
        "--pack-destination".to_string(),
        dest.display().to_string(),
        "--json".to_string(),
    ]
}

/// The tarball `npm pack --json` wrote into `dest`: the file its JSON names (a plain file
/// name, never a path out of `dest`), else the only `.tgz` there. `Err` says what was
/// found instead.
pub fn packed_tarball(stdout: &[u8], dest: &Path) -> Result<PathBuf, String> {
    let named = serde_json::from_slice::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| {
            let first = match v {
                serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
                other => other,
            };
            first
                .get("filename")
                .and_then(|f| f.as_str())
                .map(str::to_string)
        })
        .filter(|f| !f.contains('/') && f != ".." && !f.is_empty())
        .map(|f| dest.join(f))
        .filter(|p| p.is_file());
    if let Some(p) = named {
        return Ok(p);
    }
    let tgz: Vec<PathBuf> = fs::read_dir(dest)
        .map_err(|e| format!("cannot read the pack destination: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    match <[PathBuf; 1]>::try_from(tgz) {
        Ok([p]) => Ok(p),
        Err(found) => Err(format!(
            "expected one .tgz in the pack destination, found {}",
            found.len()
        )),
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// npm's error code, from its `--json` error object or its `npm error code X` line.
fn npm_error_code(stdout: &[u8], stderr: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(stdout) {
        if let Some(code) = v.pointer("/error/code").and_then(|c| c.as_str()) {
            return Some(code.to_string());
        }
    }
    String::from_utf8_lossy(stderr).lines().find_map(|l| {
        let rest = l
            .strip_prefix("npm error code ")
            .or_else(|| l.strip_prefix("npm ERR! code "))?;
        Some(rest.trim().to_string())
    })
}

fn is_network_code(code: &str) -> bool {
    matches!(
        code,
        "ECONNREFUSED"
            | "ECONNRESET"
            | "ECONNABORTED"
            | "ENOTFOUND"
            | "EAI_AGAIN"
            | "EAI_FAIL"
            | "ETIMEDOUT"
            | "ESOCKETTIMEDOUT"
            | "ERR_SOCKET_TIMEOUT"
            | "EHOSTUNREACH"
            | "EHOSTDOWN"
            | "ENETUNREACH"
            | "ENETDOWN"
            | "EPIPE"
            | "EPROTO"
    )
}

/// What to quote of a failed npm run: the tail of stderr, or failing that the summary of
/// its `--json` error object. Host names are redacted.
fn failure_detail(stdout: &[u8], stderr: &[u8]) -> String {
    let tail = stderr_tail(stderr);
    if !tail.is_empty() {
        return tail;
    }
    let summary = serde_json::from_slice::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| {
            let code = v.pointer("/error/code")?.as_str()?.to_string();
            let summary = v
                .pointer("/error/summary")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            Some(format!("{code}: {summary}"))
        });
    match summary {
        Some(s) => redact_hosts(&s),
        None => "npm printed nothing on stderr".to_string(),
    }
}

/// The last lines of a stderr, without stack frames (and without warnings when there
/// are errors), host names redacted.
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| {
            let body = l
                .strip_prefix("npm error")
                .or_else(|| l.strip_prefix("npm ERR!"))
                .unwrap_or(l)
                .trim();
            !body.is_empty() && !body.starts_with("at ")
        })
        .collect();
    let has_errors = lines
        .iter()
        .any(|l| !l.starts_with("npm warn") && !l.starts_with("npm WARN"));
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|l| !has_errors || !(l.starts_with("npm warn") || l.starts_with("npm WARN")))
        .collect();
    let start = kept.len().saturating_sub(TAIL_LINES);
    kept[start..]
        .iter()
        .map(|l| truncate(&redact_hosts(l), 300))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces URLs and the host names npm prints after `ENOTFOUND`, `EAI_AGAIN`,
/// `hostname:` or `host:` with placeholders, so no registry host reaches a message.
pub(crate) fn redact_hosts(line: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut hide_next = false;
    for token in line.split(' ') {
        if token.is_empty() {
            out.push(String::new());
            continue;
        }
        if hide_next {
            hide_next = false;
            let trailing: String = token
                .chars()
                .rev()
                .take_while(|c| ",;)'\"".contains(*c))
                .collect();
            out.push(format!(
                "<host>{}",
                trailing.chars().rev().collect::<String>()
            ));
            continue;
        }
        if let Some(at) = token.find("://") {
            let scheme_start = token[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                .map_or(0, |i| i + 1);
            out.push(format!("{}<url>", &token[..scheme_start]));
            continue;
        }
        let bare = token.trim_end_matches([',', ';', ':']);
        if matches!(
            bare,
            "ENOTFOUND" | "EAI_AGAIN" | "EAI_FAIL" | "hostname" | "host"
        ) {
            hide_next = true;
        }
        out.push(token.to_string());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_codes_and_hides_hosts() {
        let line = "npm error network request to http://127.0.0.1:9/opencode-linux-x64 failed, reason: getaddrinfo ENOTFOUND nx.invalid";
        let r = redact_hosts(line);
        assert!(
            !r.contains("://") && !r.contains("nx.invalid") && !r.contains("127.0.0.1:9/"),
            "{r}"
        );
        assert!(
            r.contains("ENOTFOUND <host>") && r.contains("request to <url> failed"),
            "{r}"
        );
        assert_eq!(
            redact_hosts("npm error   hostname: 'nx.invalid',"),
            "npm error   hostname: <host>',"
        );
        let stderr = b"npm warn Unknown user config \"nodedir\".\nnpm error code ECONNREFUSED\nnpm error FetchError: request to https://h.invalid/x failed\nnpm error     at ClientRequest.<anonymous> (x.js:1:2)\n";
        let tail = stderr_tail(stderr);
        assert_eq!(
            tail,
            "npm error code ECONNREFUSED\nnpm error FetchError: request to <url> failed"
        );
        assert_eq!(npm_error_code(b"", stderr).as_deref(), Some("ECONNREFUSED"));
        assert_eq!(
            npm_error_code(br#"{"error":{"code":"E404"}}"#, b"").as_deref(),
            Some("E404")
        );
    }

    #[tokio::test]
    async fn failures_are_classified_by_npm_error_code() {
        let dir = tempfile::tempdir().unwrap();
        let fake = |name: &str, body: &str| {
            let p = dir.path().join(name);
            fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            Npm::new(p)
        };
        let d = Duration::from_secs(10);
        let ok = fake(
            "ok",
            r#"[ "$npm_config_fund" = false ] || exit 8; [ -f package.json ] || exit 9; echo "$*""#,
        );
        assert_eq!(
            ok.view("p", "versions", d).await.unwrap(),
            b"view p versions --json\n"
        );
        let e = fake("e404", "echo 'npm error code E404' >&2; exit 1")
            .view("p", "x", d)
            .await
            .unwrap_err();
        assert!(matches!(e, NpmError::NoSuchPackage { .. }), "{e:?}");
        let e = fake("net", "echo 'npm error code EAI_AGAIN' >&2; exit 1")
            .view("p", "x", d)
            .await
            .unwrap_err();
        assert!(
            matches!(e, NpmError::Unreachable { ref command, .. } if command == "net view p x --json"),
            "{e:?}"
        );
        let e = fake("other", "echo 'npm error code E401' >&2; exit 2")
            .view("p", "x", d)
            .await
            .unwrap_err();
        assert!(
            matches!(e, NpmError::Failed { ref status, ref detail, .. } if status == "exit 2" && detail.contains("E401")),
            "{e:?}"
        );
        let e = Npm::new(dir.path().join("none"))
            .view("p", "x", d)
            .await
            .unwrap_err();
        assert!(matches!(e, NpmError::NotFound { .. }), "{e:?}");
        let e = fake("slow", "echo waiting >&2; sleep 300")
            .view("p", "x", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            matches!(e, NpmError::Timeout { ref detail, .. } if detail == "waiting"),
            "{e:?}"
        );
        // `install` runs where it is told, with the arguments given.
        let here = tempfile::tempdir().unwrap();
        fs::write(here.path().join("marker"), "").unwrap();
        let out = fake("inst", r#"[ -f marker ] && echo "$*""#)
            .install(here.path(), &["--omit=dev"], d)
            .await
            .unwrap();
        assert_eq!(out, b"install --omit=dev\n");
    }

    #[test]
    fn the_packed_tarball_is_the_one_named_or_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(packed_tarball(b"[]", d).unwrap_err().contains("found 0"));
        fs::write(d.join("a.tgz"), "").unwrap();
        assert_eq!(packed_tarball(b"not json", d).unwrap(), d.join("a.tgz"));
        fs::write(d.join("b.tgz"), "").unwrap();
        assert_eq!(
            packed_tarball(br#"[{"filename":"b.tgz"}]"#, d).unwrap(),
            d.join("b.tgz")
        );
        assert!(packed_tarball(br#"[{"filename":"../a.tgz"}]"#, d)
            .unwrap_err()
            .contains("found 2"));
    }
}
