//! Getting opencode binaries.
//!
//! Released binaries ship in the npm registry as the package `opencode-linux-x64`; its
//! tarball holds `package/bin/opencode`. The [`Installer`] keeps them in a cache:
//!
//! ```text
//! <cache>/opencode/<version>/bin/opencode   the binary, mode 755
//! <cache>/opencode/<version>/install.json   {version, package, integrity, size, installed_at}
//! <cache>/tmp/                              staging dirs; renamed into place when complete
//! ```
//!
//! A cached version resolves with no network and no npm call. Installing asks the
//! machine's npm client, as it is configured, for the tarball's integrity, packs the
//! tarball into a staging dir inside the cache, checks its sha512 against that integrity
//! before unpacking, unpacks the binary, writes `install.json` and renames the staging dir
//! into place in one step, so a half-done install is never visible.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The npm package that carries the linux x64 binary.
pub const NPM_PACKAGE: &str = "opencode-linux-x64";
/// Where the binary sits inside the package tarball.
pub const BINARY_IN_TARBALL: &str = "package/bin/opencode";
/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "OC_CONFORM_CACHE";
/// How many installs [`Installer::install_many`] runs at once.
pub const INSTALL_PARALLELISM: usize = 3;

/// Staging dirs older than this are left over from a crashed run and get swept.
const STALE_STAGING: Duration = Duration::from_secs(2 * 60 * 60);
/// After a subprocess exited, how long its output pipes may stay open.
const PIPE_GRACE: Duration = Duration::from_secs(5);
/// How many stderr lines an error message quotes.
const TAIL_LINES: usize = 8;

// ---------------------------------------------------------------------------------------
// Spec

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

// ---------------------------------------------------------------------------------------
// Results and errors

/// Where a resolved binary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Already in the cache; nothing was run.
    Cached,
    /// Fetched from the registry by this call (also when another process finished the
    /// same install first and its copy is the one returned).
    Downloaded,
    /// A binary given by path.
    Local,
}

/// A binary ready to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub version: String,
    pub binary: PathBuf,
    pub source: Source,
}

/// `install.json`, written beside each cached binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub version: String,
    pub package: String,
    /// The verified tarball integrity, SRI form (`sha512-...`).
    pub integrity: String,
    /// The binary's size in bytes; a different size on disk marks the entry corrupt.
    pub size: u64,
    /// RFC 3339, UTC.
    pub installed_at: String,
}

/// What the cache holds for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheState {
    Missing,
    Valid(InstallRecord),
    /// Present but unusable; the reason says why. Resolving reinstalls it.
    Corrupt(String),
}

/// Deadlines for the subprocesses the installer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `npm view` (metadata).
    pub npm_view: Duration,
    /// `npm pack` (the download).
    pub npm_pack: Duration,
    /// `<local binary> --version`.
    pub local_version: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            npm_view: Duration::from_secs(60),
            npm_pack: Duration::from_secs(600),
            local_version: Duration::from_secs(30),
        }
    }
}

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
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> InstallError {
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

// ---------------------------------------------------------------------------------------
// Installer

/// Resolves [`OpencodeSpec`]s to runnable binaries, installing into a cache as needed.
/// Share it (e.g. in an `Arc`) so concurrent resolves of one version download once.
pub struct Installer {
    cache_dir: PathBuf,
    npm: OsString,
    deadlines: Deadlines,
    /// One lock per version: concurrent installs of a version wait for the first.
    locks: StdMutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Installer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installer")
            .field("cache_dir", &self.cache_dir)
            .field("npm", &self.npm)
            .field("deadlines", &self.deadlines)
            .finish()
    }
}

impl Installer {
    /// An installer caching under `cache_dir` (created on first install).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Installer {
            cache_dir: cache_dir.into(),
            npm: OsString::from("npm"),
            deadlines: Deadlines::default(),
            locks: StdMutex::new(HashMap::new()),
        }
    }

    /// An installer caching in [`Installer::default_cache_dir`].
    pub fn from_env() -> Result<Self, InstallError> {
        Ok(Installer::new(Self::default_cache_dir()?))
    }

    /// `$OC_CONFORM_CACHE` if set, else `$XDG_CACHE_HOME/oc-conform`, else
    /// `$HOME/.cache/oc-conform`.
    pub fn default_cache_dir() -> Result<PathBuf, InstallError> {
        cache_dir_from(
            std::env::var_os(CACHE_ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        )
        .ok_or(InstallError::NoCacheDir)
    }

    /// Uses `program` instead of `npm` from PATH.
    pub fn with_npm(mut self, program: impl Into<OsString>) -> Self {
        self.npm = program.into();
        self
    }

    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// `<cache>/opencode/<version>`.
    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.cache_dir.join("opencode").join(version)
    }

    /// `<cache>/opencode/<version>/bin/opencode`.
    pub fn binary_path(&self, version: &str) -> PathBuf {
        self.version_dir(version).join("bin").join("opencode")
    }

    fn staging_root(&self) -> PathBuf {
        self.cache_dir.join("tmp")
    }

    /// Resolves a spec to a binary: a cached version without running anything, an
    /// uncached one by installing it, `latest` by asking npm which version that is, a
    /// local path by checking it and running `<path> --version`.
    pub async fn resolve(&self, spec: &OpencodeSpec) -> Result<Installed, InstallError> {
        match spec {
            OpencodeSpec::Version(v) => self.resolve_version(v).await,
            OpencodeSpec::Latest => {
                let v = self.latest_version().await?;
                self.resolve_version(&v).await
            }
            OpencodeSpec::Local(p) => self.resolve_local(p).await,
        }
    }

    /// Resolves each of `versions` (versions, `latest` or paths, as [`OpencodeSpec`] parses
    /// them), at most [`INSTALL_PARALLELISM`] at once. Results come in input order.
    pub async fn install_many(&self, versions: &[String]) -> Vec<Result<Installed, InstallError>> {
        futures::stream::iter(versions.iter().map(|s| async move {
            let spec: OpencodeSpec = s.parse()?;
            self.resolve(&spec).await
        }))
        .buffered(INSTALL_PARALLELISM)
        .collect()
        .await
    }

    /// `npm view opencode-linux-x64 FIELD --json`: the command (for messages) and its output.
    async fn npm_view_package(&self, field: &str) -> Result<(String, Vec<u8>), InstallError> {
        let args = [
            "view".to_string(),
            NPM_PACKAGE.to_string(),
            field.to_string(),
            "--json".to_string(),
        ];
        let command = self.describe(&args);
        match self.npm(&args, self.deadlines.npm_view).await? {
            NpmOutcome::Ok(out) => Ok((command, out)),
            NpmOutcome::NotFound { detail } => Err(InstallError::NpmFailed {
                command,
                status: "E404".into(),
                detail,
            }),
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
        Ok(sort_versions(list))
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

    /// Versions the cache holds in working order, ascending by semver.
    pub fn cached_versions(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(self.cache_dir.join("opencode")) else {
            return Vec::new();
        };
        let names = dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| matches!(self.check_cached(name), CacheState::Valid(_)))
            .collect();
        sort_versions(names)
    }

    /// Checks one cache entry: `install.json` readable and naming this version, the binary
    /// a regular executable file of the recorded size.
    pub fn check_cached(&self, version: &str) -> CacheState {
        let dir = self.version_dir(version);
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return CacheState::Missing,
            Err(e) => return CacheState::Corrupt(format!("cannot stat {}: {e}", dir.display())),
            Ok(m) if !m.is_dir() => {
                return CacheState::Corrupt(format!("{} is not a directory", dir.display()))
            }
            Ok(_) => {}
        }
        let record: InstallRecord = match fs::read(dir.join("install.json")) {
            Err(e) => return CacheState::Corrupt(format!("install.json unreadable: {e}")),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => return CacheState::Corrupt(format!("install.json invalid: {e}")),
            },
        };
        if record.version != version {
            return CacheState::Corrupt(format!(
                "install.json says version {}, the directory {version}",
                record.version
            ));
        }
        let binary = self.binary_path(version);
        let meta = match fs::metadata(&binary) {
            Ok(m) => m,
            Err(e) => return CacheState::Corrupt(format!("binary unreadable: {e}")),
        };
        if !meta.is_file() {
            return CacheState::Corrupt("binary is not a regular file".into());
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return CacheState::Corrupt("binary is not executable".into());
        }
        if meta.len() == 0 || meta.len() != record.size {
            return CacheState::Corrupt(format!(
                "binary is {} bytes, install.json says {}",
                meta.len(),
                record.size
            ));
        }
        CacheState::Valid(record)
    }

    async fn resolve_version(&self, version: &str) -> Result<Installed, InstallError> {
        // The version names a directory: only a plain semver may do that.
        if semver::Version::parse(version).is_err() {
            return Err(InstallError::InvalidSpec {
                spec: version.to_string(),
                reason: "not a semver version".into(),
            });
        }
        if let CacheState::Valid(_) = self.check_cached(version) {
            return Ok(self.installed(version, Source::Cached));
        }
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(version.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        match self.check_cached(version) {
            CacheState::Valid(_) => return Ok(self.installed(version, Source::Cached)),
            CacheState::Corrupt(_) => self.discard_entry(version)?,
            CacheState::Missing => {}
        }
        self.install(version).await
    }

    fn installed(&self, version: &str, source: Source) -> Installed {
        Installed {
            version: version.to_string(),
            binary: self.binary_path(version),
            source,
        }
    }

    /// Moves a corrupt entry out of sight, then deletes it.
    fn discard_entry(&self, version: &str) -> Result<(), InstallError> {
        let root = self.staging_root();
        fs::create_dir_all(&root)
            .map_err(InstallError::io(format!("create {}", root.display())))?;
        let graveyard = tempfile::Builder::new()
            .prefix(&format!("corrupt-{version}-"))
            .tempdir_in(&root)
            .map_err(InstallError::io(format!(
                "create a temp dir in {}",
                root.display()
            )))?;
        match fs::rename(self.version_dir(version), graveyard.path().join("entry")) {
            Ok(()) => Ok(()),
            // Another process removed or replaced it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(InstallError::Io {
                context: format!(
                    "move the corrupt cache entry {} aside",
                    self.version_dir(version).display()
                ),
                source: e,
            }),
        }
        // `graveyard` drops here and deletes what was moved into it.
    }

    /// Removes staging dirs left behind by crashed runs. Best effort.
    fn sweep_stale_staging(&self) {
        let Ok(dir) = fs::read_dir(self.staging_root()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in dir.filter_map(Result::ok) {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_STAGING);
            if old {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    async fn install(&self, version: &str) -> Result<Installed, InstallError> {
        self.sweep_stale_staging();
        let dist = self.dist(version).await?;

        let root = self.staging_root();
        fs::create_dir_all(&root)
            .map_err(InstallError::io(format!("create {}", root.display())))?;
        // Dropped on every early return: nothing partial stays behind.
        let staging = tempfile::Builder::new()
            .prefix(&format!("install-{version}-"))
            .tempdir_in(&root)
            .map_err(InstallError::io(format!(
                "create a staging dir in {}",
                root.display()
            )))?;
        let download = staging.path().join("download");
        let entry = staging.path().join("entry");
        for d in [&download, &entry.join("bin")] {
            fs::create_dir_all(d).map_err(InstallError::io(format!("create {}", d.display())))?;
        }

        let tarball = self.pack(version, &download).await?;

        let (tb, dist2) = (tarball.clone(), dist.clone());
        let verified = tokio::task::spawn_blocking(move || verify_tarball(&tb, &dist2))
            .await
            .map_err(|e| InstallError::Io {
                context: "hash the tarball".into(),
                source: io::Error::other(e),
            })?;
        let integrity = match verified {
            Ok(integrity) => integrity,
            Err(VerifyError::Io(e)) => {
                return Err(InstallError::Io {
                    context: format!("read {}", tarball.display()),
                    source: e,
                })
            }
            Err(VerifyError::NoIntegrity) => {
                return Err(InstallError::NpmOutput {
                    command: self.describe(&view_dist_args(version)),
                    detail: "the registry gave neither dist.integrity nor dist.shasum".into(),
                })
            }
            Err(VerifyError::Mismatch { expected, actual }) => {
                return Err(InstallError::IntegrityMismatch {
                    version: version.to_string(),
                    expected,
                    actual,
                })
            }
        };

        let (tb, bin) = (tarball.clone(), entry.join("bin").join("opencode"));
        let unpacked = tokio::task::spawn_blocking(move || unpack_binary(&tb, &bin))
            .await
            .map_err(|e| InstallError::Io {
                context: "unpack the tarball".into(),
                source: io::Error::other(e),
            })?;
        let size = match unpacked {
            Ok(size) => size,
            Err(UnpackError::Missing(detail)) => {
                return Err(InstallError::MissingBinary {
                    version: version.to_string(),
                    detail,
                })
            }
            Err(UnpackError::Io(e)) => {
                return Err(InstallError::Io {
                    context: format!("unpack {}", tarball.display()),
                    source: e,
                })
            }
        };
        // The tarball is no longer needed; free its space before the rename.
        let _ = fs::remove_dir_all(&download);

        let record = InstallRecord {
            version: version.to_string(),
            package: NPM_PACKAGE.to_string(),
            integrity,
            size,
            installed_at: now_rfc3339(),
        };
        let json = serde_json::to_vec_pretty(&record).expect("InstallRecord serializes");
        write_synced(&entry.join("install.json"), &json)
            .map_err(InstallError::io("write install.json"))?;

        let parent = self.cache_dir.join("opencode");
        fs::create_dir_all(&parent)
            .map_err(InstallError::io(format!("create {}", parent.display())))?;
        let target = self.version_dir(version);
        for attempt in 0..2 {
            match fs::rename(&entry, &target) {
                Ok(()) => {
                    if let Ok(d) = fs::File::open(&parent) {
                        let _ = d.sync_all();
                    }
                    return Ok(self.installed(version, Source::Downloaded));
                }
                Err(e) if is_dir_taken(&e) => {
                    // Another process won the race: use theirs, discard ours.
                    match self.check_cached(version) {
                        CacheState::Valid(_) => {
                            return Ok(self.installed(version, Source::Downloaded))
                        }
                        _ if attempt == 0 => self.discard_entry(version)?,
                        CacheState::Corrupt(why) => {
                            return Err(InstallError::Io {
                                context: format!(
                                    "replace the corrupt cache entry {} ({why})",
                                    target.display()
                                ),
                                source: e,
                            })
                        }
                        CacheState::Missing => {
                            return Err(InstallError::Io {
                                context: format!("move the install into {}", target.display()),
                                source: e,
                            })
                        }
                    }
                }
                Err(e) => {
                    return Err(InstallError::Io {
                        context: format!("move the install into {}", target.display()),
                        source: e,
                    })
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// `npm view <pkg>@<version> dist --json`: the integrity the tarball must have.
    async fn dist(&self, version: &str) -> Result<Dist, InstallError> {
        let args = view_dist_args(version);
        let command = self.describe(&args);
        match self.npm(&args, self.deadlines.npm_view).await? {
            NpmOutcome::NotFound { .. } => Err(self.unknown_version(version).await),
            NpmOutcome::Ok(out) if out.iter().all(u8::is_ascii_whitespace) => {
                // Older npm clients print nothing for a version that does not exist.
                Err(self.unknown_version(version).await)
            }
            NpmOutcome::Ok(out) => {
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
                let dist: Dist =
                    serde_json::from_value(value).map_err(|e| InstallError::NpmOutput {
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
        }
    }

    async fn unknown_version(&self, version: &str) -> InstallError {
        let nearest = match self.registry_versions().await {
            Ok(all) => nearest_versions(&all, version, 3),
            Err(_) => Vec::new(),
        };
        InstallError::UnknownVersion {
            version: version.to_string(),
            nearest,
        }
    }

    /// `npm pack <pkg>@<version> --pack-destination <dest> --json`; returns the tarball.
    async fn pack(&self, version: &str, dest: &Path) -> Result<PathBuf, InstallError> {
        let args = [
            "pack".to_string(),
            format!("{NPM_PACKAGE}@{version}"),
            "--pack-destination".to_string(),
            dest.display().to_string(),
            "--json".to_string(),
        ];
        let command = self.describe(&args);
        let out = match self.npm(&args, self.deadlines.npm_pack).await? {
            NpmOutcome::Ok(out) => out,
            NpmOutcome::NotFound { .. } => return Err(self.unknown_version(version).await),
        };
        let named = serde_json::from_slice::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| {
                let first = match v {
                    serde_json::Value::Array(mut items) if !items.is_empty() => {
                        items.swap_remove(0)
                    }
                    other => other,
                };
                first
                    .get("filename")
                    .and_then(|f| f.as_str())
                    .map(str::to_string)
            })
            // Only a plain file name, never a path out of `dest`.
            .filter(|f| !f.contains('/') && f != ".." && !f.is_empty())
            .map(|f| dest.join(f))
            .filter(|p| p.is_file());
        if let Some(p) = named {
            return Ok(p);
        }
        // Fall back to the one tarball in the (otherwise empty) destination.
        let tgz: Vec<PathBuf> = fs::read_dir(dest)
            .map_err(InstallError::io(format!("read {}", dest.display())))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
            .collect();
        match <[PathBuf; 1]>::try_from(tgz) {
            Ok([p]) => Ok(p),
            Err(found) => Err(InstallError::NpmOutput {
                command,
                detail: format!(
                    "expected one .tgz in the pack destination, found {}",
                    found.len()
                ),
            }),
        }
    }

    async fn resolve_local(&self, path: &Path) -> Result<Installed, InstallError> {
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
        let out = match run_captured(cmd, deadline).await {
            Ok(out) => out,
            Err(RunError::Timeout { .. }) => {
                return Err(fail(format!(
                    "`--version` gave no answer within {deadline:?} and was killed"
                )))
            }
            Err(RunError::Spawn(e)) | Err(RunError::Io(e)) => {
                return Err(fail(format!("cannot run it: {e}")))
            }
        };
        if !out.status.success() {
            return Err(fail(format!(
                "`--version` failed ({}): {}",
                describe_status(out.status),
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

    fn describe(&self, args: &[String]) -> String {
        let program = Path::new(&self.npm)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.npm.to_string_lossy().into_owned());
        format!("{program} {}", args.join(" "))
    }

    /// Runs npm in an empty project dir of its own, so no project `.npmrc` or
    /// `package.json` around the caller's directory changes what it does.
    async fn npm(&self, args: &[String], deadline: Duration) -> Result<NpmOutcome, InstallError> {
        let command = self.describe(args);
        let cwd = tempfile::Builder::new()
            .prefix("oc-conform-npm-")
            .tempdir()
            .map_err(InstallError::io("create a temp dir for npm"))?;
        fs::write(cwd.path().join("package.json"), "{\"private\":true}\n")
            .map_err(InstallError::io("write a package.json for npm"))?;
        let mut cmd = Command::new(&self.npm);
        cmd.args(args)
            .current_dir(cwd.path())
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false");
        let out = match run_captured(cmd, deadline).await {
            Ok(out) => out,
            Err(RunError::Spawn(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InstallError::NpmNotFound {
                    program: self.npm.to_string_lossy().into_owned(),
                })
            }
            Err(RunError::Spawn(e)) | Err(RunError::Io(e)) => {
                return Err(InstallError::NpmFailed {
                    command,
                    status: "could not run it".into(),
                    detail: e.to_string(),
                })
            }
            Err(RunError::Timeout { stderr }) => {
                return Err(InstallError::NpmTimeout {
                    command,
                    deadline,
                    detail: stderr_tail(&stderr),
                    cached: self.cached_versions(),
                })
            }
        };
        if out.status.success() {
            return Ok(NpmOutcome::Ok(out.stdout));
        }
        let code = npm_error_code(&out.stdout, &out.stderr);
        let detail = failure_detail(&out.stdout, &out.stderr);
        match code.as_deref() {
            Some("E404") => Ok(NpmOutcome::NotFound { detail }),
            Some(c) if is_network_code(c) => Err(InstallError::RegistryUnreachable {
                command,
                detail,
                cached: self.cached_versions(),
            }),
            _ => Err(InstallError::NpmFailed {
                command,
                status: describe_status(out.status),
                detail,
            }),
        }
    }
}

fn view_dist_args(version: &str) -> [String; 4] {
    [
        "view".to_string(),
        format!("{NPM_PACKAGE}@{version}"),
        "dist".to_string(),
        "--json".to_string(),
    ]
}

enum NpmOutcome {
    Ok(Vec<u8>),
    /// npm said E404: no such package or version.
    NotFound {
        detail: String,
    },
}

fn cache_dir_from(
    oc_conform_cache: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(dir) = non_empty(oc_conform_cache) {
        return Some(std::path::absolute(&dir).unwrap_or(dir));
    }
    // The XDG spec says relative values are to be ignored.
    if let Some(dir) = non_empty(xdg_cache_home).filter(|d| d.is_absolute()) {
        return Some(dir.join("oc-conform"));
    }
    non_empty(home).map(|h| h.join(".cache").join("oc-conform"))
}

fn is_dir_taken(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTEMPTY) | Some(libc::EEXIST) | Some(libc::ENOTDIR)
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
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

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------
// Versions

/// Sorts ascending by semver, dropping strings that are not semver and duplicates.
fn sort_versions(list: Vec<String>) -> Vec<String> {
    let mut parsed: Vec<(semver::Version, String)> = list
        .into_iter()
        .filter_map(|s| semver::Version::parse(s.trim()).ok().map(|v| (v, s)))
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.dedup_by(|a, b| a.0 == b.0);
    parsed.into_iter().map(|(_, s)| s).collect()
}

/// Up to `per_side` versions of `available` just below `wanted` and up to `per_side` from
/// it upward, ascending. Pre-releases are left out unless `wanted` is one.
pub fn nearest_versions(available: &[String], wanted: &str, per_side: usize) -> Vec<String> {
    let Ok(w) = semver::Version::parse(wanted) else {
        return Vec::new();
    };
    let mut parsed: Vec<(semver::Version, &String)> = available
        .iter()
        .filter_map(|s| semver::Version::parse(s).ok().map(|v| (v, s)))
        .filter(|(v, _)| v.pre.is_empty() || !w.pre.is_empty())
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.dedup_by(|a, b| a.0 == b.0);
    let at = parsed.partition_point(|(v, _)| *v < w);
    let lo = at.saturating_sub(per_side);
    let hi = (at + per_side).min(parsed.len());
    parsed[lo..hi].iter().map(|(_, s)| (*s).clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Integrity

/// The registry's `dist` object (only the fields that matter here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Dist {
    /// Subresource-integrity string, e.g. `sha512-<base64>`.
    pub integrity: Option<String>,
    /// Legacy sha1, hex.
    pub shasum: Option<String>,
}

/// The SRI string (`sha512-<base64>`) of `bytes`.
pub fn sha512_sri(bytes: &[u8]) -> String {
    sri("sha512", &sha2::Sha512::digest(bytes))
}

fn sri(algo: &str, digest: &[u8]) -> String {
    use base64::Engine;
    format!(
        "{algo}-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The sha512 digests an SRI string lists (it may list several, with `?options`).
fn sri_sha512_digests(integrity: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    integrity
        .split_whitespace()
        .filter_map(|token| token.split('?').next()?.strip_prefix("sha512-"))
        .filter_map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
                .ok()
        })
        .collect()
}

/// Whether `actual` (an SRI string, as [`sha512_sri`] gives) satisfies `expected` (the
/// registry's integrity): one of `expected`'s sha512 digests must equal `actual`'s.
pub fn integrity_matches(expected: &str, actual: &str) -> bool {
    let want = sri_sha512_digests(expected);
    let have = sri_sha512_digests(actual);
    !want.is_empty() && have.iter().any(|h| want.contains(h))
}

#[derive(Debug)]
enum VerifyError {
    Mismatch { expected: String, actual: String },
    NoIntegrity,
    Io(io::Error),
}

/// Hashes the tarball and checks it against the registry's `dist`; returns the verified
/// integrity (SRI). sha512 when the registry gives one, else the legacy sha1 shasum.
fn verify_tarball(path: &Path, dist: &Dist) -> Result<String, VerifyError> {
    let expected_sri = dist
        .integrity
        .as_deref()
        .filter(|i| !sri_sha512_digests(i).is_empty());
    if let Some(expected) = expected_sri {
        let digest = hash_file::<sha2::Sha512>(path).map_err(VerifyError::Io)?;
        let actual = sri("sha512", &digest);
        return if integrity_matches(expected, &actual) {
            Ok(actual)
        } else {
            Err(VerifyError::Mismatch {
                expected: expected.to_string(),
                actual,
            })
        };
    }
    if let Some(shasum) = dist
        .shasum
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let digest = hash_file::<sha1::Sha1>(path).map_err(VerifyError::Io)?;
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        return if hex.eq_ignore_ascii_case(shasum) {
            Ok(sri("sha1", &digest))
        } else {
            Err(VerifyError::Mismatch {
                expected: format!("sha1 {shasum}"),
                actual: format!("sha1 {hex}"),
            })
        };
    }
    Err(VerifyError::NoIntegrity)
}

fn hash_file<D: Digest>(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_vec())
}

// ---------------------------------------------------------------------------------------
// Unpacking

#[derive(Debug)]
enum UnpackError {
    /// The tarball has no usable binary (or cannot be read as a tarball).
    Missing(String),
    Io(io::Error),
}

/// Extracts [`BINARY_IN_TARBALL`] from a `.tgz` into `dest` (created, mode 755, synced);
/// returns its size. Nothing else of the tarball is written anywhere.
fn unpack_binary(tarball: &Path, dest: &Path) -> Result<u64, UnpackError> {
    let unreadable = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => {
            UnpackError::Missing(format!("the tarball is unreadable: {e}"))
        }
        _ => UnpackError::Io(e),
    };
    let file = fs::File::open(tarball).map_err(UnpackError::Io)?;
    let gz = flate2::read::GzDecoder::new(io::BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    let mut seen: Vec<String> = Vec::new();
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_string();
        if name != BINARY_IN_TARBALL {
            if seen.len() < 10 {
                seen.push(name);
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(UnpackError::Missing(format!(
                "{name} is a {kind:?} entry, not a regular file"
            )));
        }
        let expected = entry.header().size().map_err(unreadable)?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(dest)
            .map_err(UnpackError::Io)?;
        let written = io::copy(&mut entry, &mut out).map_err(unreadable)?;
        if written != expected || written == 0 {
            return Err(UnpackError::Missing(format!(
                "{name} holds {written} bytes, its header says {expected}"
            )));
        }
        // The umask may have cut the mode given at creation.
        out.set_permissions(fs::Permissions::from_mode(0o755))
            .map_err(UnpackError::Io)?;
        out.sync_all().map_err(UnpackError::Io)?;
        return Ok(written);
    }
    let listing = if seen.is_empty() {
        "it is empty".to_string()
    } else {
        format!("it holds {}", seen.join(", "))
    };
    Err(UnpackError::Missing(listing))
}

// ---------------------------------------------------------------------------------------
// Subprocesses

struct Captured {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

#[derive(Debug)]
enum RunError {
    Spawn(io::Error),
    Io(io::Error),
    /// The deadline passed; the process group was killed.
    Timeout {
        stderr: Vec<u8>,
    },
}

/// Kills a process group when dropped, unless disarmed: covers deadlines and callers that
/// drop the future mid-run. Declared after the `Child` so it drops first, while the
/// leader is still unreaped and its pid cannot name another group.
struct GroupKiller {
    pgid: Option<i32>,
}

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` in its own process group with stdin closed and stdout/stderr captured;
/// past `deadline` the whole group gets SIGKILL.
async fn run_captured(mut cmd: Command, deadline: Duration) -> Result<Captured, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut attempt = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            // A binary written a moment ago can still be open for writing in a child
            // another thread forked meanwhile; that passes quickly.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(RunError::Spawn(e)),
        }
    };
    let mut group = GroupKiller {
        pgid: child.id().and_then(|p| i32::try_from(p).ok()),
    };
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b).await;
        b
    });
    let err_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b).await;
        b
    });
    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(RunError::Io(e)),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            let stderr = tokio::time::timeout(PIPE_GRACE, err_task)
                .await
                .ok()
                .and_then(Result::ok);
            out_task.abort();
            return Err(RunError::Timeout {
                stderr: stderr.unwrap_or_default(),
            });
        }
    };
    // The leader is reaped: from here its pid may be reused, so only a straggler that
    // still holds the pipes (and so keeps the group alive) justifies a kill.
    let pipes = async {
        (
            out_task.await.unwrap_or_default(),
            err_task.await.unwrap_or_default(),
        )
    };
    let (stdout, stderr) = match tokio::time::timeout(PIPE_GRACE, pipes).await {
        Ok(both) => both,
        Err(_) => {
            group.kill();
            (Vec::new(), Vec::new())
        }
    };
    group.pgid = None;
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
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
fn stderr_tail(stderr: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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

    #[test]
    fn cache_dir_precedence() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            cache_dir_from(s("/c"), s("/x"), s("/h")),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            cache_dir_from(None, s("/x"), s("/h")),
            Some(PathBuf::from("/x/oc-conform"))
        );
        assert_eq!(
            cache_dir_from(s(""), s(""), s("/h")),
            Some(PathBuf::from("/h/.cache/oc-conform"))
        );
        assert_eq!(
            cache_dir_from(None, s("rel"), s("/h")),
            Some(PathBuf::from("/h/.cache/oc-conform"))
        );
        assert_eq!(cache_dir_from(None, None, None), None);
        let rel = cache_dir_from(s("rel/cache"), None, None).unwrap();
        assert!(rel.is_absolute() && rel.ends_with("rel/cache"), "{rel:?}");
        // from_env reads the real environment; whatever it is here, the answer is absolute.
        if let Ok(i) = Installer::from_env() {
            assert!(i.cache_dir().is_absolute());
        }
    }

    #[test]
    fn integrity_verification() {
        assert_eq!(
            sha512_sri(b""),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
        assert_eq!(
            sha512_sri(b"abc"),
            "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        );
        let good = sha512_sri(b"tarball bytes");
        let bad = sha512_sri(b"tarball bytez");
        assert!(integrity_matches(&good, &good));
        assert!(!integrity_matches(&good, &bad));
        // Several hashes and options, as SRI allows.
        assert!(integrity_matches(
            &format!("sha1-AAAA {bad} {good}?opt"),
            &good
        ));
        // Unpadded base64 is the same digest.
        assert!(integrity_matches(good.trim_end_matches('='), &good));
        // Nothing to compare with is never a match.
        assert!(!integrity_matches("", &good));
        assert!(!integrity_matches(
            "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
            &good
        ));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.tgz");
        fs::write(&file, b"tarball bytes").unwrap();
        let ok = Dist {
            integrity: Some(good.clone()),
            shasum: None,
        };
        assert_eq!(verify_tarball(&file, &ok).unwrap(), good);
        let wrong = Dist {
            integrity: Some(bad.clone()),
            shasum: None,
        };
        match verify_tarball(&file, &wrong) {
            Err(VerifyError::Mismatch { expected, actual }) => {
                assert_eq!(expected, bad);
                assert_eq!(actual, good);
            }
            other => panic!("{other:?}"),
        }
        // Legacy sha1 when there is no sha512 integrity.
        let sha1_hex: String = sha1::Sha1::digest(b"tarball bytes")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let legacy = Dist {
            integrity: None,
            shasum: Some(sha1_hex.to_uppercase()),
        };
        assert!(verify_tarball(&file, &legacy).unwrap().starts_with("sha1-"));
        let legacy_bad = Dist {
            integrity: None,
            shasum: Some("00".repeat(20)),
        };
        assert!(matches!(
            verify_tarball(&file, &legacy_bad),
            Err(VerifyError::Mismatch { .. })
        ));
        assert!(matches!(
            verify_tarball(&file, &Dist::default()),
            Err(VerifyError::NoIntegrity)
        ));
    }

    #[test]
    fn nearest_version_suggestions() {
        let avail: Vec<String> = [
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
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            nearest_versions(&avail, "1.15.1", 3),
            ["1.14.41", "1.14.48", "1.15.0", "1.15.3", "1.15.4", "1.15.13"]
        );
        assert_eq!(
            nearest_versions(&avail, "0.1.0", 3),
            ["1.3.2", "1.14.34", "1.14.41"]
        );
        assert_eq!(
            nearest_versions(&avail, "9.0.0", 3),
            ["1.15.4", "1.15.13", "1.17.0"]
        );
        assert_eq!(
            nearest_versions(&avail, "1.15.10", 1),
            ["1.15.4", "1.15.13"]
        );
        assert!(nearest_versions(&avail, "junk", 3).is_empty());
        assert!(nearest_versions(&[], "1.0.0", 3).is_empty());
        assert_eq!(
            sort_versions(vec![
                "1.10.0".into(),
                "x".into(),
                "1.9.0".into(),
                "1.10.0".into()
            ]),
            ["1.9.0", "1.10.0"]
        );
        let msg = InstallError::UnknownVersion {
            version: "1.15.1".into(),
            nearest: vec!["1.15.0".into(), "1.15.3".into()],
        }
        .to_string();
        assert!(msg.contains("nearest available: 1.15.0, 1.15.3"), "{msg}");
    }

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

    // -- cache ------------------------------------------------------------------------

    /// Writes a cache entry by hand, as an install would leave it.
    fn plant(installer: &Installer, version: &str, script: &str) {
        let bin = installer.binary_path(version);
        fs::create_dir_all(bin.parent().unwrap()).unwrap();
        write_exec(&bin, script);
        let record = InstallRecord {
            version: version.into(),
            package: NPM_PACKAGE.into(),
            integrity: sha512_sri(script.as_bytes()),
            size: script.len() as u64,
            installed_at: now_rfc3339(),
        };
        fs::write(
            installer.version_dir(version).join("install.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
    }

    fn write_exec(path: &Path, content: &str) {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(path)
            .unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f.sync_all().unwrap();
    }

    fn no_npm(dir: &Path) -> Installer {
        Installer::new(dir).with_npm(dir.join("no-such-npm"))
    }

    #[tokio::test]
    async fn cached_version_resolves_without_npm_and_corruption_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let inst = no_npm(tmp.path());
        assert_eq!(inst.check_cached("1.2.3"), CacheState::Missing);
        plant(&inst, "1.2.3", "#!/bin/sh\necho 1.2.3\n");
        plant(&inst, "1.10.0", "#!/bin/sh\necho 1.10.0\n");
        plant(&inst, "1.9.0", "#!/bin/sh\necho 1.9.0\n");
        assert_eq!(
            inst.binary_path("1.2.3"),
            tmp.path()
                .join("opencode")
                .join("1.2.3")
                .join("bin")
                .join("opencode")
        );
        assert!(matches!(inst.check_cached("1.2.3"), CacheState::Valid(r) if r.version == "1.2.3"));
        assert_eq!(inst.cached_versions(), ["1.2.3", "1.9.0", "1.10.0"]);

        // A version string names a directory: nothing but semver gets that far.
        let e = inst
            .resolve(&OpencodeSpec::Version("../../etc".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, InstallError::InvalidSpec { .. }), "{e:?}");

        // Cached: no npm (there is none to call) and no network.
        let got = inst
            .resolve(&OpencodeSpec::Version("1.2.3".into()))
            .await
            .unwrap();
        assert_eq!(got.source, Source::Cached);
        assert_eq!(got.binary, inst.binary_path("1.2.3"));

        // Missing install.json.
        fs::remove_file(inst.version_dir("1.9.0").join("install.json")).unwrap();
        assert!(
            matches!(inst.check_cached("1.9.0"), CacheState::Corrupt(r) if r.contains("install.json"))
        );
        // Truncated binary.
        fs::write(inst.binary_path("1.10.0"), "#!").unwrap();
        assert!(
            matches!(inst.check_cached("1.10.0"), CacheState::Corrupt(r) if r.contains("bytes"))
        );
        assert_eq!(inst.cached_versions(), ["1.2.3"]);
        // Not executable.
        fs::set_permissions(inst.binary_path("1.2.3"), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            matches!(inst.check_cached("1.2.3"), CacheState::Corrupt(r) if r.contains("executable"))
        );
        assert!(inst.cached_versions().is_empty());

        // A corrupt entry is reinstalled, which here means asking npm: there is none.
        let e = inst
            .resolve(&OpencodeSpec::Version("1.2.3".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, InstallError::NpmNotFound { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("install Node.js/npm or pass --opencode /path/to/opencode"),
            "{e}"
        );
    }

    // -- tarballs ---------------------------------------------------------------------

    fn tgz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, data, mode) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn opencode_tgz(version: &str) -> Vec<u8> {
        let script = format!("#!/bin/sh\necho {version}\n");
        tgz(&[
            ("package/bin/opencode", script.as_bytes(), 0o755),
            (
                "package/package.json",
                br#"{"name":"opencode-linux-x64"}"#,
                0o644,
            ),
        ])
    }

    #[test]
    fn unpacks_the_binary_from_a_synthetic_tarball() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("ok.tgz");
        fs::write(&t, opencode_tgz("1.2.3")).unwrap();
        let dest = tmp.path().join("opencode");
        let n = unpack_binary(&t, &dest).unwrap();
        assert_eq!(
            fs::read_to_string(&dest).unwrap(),
            "#!/bin/sh\necho 1.2.3\n"
        );
        assert_eq!(n, fs::metadata(&dest).unwrap().len());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // Only the binary is written.
        assert!(!tmp.path().join("package").exists());

        let none = tmp.path().join("none.tgz");
        fs::write(&none, tgz(&[("package/package.json", b"{}", 0o644)])).unwrap();
        match unpack_binary(&none, &tmp.path().join("x")) {
            Err(UnpackError::Missing(d)) => assert!(d.contains("package/package.json"), "{d}"),
            other => panic!("{other:?}"),
        }
        assert!(!tmp.path().join("x").exists());

        let junk = tmp.path().join("junk.tgz");
        fs::write(&junk, b"not a tarball at all").unwrap();
        assert!(matches!(
            unpack_binary(&junk, &tmp.path().join("y")),
            Err(UnpackError::Missing(_))
        ));

        // A symlink where the binary should be is refused.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "package/bin/opencode", "/bin/sh")
            .unwrap();
        let link = tmp.path().join("link.tgz");
        fs::write(&link, b.into_inner().unwrap().finish().unwrap()).unwrap();
        assert!(matches!(
            unpack_binary(&link, &tmp.path().join("z")),
            Err(UnpackError::Missing(_))
        ));
    }

    // -- installs against a fake npm ----------------------------------------------------

    /// A stand-in npm: logs each call, answers `view` from `dists` and `versions`, and
    /// `pack` by copying the fixture tarball of that version. `extra` runs first.
    fn fake_npm(dir: &Path, versions: &[(&str, &[u8], &str)], extra: &str) -> PathBuf {
        let fixtures = dir.join("fixtures");
        fs::create_dir_all(&fixtures).unwrap();
        let mut view_cases = String::new();
        for (v, tarball, integrity) in versions {
            fs::write(fixtures.join(format!("{v}.tgz")), tarball).unwrap();
            view_cases += &format!(
                "    {NPM_PACKAGE}@{v}) printf '%s\\n' '{{\"integrity\":\"{integrity}\",\"shasum\":\"x\"}}'; exit 0;;\n"
            );
        }
        let list = versions
            .iter()
            .map(|(v, _, _)| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(",");
        let latest = versions.last().map(|v| v.0).unwrap_or("0.0.0");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> "{log}"
[ -f package.json ] || {{ echo "npm error not in its own cwd" >&2; exit 9; }}
[ "$npm_config_update_notifier" = false ] || exit 8
{extra}
case "$1" in
view)
  case "$2" in
{view_cases}    {NPM_PACKAGE})
      case "$3" in
        versions) echo '[{list},"not-semver"]'; exit 0;;
        version) echo '"{latest}"'; exit 0;;
      esac;;
  esac
  echo '{{"error":{{"code":"E404","summary":"No match found"}}}}'
  echo "npm error code E404" >&2
  exit 1;;
pack)
  v="${{2#{NPM_PACKAGE}@}}"
  [ -f "{fixtures}/$v.tgz" ] || {{ echo "npm error code E404" >&2; exit 1; }}
  sleep 0.3
  cp "{fixtures}/$v.tgz" "$4/{NPM_PACKAGE}-$v.tgz"
  echo "[{{\"filename\":\"{NPM_PACKAGE}-$v.tgz\"}}]"
  exit 0;;
esac
exit 3
"#,
            log = dir.join("npm.log").display(),
            fixtures = fixtures.display(),
        );
        let path = dir.join("fake-npm");
        write_exec(&path, &script);
        path
    }

    fn npm_calls(dir: &Path, verb: &str) -> usize {
        fs::read_to_string(dir.join("npm.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(verb))
            .count()
    }

    fn staging_is_empty(inst: &Installer) -> bool {
        fs::read_dir(inst.staging_root())
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn installs_through_npm_once_then_resolves_from_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (opencode_tgz("1.2.3"), opencode_tgz("1.4.0"));
        let npm = fake_npm(
            tmp.path(),
            &[
                ("1.2.3", &a, &sha512_sri(&a)),
                ("1.4.0", &b, &sha512_sri(&b)),
            ],
            "",
        );
        let cache = tmp.path().join("cache");
        let inst = Arc::new(Installer::new(&cache).with_npm(&npm));

        // Four concurrent resolves of one version: one download.
        let spec = OpencodeSpec::Version("1.2.3".into());
        let runs = (0..4).map(|_| {
            let (inst, spec) = (inst.clone(), spec.clone());
            tokio::spawn(async move { inst.resolve(&spec).await })
        });
        let results: Vec<Installed> = futures::future::join_all(runs)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        assert_eq!(npm_calls(tmp.path(), "pack"), 1);
        assert_eq!(
            results
                .iter()
                .filter(|r| r.source == Source::Downloaded)
                .count(),
            1
        );
        assert_eq!(
            results
                .iter()
                .filter(|r| r.source == Source::Cached)
                .count(),
            3
        );
        let bin = cache.join("opencode/1.2.3/bin/opencode");
        assert!(results
            .iter()
            .all(|r| r.binary == bin && r.version == "1.2.3"));
        assert_eq!(
            fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let record: InstallRecord =
            serde_json::from_slice(&fs::read(cache.join("opencode/1.2.3/install.json")).unwrap())
                .unwrap();
        assert_eq!(record.integrity, sha512_sri(&a));
        assert_eq!(record.size, fs::metadata(&bin).unwrap().len());
        assert!(record.installed_at.contains('T'));
        assert!(staging_is_empty(&inst));

        // The installed binary runs, and a local resolve reads its version.
        let local = inst
            .resolve(&OpencodeSpec::Local(bin.clone()))
            .await
            .unwrap();
        assert_eq!(
            (local.version.as_str(), local.source),
            ("1.2.3", Source::Local)
        );

        // Cached now: no more npm calls at all.
        let calls = npm_calls(tmp.path(), "");
        assert_eq!(inst.resolve(&spec).await.unwrap().source, Source::Cached);
        assert_eq!(npm_calls(tmp.path(), ""), calls);

        // A corrupt entry is reinstalled.
        fs::remove_file(cache.join("opencode/1.2.3/install.json")).unwrap();
        assert_eq!(
            inst.resolve(&spec).await.unwrap().source,
            Source::Downloaded
        );
        assert_eq!(npm_calls(tmp.path(), "pack"), 2);
        assert!(matches!(inst.check_cached("1.2.3"), CacheState::Valid(_)));

        // Versions, latest, and several at once.
        assert_eq!(inst.registry_versions().await.unwrap(), ["1.2.3", "1.4.0"]);
        assert_eq!(inst.latest_version().await.unwrap(), "1.4.0");
        let many = inst
            .install_many(&[
                "1.4.0".into(),
                "1.2.3".into(),
                "latest".into(),
                "1.2".into(),
            ])
            .await;
        assert_eq!(many[0].as_ref().unwrap().version, "1.4.0");
        assert_eq!(many[1].as_ref().unwrap().source, Source::Cached);
        assert_eq!(many[2].as_ref().unwrap().version, "1.4.0");
        assert!(matches!(many[3], Err(InstallError::InvalidSpec { .. })));
        assert_eq!(npm_calls(tmp.path(), "pack"), 3);
        assert_eq!(inst.cached_versions(), ["1.2.3", "1.4.0"]);
        assert!(staging_is_empty(&inst));
    }

    #[tokio::test]
    async fn a_lost_race_uses_the_winners_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let a = opencode_tgz("1.2.3");
        let cache = tmp.path().join("cache");
        // While "our" npm packs, another process finishes the same install.
        let winner = Installer::new(&cache);
        let npm = fake_npm(tmp.path(), &[("1.2.3", &a, &sha512_sri(&a))], "");
        let inst = Installer::new(&cache).with_npm(&npm);
        let spec = OpencodeSpec::Version("1.2.3".into());
        let (got, ()) = tokio::join!(inst.resolve(&spec), async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            plant(&winner, "1.2.3", "#!/bin/sh\necho winner\n");
        });
        let got = got.unwrap();
        assert_eq!(got.binary, inst.binary_path("1.2.3"));
        assert!(fs::read_to_string(&got.binary).unwrap().contains("winner"));
        assert!(staging_is_empty(&inst));
    }

    #[tokio::test]
    async fn integrity_mismatch_discards_the_tarball() {
        let tmp = tempfile::tempdir().unwrap();
        let a = opencode_tgz("1.2.3");
        let wrong = sha512_sri(b"something else");
        let npm = fake_npm(tmp.path(), &[("1.2.3", &a, &wrong)], "");
        let inst = Installer::new(tmp.path().join("cache")).with_npm(&npm);
        let e = inst
            .resolve(&OpencodeSpec::Version("1.2.3".into()))
            .await
            .unwrap_err();
        match &e {
            InstallError::IntegrityMismatch {
                expected, actual, ..
            } => {
                assert_eq!(expected, &wrong);
                assert_eq!(actual, &sha512_sri(&a));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("tarball was discarded"), "{e}");
        assert_eq!(inst.check_cached("1.2.3"), CacheState::Missing);
        assert!(staging_is_empty(&inst));
    }

    #[tokio::test]
    async fn tarball_without_binary_installs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tgz(&[("package/package.json", b"{}", 0o644)]);
        let npm = fake_npm(tmp.path(), &[("1.2.3", &t, &sha512_sri(&t))], "");
        let inst = Installer::new(tmp.path().join("cache")).with_npm(&npm);
        let e = inst
            .resolve(&OpencodeSpec::Version("1.2.3".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, InstallError::MissingBinary { .. }), "{e:?}");
        assert!(e.to_string().contains("package/bin/opencode"), "{e}");
        assert_eq!(inst.check_cached("1.2.3"), CacheState::Missing);
        assert!(staging_is_empty(&inst));
    }

    #[tokio::test]
    async fn unknown_version_lists_the_nearest() {
        let tmp = tempfile::tempdir().unwrap();
        let t = opencode_tgz("x");
        let sri = sha512_sri(&t);
        let vs = [
            "1.14.48", "1.15.0", "1.15.3", "1.15.4", "1.15.13", "1.17.0", "1.17.9",
        ];
        let list: Vec<(&str, &[u8], &str)> = vs
            .iter()
            .map(|v| (*v, t.as_slice(), sri.as_str()))
            .collect();
        let npm = fake_npm(tmp.path(), &list, "");
        let inst = Installer::new(tmp.path().join("cache")).with_npm(&npm);
        let e = inst
            .resolve(&OpencodeSpec::Version("1.15.5".into()))
            .await
            .unwrap_err();
        match &e {
            InstallError::UnknownVersion { version, nearest } => {
                assert_eq!(version, "1.15.5");
                assert_eq!(
                    nearest,
                    &["1.15.0", "1.15.3", "1.15.4", "1.15.13", "1.17.0", "1.17.9"]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("nearest available: 1.15.0"), "{e}");
        assert_eq!(npm_calls(tmp.path(), "pack"), 0);
    }

    #[tokio::test]
    async fn unreachable_registry_names_the_cached_versions() {
        let tmp = tempfile::tempdir().unwrap();
        let npm = fake_npm(
            tmp.path(),
            &[],
            r#"echo "npm warn Unknown user config" >&2
echo "npm error code ENOTFOUND" >&2
echo "npm error network request to http://nx.invalid/opencode-linux-x64 failed, reason: getaddrinfo ENOTFOUND nx.invalid" >&2
exit 1"#,
        );
        let inst = Installer::new(tmp.path().join("cache")).with_npm(&npm);
        plant(&inst, "1.15.13", "#!/bin/sh\necho 1.15.13\n");
        plant(&inst, "1.18.34", "#!/bin/sh\necho 1.18.34\n");
        let e = inst.resolve(&OpencodeSpec::Latest).await.unwrap_err();
        match &e {
            InstallError::RegistryUnreachable { detail, cached, .. } => {
                assert_eq!(cached, &["1.15.13", "1.18.34"]);
                assert!(detail.contains("ENOTFOUND <host>"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.starts_with("the npm registry is unreachable"), "{msg}");
        assert!(
            msg.contains("cached versions that work offline: 1.15.13, 1.18.34"),
            "{msg}"
        );
        assert!(!msg.contains("nx.invalid") && !msg.contains("://"), "{msg}");
        // A cached version still resolves.
        let got = inst
            .resolve(&OpencodeSpec::Version("1.18.34".into()))
            .await
            .unwrap();
        assert_eq!(got.source, Source::Cached);

        // Other npm failures are reported as such.
        let npm2 = tmp.path().join("npm2");
        fs::create_dir_all(&npm2).unwrap();
        let failing = fake_npm(
            &npm2,
            &[],
            "echo 'npm error code E401' >&2; echo 'npm error need auth' >&2; exit 1",
        );
        let inst2 = Installer::new(tmp.path().join("cache")).with_npm(&failing);
        let e = inst2.registry_versions().await.unwrap_err();
        assert!(
            matches!(e, InstallError::NpmFailed { ref detail, .. } if detail.contains("need auth")),
            "{e:?}"
        );
    }

    fn pid_alive(pid: i32) -> bool {
        // Signal 0 checks existence; a zombie still counts, so look at its state too.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty() && !stat.contains(") Z ")
    }

    #[tokio::test]
    async fn a_hung_npm_is_killed_with_its_group_at_the_deadline() {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("grandchild.pid");
        let npm = fake_npm(
            tmp.path(),
            &[],
            &format!("sleep 300 & echo $! > '{}'; wait", pidfile.display()),
        );
        let deadlines = Deadlines {
            npm_view: Duration::from_secs(2),
            ..Deadlines::default()
        };
        let inst = Installer::new(tmp.path().join("cache"))
            .with_npm(&npm)
            .with_deadlines(deadlines);
        let started = std::time::Instant::now();
        let e = inst.registry_versions().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(e, InstallError::NpmTimeout { .. }), "{e:?}");
        assert!(e.to_string().contains("was killed"), "{e}");
        let pid: i32 = fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut gone = false;
        for _ in 0..50 {
            if !pid_alive(pid) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the grandchild {pid} outlived the deadline");
    }

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

    #[test]
    fn error_messages_are_lower_case_and_say_what_to_do() {
        let errors = [
            InstallError::NoCacheDir,
            InstallError::NpmNotFound {
                program: "npm".into(),
            },
            InstallError::NpmTimeout {
                command: "npm view x".into(),
                deadline: Duration::from_secs(60),
                detail: String::new(),
                cached: vec![],
            },
            InstallError::LocalMissing { path: "/x".into() },
        ];
        for e in errors {
            let msg = e.to_string();
            let first = msg.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{msg}");
            assert!(msg.contains(':') || msg.contains(';'), "{msg}");
        }
        assert!(InstallError::NpmTimeout {
            command: "c".into(),
            deadline: Duration::from_secs(60),
            detail: String::new(),
            cached: vec![]
        }
        .to_string()
        .contains("within 60s"));
    }

    /// Needs the npm registry: `cargo test -p oc-conform-runner installs_real -- --ignored`.
    #[tokio::test]
    #[ignore]
    async fn installs_real_version_from_registry() {
        let tmp = tempfile::tempdir().unwrap();
        let inst = Installer::new(tmp.path());
        let spec = OpencodeSpec::Version("1.18.34".into());
        let t = std::time::Instant::now();
        let got = inst.resolve(&spec).await.unwrap();
        eprintln!("cold install: {:?}", t.elapsed());
        assert_eq!(got.source, Source::Downloaded);
        let t = std::time::Instant::now();
        let again = inst.resolve(&spec).await.unwrap();
        eprintln!("cached resolve: {:?}", t.elapsed());
        assert_eq!(again.source, Source::Cached);
        let local = inst
            .resolve(&OpencodeSpec::Local(got.binary))
            .await
            .unwrap();
        assert_eq!(local.version, "1.18.34");
        assert!(inst
            .registry_versions()
            .await
            .unwrap()
            .contains(&"1.18.34".to_string()));
    }
}
