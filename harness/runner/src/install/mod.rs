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

//!
//! The modules, by concern: [`spec`] (what the user asked for), [`registry`] (what npm
//! says), [`npm`] (the npm client, shared with the plugin wrapper), [`integrity`],
//! [`unpack`] (shared with the plugin wrapper), [`cache`], [`local`] (a binary by path),
//! [`error`]. Version ordering lives in [`crate::releases`].

pub mod cache;
pub mod error;
pub mod integrity;
mod local;
pub mod npm;
mod registry;
pub mod spec;
#[cfg(test)]
pub(crate) mod test_support;
pub mod unpack;

pub use cache::{CacheState, InstallRecord};
pub use error::InstallError;
pub use integrity::{integrity_matches, sha512_sri, Dist};
pub use npm::Npm;
pub use spec::OpencodeSpec;

use cache::{is_dir_taken, now_rfc3339, sync_dir, write_synced};
use futures::StreamExt;
use integrity::VerifyError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use unpack::UnpackError;

/// The npm package that carries the linux x64 binary.
pub const NPM_PACKAGE: &str = "opencode-linux-x64";
/// Where the binary sits inside the package tarball.
pub const BINARY_IN_TARBALL: &str = "package/bin/opencode";
/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "OC_CONFORM_CACHE";
/// How many installs [`Installer::install_many`] runs at once.
pub const INSTALL_PARALLELISM: usize = 3;

/// Up to `per_side` versions of `available` around `wanted`: see [`crate::releases::nearest`].
pub fn nearest_versions(available: &[String], wanted: &str, per_side: usize) -> Vec<String> {
    crate::releases::nearest(available, wanted, per_side)
}

// ---------------------------------------------------------------------------------------
// Results

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

// ---------------------------------------------------------------------------------------
// Installer

/// Resolves [`OpencodeSpec`]s to runnable binaries, installing into a cache as needed.
/// Share it (e.g. in an `Arc`) so concurrent resolves of one version download once.
pub struct Installer {
    cache_dir: PathBuf,
    npm: Npm,
    deadlines: Deadlines,
    /// One lock per version: concurrent installs of a version wait for the first.
    locks: StdMutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Installer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installer")
            .field("cache_dir", &self.cache_dir)
            .field("npm", &self.npm.program())
            .field("deadlines", &self.deadlines)
            .finish()
    }
}

impl Installer {
    /// An installer caching under `cache_dir` (created on first install).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Installer {
            cache_dir: cache_dir.into(),
            npm: Npm::default(),
            deadlines: Deadlines::default(),
            locks: StdMutex::new(HashMap::new()),
        }
    }

    /// An installer caching in [`Installer::default_cache_dir`].
    pub fn from_env() -> Result<Self, InstallError> {
        Ok(Installer::new(Self::default_cache_dir()?))
    }

    /// Uses `program` instead of `npm` from PATH.
    pub fn with_npm(mut self, program: impl Into<OsString>) -> Self {
        self.npm = Npm::new(program);
        self
    }

    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The npm client this installer uses (the plugin wrapper installs with it too).
    pub fn npm(&self) -> &Npm {
        &self.npm
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

    async fn install(&self, version: &str) -> Result<Installed, InstallError> {
        self.sweep_stale_staging()?;
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
        let verified = tokio::task::spawn_blocking(move || integrity::verify_tarball(&tb, &dist2))
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
                    command: self.describe_dist(version),
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
        let unpacked = tokio::task::spawn_blocking(move || {
            unpack::unpack_executable(&tb, BINARY_IN_TARBALL, &bin)
        })
        .await
        .map_err(|e| InstallError::Io {
            context: "unpack the tarball".into(),
            source: io::Error::other(e),
        })?;
        let size = match unpacked {
            Ok(size) => size,
            Err(UnpackError::Unusable(detail)) => {
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
        fs::remove_dir_all(&download)
            .map_err(InstallError::io(format!("remove {}", download.display())))?;

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
                    sync_dir(&parent)
                        .map_err(InstallError::io(format!("sync {}", parent.display())))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::test_support::*;
    use std::os::unix::fs::PermissionsExt;

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
        let gone = crate::process::tests::gone_soon(pid).await;
        assert!(gone, "the grandchild {pid} outlived the deadline");
    }

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
