//! The cache of installed binaries: where it is, what an entry must hold to be used, and
//! the clean-up of what crashed or corrupt installs left.

use super::{InstallError, Installer, CACHE_ENV};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Staging dirs older than this are left over from a crashed run and get swept.
const STALE_STAGING: Duration = Duration::from_secs(2 * 60 * 60);

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

impl Installer {
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

    /// `<cache>/opencode/<version>`.
    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.cache_dir.join("opencode").join(version)
    }

    /// `<cache>/opencode/<version>/bin/opencode`.
    pub fn binary_path(&self, version: &str) -> PathBuf {
        self.version_dir(version).join("bin").join("opencode")
    }

    pub(super) fn staging_root(&self) -> PathBuf {
        self.cache_dir.join("tmp")
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
        crate::releases::sort(names)
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

    /// Moves a corrupt entry out of sight, then deletes it.
    pub(super) fn discard_entry(&self, version: &str) -> Result<(), InstallError> {
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

    /// Removes staging dirs left behind by crashed runs (a missing cache is nothing to
    /// sweep; a dir another process removes first is fine).
    pub(super) fn sweep_stale_staging(&self) -> Result<(), InstallError> {
        let root = self.staging_root();
        let dir = match fs::read_dir(&root) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(InstallError::io(format!("read {}", root.display()))(e)),
        };
        let now = SystemTime::now();
        for entry in dir.filter_map(Result::ok) {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_STAGING);
            if !old {
                continue;
            }
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(InstallError::io(format!(
                        "remove {}, left by a crashed install",
                        entry.path().display()
                    ))(e))
                }
            }
        }
        Ok(())
    }
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

pub(super) fn is_dir_taken(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTEMPTY) | Some(libc::EEXIST) | Some(libc::ENOTDIR)
    )
}

pub(super) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a rename inside `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::test_support::{no_npm, plant};
    use crate::install::{OpencodeSpec, Source};

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
        // from_env reads the real environment: it must give what that environment says.
        let expected = cache_dir_from(
            std::env::var_os(CACHE_ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        );
        match (Installer::from_env(), expected) {
            (Ok(i), Some(dir)) => {
                assert_eq!(i.cache_dir(), dir);
                assert!(i.cache_dir().is_absolute(), "{:?}", i.cache_dir());
            }
            (Err(InstallError::NoCacheDir), None) => {}
            (got, expected) => panic!("from_env gave {got:?}, the environment says {expected:?}"),
        }
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
}
