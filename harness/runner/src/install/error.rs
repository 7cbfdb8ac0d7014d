//! What can go wrong getting a binary, each message saying what to do about it.

use super::{BINARY_IN_TARBALL, CACHE_ENV, NPM_PACKAGE};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("invalid opencode spec `{spec}`: {reason}; pass a version like 1.18.34, `latest`, or a path to an opencode binary")]
    InvalidSpec { spec: String, reason: String },

    #[error("no cache directory: none of {}, XDG_CACHE_HOME or HOME is set; set {} to a writable directory", CACHE_ENV, CACHE_ENV)]
    NoCacheDir,

    #[error("npm not found on PATH (tried `{program}`): install Node.js/npm or pass --opencode /path/to/opencode")]
    NpmNotFound { program: String },

    #[error("the npm registry is unreachable (`{command}` failed): check the network and npm's configuration (`npm config list`); {}\n{}", offline_hint(.cached), indent(.detail))]
    RegistryUnreachable {
        command: String,
        /// The tail of npm's stderr, host names redacted.
        detail: String,
        /// Versions that resolve offline.
        cached: Vec<String>,
    },

    #[error("`{command}` gave no answer within {deadline:?} and was killed: the npm registry is probably unreachable or very slow; retry, or check the network and npm's configuration (`npm config list`); {}{}", offline_hint(.cached), block(.detail))]
    NpmTimeout {
        command: String,
        deadline: Duration,
        /// The tail of what npm had printed on stderr, host names redacted; may be empty.
        detail: String,
        cached: Vec<String>,
    },

    #[error("`{command}` failed ({status}): check npm's configuration (`npm config list`) and its log, or pass --opencode /path/to/opencode\n{}", indent(.detail))]
    NpmFailed {
        command: String,
        status: String,
        detail: String,
    },

    #[error("`{command}` printed something unexpected ({detail}): check that `npm` is a working npm client, or pass --opencode /path/to/opencode")]
    NpmOutput { command: String, detail: String },

    #[error("opencode {version} is not in the registry as {}; {}", NPM_PACKAGE, nearest_hint(.nearest))]
    UnknownVersion {
        version: String,
        /// Up to 3 available versions on each side of the one asked for, ascending.
        nearest: Vec<String>,
    },

    #[error("integrity mismatch for {}@{version}: the registry says {expected}, the tarball hashes to {actual}; the tarball was discarded: retry, and if it happens again clear npm's cache (`npm cache clean --force`)", NPM_PACKAGE)]
    IntegrityMismatch {
        version: String,
        expected: String,
        actual: String,
    },

    #[error("the tarball of {}@{version} has no usable {} ({detail}); nothing was installed: pick another version or pass --opencode /path/to/opencode", NPM_PACKAGE, BINARY_IN_TARBALL)]
    MissingBinary { version: String, detail: String },

    #[error("no opencode binary at {}: check the path passed to --opencode", .path.display())]
    LocalMissing { path: PathBuf },

    #[error("{} is not executable ({reason}): `chmod +x` it or pass another binary", .path.display())]
    LocalNotExecutable { path: PathBuf, reason: String },

    #[error("could not get the version of {}: {detail}; check that it is an opencode binary that runs on this machine", .path.display())]
    LocalVersion { path: PathBuf, detail: String },

    #[error("could not {context}: {source}; check that the cache directory is writable and has room, or set {} to another directory", CACHE_ENV)]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl InstallError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> InstallError {
        let context = context.into();
        move |source| InstallError::Io { context, source }
    }
}

fn offline_hint(cached: &[String]) -> String {
    match cached.last() {
        None => "no opencode version is cached for offline use".to_string(),
        Some(newest) => format!(
            "cached versions that work offline: {} (e.g. --opencode {newest})",
            cached.join(", ")
        ),
    }
}

fn nearest_hint(nearest: &[String]) -> String {
    let all = format!("`npm view {NPM_PACKAGE} versions --json` lists them all");
    if nearest.is_empty() {
        format!("the registry lists no version near it: {all}")
    } else {
        format!(
            "nearest available: {}; pick one of them ({all})",
            nearest.join(", ")
        )
    }
}

/// `text` indented on lines of its own, or nothing when it is empty.
fn block(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("\n{}", indent(text))
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_lower_case_and_say_what_to_do() {
        let timeout = |cached: Vec<String>| InstallError::NpmTimeout {
            command: "npm view x".into(),
            deadline: Duration::from_secs(60),
            detail: String::new(),
            cached,
        };
        // Each message, and the remedy it must name.
        let cases = [
            (
                InstallError::NoCacheDir,
                vec!["set OC_CONFORM_CACHE to a writable directory"],
            ),
            (
                InstallError::NpmNotFound {
                    program: "npm".into(),
                },
                vec![
                    "(tried `npm`)",
                    "install Node.js/npm or pass --opencode /path/to/opencode",
                ],
            ),
            (
                timeout(vec![]),
                vec![
                    "`npm view x` gave no answer within 60s and was killed",
                    "retry, or check the network and npm's configuration (`npm config list`)",
                    "no opencode version is cached for offline use",
                ],
            ),
            (
                timeout(vec!["1.15.13".into(), "1.18.34".into()]),
                vec![
                    "cached versions that work offline: 1.15.13, 1.18.34 (e.g. --opencode 1.18.34)",
                ],
            ),
            (
                InstallError::LocalMissing { path: "/x".into() },
                vec!["no opencode binary at /x: check the path passed to --opencode"],
            ),
            (
                InstallError::IntegrityMismatch {
                    version: "1.2.3".into(),
                    expected: "sha512-a".into(),
                    actual: "sha512-b".into(),
                },
                vec![
                    "retry, and if it happens again clear npm's cache (`npm cache clean --force`)",
                ],
            ),
            (
                InstallError::UnknownVersion {
                    version: "1.15.1".into(),
                    nearest: vec![],
                },
                vec![
                    "the registry lists no version near it",
                    "`npm view opencode-linux-x64 versions --json` lists them all",
                ],
            ),
        ];
        for (e, remedies) in cases {
            let msg = e.to_string();
            let first = msg.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{msg}");
            for remedy in remedies {
                assert!(msg.contains(remedy), "`{remedy}` missing from: {msg}");
            }
        }
        let msg = InstallError::UnknownVersion {
            version: "1.15.1".into(),
            nearest: vec!["1.15.0".into(), "1.15.3".into()],
        }
        .to_string();
        assert!(msg.contains("nearest available: 1.15.0, 1.15.3"), "{msg}");
    }
}
