//! A binary given by path: checked, and asked for its version.

use super::npm::{stderr_tail, truncate};
use super::{InstallError, Installed, Installer, Source};
use crate::process::{self, ProcessError};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::process::Command;

impl Installer {
    pub(super) async fn resolve_local(&self, path: &Path) -> Result<Installed, InstallError> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InstallError::LocalMissing {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                return Err(InstallError::LocalNotExecutable {
                    path: path.to_path_buf(),
                    reason: format!("cannot stat it: {e}"),
                })
            }
        };
        if !meta.is_file() {
            return Err(InstallError::LocalNotExecutable {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(InstallError::LocalNotExecutable {
                path: path.to_path_buf(),
                reason: format!("mode {:o}", meta.permissions().mode() & 0o7777),
            });
        }
        let binary = fs::canonicalize(path).map_err(|e| InstallError::LocalNotExecutable {
            path: path.to_path_buf(),
            reason: format!("cannot resolve the path: {e}"),
        })?;
        let version = self.local_version(&binary).await?;
        Ok(Installed {
            version,
            binary,
            source: Source::Local,
        })
    }

    /// Runs `<binary> --version` in a throwaway HOME so it touches no real state.
    async fn local_version(&self, binary: &Path) -> Result<String, InstallError> {
        let fail = |detail: String| InstallError::LocalVersion {
            path: binary.to_path_buf(),
            detail,
        };
        let home = tempfile::Builder::new()
            .prefix("oc-conform-version-")
            .tempdir()
            .map_err(InstallError::io("create a temp dir"))?;
        let h = home.path();
        let mut cmd = Command::new(binary);
        cmd.arg("--version")
            .current_dir(h)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_STATE_HOME", h.join("state"))
            .env("XDG_CACHE_HOME", h.join("cache"))
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .env("OPENCODE_DISABLE_MODELS_FETCH", "1");
        let deadline = self.deadlines.local_version;
        let out = match process::run_captured(cmd, deadline).await {
            Ok(out) => out,
            Err(ProcessError::Timeout { .. }) => {
                return Err(fail(format!(
                    "`--version` gave no answer within {deadline:?} and was killed"
                )))
            }
            Err(ProcessError::Spawn(e)) | Err(ProcessError::Wait(e)) => {
                return Err(fail(format!("cannot run it: {e}")))
            }
        };
        if !out.status.success() {
            return Err(fail(format!(
                "`--version` failed ({}): {}",
                process::describe_status(out.status),
                stderr_tail(&out.stderr)
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("");
        let version = line.strip_prefix('v').unwrap_or(line);
        if version.is_empty() || version.contains(char::is_whitespace) {
            return Err(fail(format!(
                "`--version` printed `{}`, not a version",
                truncate(line, 80)
            )));
        }
        Ok(version.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::test_support::{no_npm, write_exec};
    use crate::install::{Deadlines, OpencodeSpec};
    use std::time::Duration;

    #[tokio::test]
    async fn local_binaries() {
        let tmp = tempfile::tempdir().unwrap();
        let inst = no_npm(tmp.path());

        let ok = tmp.path().join("opencode");
        write_exec(
            &ok,
            "#!/bin/sh\n[ \"$1\" = --version ] || exit 2\necho\necho v1.18.34\n",
        );
        let got = inst
            .resolve(&OpencodeSpec::Local(ok.clone()))
            .await
            .unwrap();
        assert_eq!(
            got,
            Installed {
                version: "1.18.34".into(),
                binary: ok.canonicalize().unwrap(),
                source: Source::Local
            }
        );

        let e = inst
            .resolve(&OpencodeSpec::Local(tmp.path().join("nope")))
            .await
            .unwrap_err();
        assert!(matches!(e, InstallError::LocalMissing { .. }), "{e:?}");
        assert!(e.to_string().starts_with("no opencode binary at"), "{e}");

        let plain = tmp.path().join("plain");
        fs::write(&plain, "#!/bin/sh\necho 1\n").unwrap();
        let e = inst.resolve(&OpencodeSpec::Local(plain)).await.unwrap_err();
        assert!(
            matches!(e, InstallError::LocalNotExecutable { .. }),
            "{e:?}"
        );
        let e = inst
            .resolve(&OpencodeSpec::Local(tmp.path().to_path_buf()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, InstallError::LocalNotExecutable { .. }),
            "{e:?}"
        );

        let failing = tmp.path().join("failing");
        write_exec(&failing, "#!/bin/sh\necho boom >&2\nexit 4\n");
        let e = inst
            .resolve(&OpencodeSpec::Local(failing))
            .await
            .unwrap_err();
        assert!(
            matches!(e, InstallError::LocalVersion { ref detail, .. } if detail.contains("exit 4") && detail.contains("boom")),
            "{e:?}"
        );

        let hung = tmp.path().join("hung");
        write_exec(&hung, "#!/bin/sh\nsleep 300\n");
        let quick = Installer::new(tmp.path()).with_deadlines(Deadlines {
            local_version: Duration::from_millis(500),
            ..Deadlines::default()
        });
        let started = std::time::Instant::now();
        let e = quick.resolve(&OpencodeSpec::Local(hung)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(e, InstallError::LocalVersion { ref detail, .. } if detail.contains("killed")),
            "{e:?}"
        );
    }
}
