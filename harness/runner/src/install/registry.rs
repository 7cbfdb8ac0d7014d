//! What the installer asks the registry, through the npm client: the version list, the
//! `latest` tag, a version's `dist` (its integrity) and its tarball.

use super::integrity::Dist;
use super::npm::{redact_hosts, truncate, NpmError};
use super::{InstallError, Installer, NPM_PACKAGE};
use crate::releases;
use std::path::{Path, PathBuf};

impl Installer {
    /// An npm failure as the installer reports it: with the versions that still work
    /// offline when the registry cannot be reached.
    pub(super) fn npm_error(&self, e: NpmError) -> InstallError {
        match e {
            NpmError::NotFound { program } => InstallError::NpmNotFound { program },
            NpmError::NoSuchPackage { command, detail } => InstallError::NpmFailed {
                command,
                status: "E404".into(),
                detail,
            },
            NpmError::Unreachable { command, detail } => InstallError::RegistryUnreachable {
                command,
                detail,
                cached: self.cached_versions(),
            },
            NpmError::Timeout {
                command,
                deadline,
                detail,
            } => InstallError::NpmTimeout {
                command,
                deadline,
                detail,
                cached: self.cached_versions(),
            },
            NpmError::Failed {
                command,
                status,
                detail,
            } => InstallError::NpmFailed {
                command,
                status,
                detail,
            },
            NpmError::Setup { context, source } => InstallError::Io { context, source },
        }
    }

    /// `npm view opencode-linux-x64 FIELD --json`: the command (for messages) and its output.
    async fn npm_view_package(&self, field: &str) -> Result<(String, Vec<u8>), InstallError> {
        let command = self
            .npm
            .describe(&super::npm::view_args(NPM_PACKAGE, field));
        match self
            .npm
            .view(NPM_PACKAGE, field, self.deadlines.npm_view)
            .await
        {
            Ok(out) => Ok((command, out)),
            Err(e) => Err(self.npm_error(e)),
        }
    }

    /// Every version the registry holds, ascending by semver (non-semver entries skipped).
    pub async fn registry_versions(&self) -> Result<Vec<String>, InstallError> {
        let (command, out) = self.npm_view_package("versions").await?;
        let value: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| InstallError::NpmOutput {
                command: command.clone(),
                detail: format!("not JSON: {e}"),
            })?;
        let list: Vec<String> = match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::String(s) => vec![s],
            other => {
                return Err(InstallError::NpmOutput {
                    command,
                    detail: format!("expected a list of versions, got {}", json_kind(&other)),
                })
            }
        };
        Ok(releases::sort(list))
    }

    /// The version the registry's `latest` tag points at.
    pub async fn latest_version(&self) -> Result<String, InstallError> {
        let (command, out) = self.npm_view_package("version").await?;
        let text = serde_json::from_slice::<String>(&out)
            .unwrap_or_else(|_| String::from_utf8_lossy(&out).trim().to_string());
        match semver::Version::parse(text.trim()) {
            Ok(v) => Ok(v.to_string()),
            Err(e) => Err(InstallError::NpmOutput {
                command,
                detail: format!(
                    "`{}` is not a version: {e}",
                    redact_hosts(&truncate(&text, 80))
                ),
            }),
        }
    }

    /// The command that asks for a version's `dist`, as messages show it.
    pub(super) fn describe_dist(&self, version: &str) -> String {
        self.npm.describe(&super::npm::view_args(
            &format!("{NPM_PACKAGE}@{version}"),
            "dist",
        ))
    }

    /// `npm view <pkg>@<version> dist --json`: the integrity the tarball must have.
    pub(super) async fn dist(&self, version: &str) -> Result<Dist, InstallError> {
        let command = self.describe_dist(version);
        let spec = format!("{NPM_PACKAGE}@{version}");
        let out = match self.npm.view(&spec, "dist", self.deadlines.npm_view).await {
            Ok(out) => out,
            Err(NpmError::NoSuchPackage { .. }) => return Err(self.unknown_version(version).await),
            Err(e) => return Err(self.npm_error(e)),
        };
        if out.iter().all(u8::is_ascii_whitespace) {
            // Older npm clients print nothing for a version that does not exist.
            return Err(self.unknown_version(version).await);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| InstallError::NpmOutput {
                command: command.clone(),
                detail: format!("not JSON: {e}"),
            })?;
        // A range would give a list; an exact version gives one object.
        let value = match value {
            serde_json::Value::Array(mut items) => items.pop().unwrap_or_default(),
            v => v,
        };
        let dist: Dist = serde_json::from_value(value).map_err(|e| InstallError::NpmOutput {
            command: command.clone(),
            detail: format!("not a dist object: {e}"),
        })?;
        if dist.integrity.is_none() && dist.shasum.is_none() {
            return Err(InstallError::NpmOutput {
                command,
                detail: "the registry gave neither dist.integrity nor dist.shasum".into(),
            });
        }
        Ok(dist)
    }

    pub(super) async fn unknown_version(&self, version: &str) -> InstallError {
        // The list only improves the message; without it the message still stands.
        let nearest = match self.registry_versions().await {
            Ok(all) => releases::nearest(&all, version, 3),
            Err(_) => Vec::new(),
        };
        InstallError::UnknownVersion {
            version: version.to_string(),
            nearest,
        }
    }

    /// `npm pack <pkg>@<version> --pack-destination <dest> --json`; returns the tarball.
    pub(super) async fn pack(&self, version: &str, dest: &Path) -> Result<PathBuf, InstallError> {
        let spec = format!("{NPM_PACKAGE}@{version}");
        let command = self.npm.describe(&super::npm::pack_args(&spec, dest));
        let out = match self.npm.pack(&spec, dest, self.deadlines.npm_pack).await {
            Ok(out) => out,
            Err(NpmError::NoSuchPackage { .. }) => return Err(self.unknown_version(version).await),
            Err(e) => return Err(self.npm_error(e)),
        };
        super::npm::packed_tarball(&out, dest)
            .map_err(|detail| InstallError::NpmOutput { command, detail })
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
