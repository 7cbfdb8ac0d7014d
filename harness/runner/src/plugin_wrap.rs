//! A plugin author's code, made ready for `oc-conform check-plugin`.
//!
//! [`stage`] takes what the author has (a `.js`/`.ts` file, a package directory, or an
//! npm tarball), copies it into a staging directory, installs its npm `dependencies` with
//! the machine's npm client (cached by the package.json's hash, never by opencode at run
//! time), and generates a *wrapper* plugin. The wrapper is the only file that goes into a
//! sandbox's `.opencode/plugin/`; it imports the author's module by absolute path, calls
//! its plugin functions the way opencode does, and wraps every hook they return so each
//! call is recorded to `OC_CONFORM_PLUGIN_LOG` (hook, duration, what it threw), plus one
//! record at load (the hooks registered, or the load error).
//!
//! ```text
//! <staging>/oc-conform-lib/        fixtures/plugins/lib (a file plugin may import ../oc-conform-lib/harness.js)
//! <staging>/plugin/<file>          a single-file plugin
//! <staging>/pkg/                   a package (directory or tarball), node_modules installed
//! <staging>/wrapper/oc-conform-check-plugin.js   the generated wrapper
//! <cache>/plugin-deps/<hash>/node_modules        installed dependencies, reused across runs
//! ```

use crate::install::npm::{Npm, NpmError};
use crate::install::unpack::{self, UnpackError};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The wrapper's file name in the sandbox (`.opencode/plugin/`).
pub const WRAPPER_FILE: &str = "oc-conform-check-plugin.js";
/// The `plugin` field of the wrapper's records.
pub const RECORD_PLUGIN: &str = "check-plugin";
/// How long `npm view` may take.
const NPM_VIEW_DEADLINE: Duration = Duration::from_secs(60);
/// How long `npm install` may take.
const NPM_INSTALL_DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    File,
    Directory,
    Tarball,
    /// A package named `NAME[@VERSION]`, fetched with the user's npm configuration.
    Npm,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{}: no such file or directory", .0.display())]
    NotFound(PathBuf),
    #[error("{}: not a plugin: pass a .js/.ts file, a directory with a package.json, or an npm tarball (.tgz)", .0.display())]
    Unsupported(PathBuf),
    #[error("{}: {reason}", .path.display())]
    BadPackage { path: PathBuf, reason: String },
    #[error("could not {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "npm not found on PATH: the plugin's dependencies ({deps}) need the machine's npm client; install Node.js/npm"
    )]
    NpmMissing { deps: String },
    #[error("`{command}` failed in {} ({status}); the plugin's dependencies could not be installed: check them and npm's configuration (`npm config list`)\n{detail}", .dir.display())]
    Npm {
        command: String,
        dir: PathBuf,
        status: String,
        detail: String,
    },
}

impl StageError {
    /// The user's input is wrong (as opposed to the machine: npm, disk).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StageError::NotFound(_) | StageError::Unsupported(_) | StageError::BadPackage { .. }
        )
    }

    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StageError {
        let context = context.into();
        move |source| StageError::Io { context, source }
    }
}

/// The author's plugin, staged. Dropping it removes the staging directory.
#[derive(Debug)]
pub struct StagedPlugin {
    pub kind: PluginKind,
    /// What the author passed.
    pub source: PathBuf,
    /// The package's `name`, or the file's name.
    pub name: String,
    /// The module the wrapper imports (inside the staging dir).
    pub entry: PathBuf,
    /// The generated wrapper plugin: put this (alone) into a scenario's `plugins`.
    pub wrapper: PathBuf,
    /// The package's `dependencies`, by name.
    pub dependencies: Vec<String>,
    /// Where the installed dependencies are cached, when there were any.
    pub deps_cache: Option<PathBuf>,
    /// Where installing deviated from npm's strict defaults to load what opencode would
    /// (peers resolved leniently, an unavailable `@opencode-ai/*` pin replaced).
    pub deviations: Vec<String>,
    /// For a single-file plugin: the file itself, canonical (scenarios that list it get
    /// the wrapper instead).
    pub original_file: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl StagedPlugin {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Whether a scenario's plugin path is the author's file (so it is not loaded twice).
    pub fn is_same_file(&self, path: &Path) -> bool {
        self.original_file
            .as_deref()
            .is_some_and(|f| path.canonicalize().is_ok_and(|p| p == f))
    }
}

/// Stages `path` (file, package directory or `.tgz`). `lib_dir` is `fixtures/plugins/lib`
/// (copied so single-file plugins written against it still import it); `cache_dir` is the
/// oc-conform cache, where installed dependencies are kept. Dependencies are installed
/// with `npm` from PATH; [`stage_with`] takes another client.
pub async fn stage(path: &Path, lib_dir: Option<&Path>, cache_dir: &Path) -> Result<StagedPlugin, StageError> {
    stage_with(path, lib_dir, cache_dir, &Npm::default()).await
}

/// [`stage`], installing dependencies with `npm` (e.g. the installer's client).
pub async fn stage_with(path: &Path, lib_dir: Option<&Path>, cache_dir: &Path, npm: &Npm) -> Result<StagedPlugin, StageError> {
    stage_for(path, lib_dir, cache_dir, npm, None).await
}

/// [`stage_with`] for the opencode `release` under test (what an unavailable pinned
/// `@opencode-ai/*` dependency is replaced by). A `path` that does not exist and reads
/// as an npm package name (`NAME[@VERSION]`) is fetched with `npm pack`.
pub async fn stage_for(
    path: &Path,
    lib_dir: Option<&Path>,
    cache_dir: &Path,
    npm: &Npm,
    release: Option<&str>,
) -> Result<StagedPlugin, StageError> {
    if let Some(spec) = npm_spec_meant(path) {
        let packed = tempfile::Builder::new()
            .prefix("oc-conform-npm-plugin-")
            .tempdir()
            .map_err(StageError::io("create a directory for npm pack"))?;
        let out = npm.pack(spec, packed.path(), NPM_INSTALL_DEADLINE).await.map_err(|e| match e {
            NpmError::NotFound { .. } => StageError::NpmMissing { deps: spec.to_string() },
            NpmError::NoSuchPackage { .. } => StageError::NotFound(path.to_path_buf()),
            other => StageError::Npm {
                command: format!("npm pack {spec}"),
                dir: packed.path().to_path_buf(),
                status: "failed".into(),
                detail: indent(&other.to_string()),
            },
        })?;
        let file = serde_json::from_slice::<Value>(&out)
            .ok()
            .and_then(|v| v[0]["filename"].as_str().map(str::to_string))
            .map(|f| packed.path().join(f))
            .filter(|f| f.is_file())
            .ok_or_else(|| StageError::BadPackage {
                path: path.to_path_buf(),
                reason: "npm pack wrote no tarball".into(),
            })?;
        let mut staged = Box::pin(stage_for(&file, lib_dir, cache_dir, npm, release)).await?;
        staged.kind = PluginKind::Npm;
        staged.source = path.to_path_buf();
        return Ok(staged);
    }
    if !path.exists() {
        return Err(StageError::NotFound(path.to_path_buf()));
    }
    let source = path
        .canonicalize()
        .map_err(StageError::io(format!("resolve {}", path.display())))?;
    let dir = tempfile::Builder::new()
        .prefix("oc-conform-plugin-")
        .tempdir()
        .map_err(StageError::io("create a staging directory"))?;
    let root = dir.path().to_path_buf();
    if let Some(lib) = lib_dir.filter(|l| l.is_dir()) {
        copy_tree(lib, &root.join("oc-conform-lib"), &[]).map_err(StageError::io("copy the fixture plugin library"))?;
    }

    let name_of = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let (kind, pkg_dir) = if source.is_dir() {
        let dest = root.join("pkg");
        copy_tree(&source, &dest, &["node_modules", ".git"])
            .map_err(StageError::io(format!("copy {}", source.display())))?;
        (PluginKind::Directory, Some(dest))
    } else if is_tarball(&source) {
        let unpacked = root.join("unpacked");
        unpack_tarball(&source, &unpacked)?;
        let top = package_root(&unpacked).ok_or_else(|| StageError::BadPackage {
            path: source.clone(),
            reason: "the tarball holds no package.json (npm tarballs keep it in package/)".into(),
        })?;
        let dest = root.join("pkg");
        std::fs::rename(&top, &dest).map_err(StageError::io("move the unpacked package into place"))?;
        (PluginKind::Tarball, Some(dest))
    } else if is_plugin_file(&source) {
        (PluginKind::File, None)
    } else {
        return Err(StageError::Unsupported(path.to_path_buf()));
    };

    let mut staged = StagedPlugin {
        kind,
        source: source.clone(),
        name: name_of(&source),
        entry: PathBuf::new(),
        wrapper: root.join("wrapper").join(WRAPPER_FILE),
        dependencies: vec![],
        deps_cache: None,
        deviations: vec![],
        original_file: None,
        dir,
    };
    match pkg_dir {
        None => {
            let dest = root.join("plugin");
            std::fs::create_dir_all(&dest).map_err(StageError::io("create the staging plugin dir"))?;
            let entry = dest.join(name_of(&source));
            std::fs::copy(&source, &entry).map_err(StageError::io(format!("copy {}", source.display())))?;
            staged.entry = entry;
            staged.original_file = Some(source.clone());
        }
        Some(pkg) => {
            let manifest = pkg.join("package.json");
            let text = std::fs::read_to_string(&manifest).map_err(|_| StageError::BadPackage {
                path: source.clone(),
                reason: "no package.json: a plugin directory is an npm package (its `main`/`exports` name the plugin module)".into(),
            })?;
            let json: Value = serde_json::from_str(&text).map_err(|e| StageError::BadPackage {
                path: manifest.clone(),
                reason: format!("not valid JSON: {e}"),
            })?;
            if let Some(n) = json["name"].as_str() {
                staged.name = n.to_string();
            }
            staged.entry = package_entry(&json, &pkg).map_err(|reason| StageError::BadPackage {
                path: manifest.clone(),
                reason,
            })?;
            staged.dependencies = json["dependencies"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            if !staged.dependencies.is_empty() {
                let lock = ["package-lock.json", "npm-shrinkwrap.json"]
                    .iter()
                    .map(|f| pkg.join(f))
                    .find(|p| p.is_file());
                let installed =
                    install_dependencies(npm, &manifest, lock.as_deref(), &staged.dependencies, cache_dir, release).await?;
                copy_tree(&installed.modules, &pkg.join("node_modules"), &[]).map_err(StageError::io(
                    "copy the installed dependencies into the staged package",
                ))?;
                staged.deps_cache = Some(installed.modules);
                staged.deviations = installed.deviations;
            }
        }
    }
    let wrapper = wrapper_source(&staged.entry, &staged.name);
    std::fs::create_dir_all(root.join("wrapper")).map_err(StageError::io("create the wrapper dir"))?;
    std::fs::write(&staged.wrapper, wrapper).map_err(StageError::io("write the wrapper plugin"))?;
    Ok(staged)
}

/// `NAME`, `@SCOPE/NAME`, each with an optional `@VERSION` (or tag, or range): what npm
/// takes as a registry package, and not a path.
pub fn is_npm_spec(s: &str) -> bool {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with('.')
            && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    let (name, version) = match s.strip_prefix('@') {
        Some(rest) => {
            let Some((scope, tail)) = rest.split_once('/') else { return false };
            let (n, v) = tail.split_once('@').map_or((tail, None), |(n, v)| (n, Some(v)));
            if !name_ok(scope) {
                return false;
            }
            (n, v)
        }
        None => s.split_once('@').map_or((s, None), |(n, v)| (n, Some(v))),
    };
    let looks_like_file = [".js", ".ts", ".mjs", ".mts", ".tgz"].iter().any(|e| name.ends_with(e));
    name_ok(name) && !looks_like_file && version.is_none_or(|v| !v.is_empty() && !v.contains('/'))
}

/// The npm package `path` names, when it reads as one and is not a plugin here: nothing
/// exists at that path, or only a directory with no `package.json` (such as a report dir
/// an earlier `check-plugin NAME --report-dir NAME` left, which must not shadow the
/// package).
pub fn npm_spec_meant(path: &Path) -> Option<&str> {
    npm_spec_meant_from(Path::new(""), path)
}

/// [`npm_spec_meant`] with `path` taken relative to `cwd`.
fn npm_spec_meant_from<'a>(cwd: &Path, path: &'a Path) -> Option<&'a str> {
    let spec = path.to_str().filter(|s| is_npm_spec(s))?;
    let here = cwd.join(path);
    let plugin_here = here.is_file() || here.join("package.json").is_file();
    (!plugin_here).then_some(spec)
}

fn is_plugin_file(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "js" | "mjs" | "ts" | "mts"))
}

fn is_tarball(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    p.is_file() && (name.ends_with(".tgz") || name.ends_with(".tar.gz"))
}

fn unpack_tarball(tgz: &Path, dest: &Path) -> Result<(), StageError> {
    unpack::unpack_all(tgz, dest).map_err(|e| match e {
        UnpackError::Io(e) => StageError::io(format!("open {}", tgz.display()))(e),
        UnpackError::Unusable(reason) => StageError::BadPackage {
            path: tgz.to_path_buf(),
            reason,
        },
    })
}

/// The directory of an unpacked tarball that holds package.json: `package/` for npm
/// tarballs, else the root or its only subdirectory.
fn package_root(unpacked: &Path) -> Option<PathBuf> {
    if unpacked.join("package/package.json").is_file() {
        return Some(unpacked.join("package"));
    }
    if unpacked.join("package.json").is_file() {
        return Some(unpacked.to_path_buf());
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(unpacked)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [only] if only.join("package.json").is_file() => Some(only.clone()),
        _ => None,
    }
}

/// The module a package's `exports` (`.`, with the `bun`/`import`/`node`/`default`
/// conditions, in that order) or `main` names; `index.js`/`index.ts` without either.
pub fn package_entry(pkg: &Value, dir: &Path) -> Result<PathBuf, String> {
    fn condition(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => {
                if let Some(dot) = m.get(".") {
                    return condition(dot);
                }
                ["bun", "import", "node", "default", "require"]
                    .iter()
                    .find_map(|k| m.get(*k).and_then(condition))
            }
            Value::Array(a) => a.iter().find_map(condition),
            _ => None,
        }
    }
    let (named, from) = match (condition(&pkg["exports"]), pkg["main"].as_str()) {
        (Some(e), _) => (Some(e), "exports"),
        (None, Some(m)) => (Some(m.to_string()), "main"),
        (None, None) => (None, ""),
    };
    let Some(named) = named else {
        return ["index.js", "index.mjs", "index.ts"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                "neither `exports` nor `main` names the plugin module, and there is no index.js or index.ts".to_string()
            });
    };
    let base = dir.join(named.trim_start_matches("./"));
    let candidates = [
        base.clone(),
        base.with_extension("js"),
        base.with_extension("ts"),
        base.join("index.js"),
        base.join("index.ts"),
    ];
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{from}` names `{named}`, which is not in the package"))
}

/// Installed dependencies: the cached `node_modules`, and where the install deviated from
/// npm's strict defaults (to load what opencode would).
#[derive(Debug, Clone, PartialEq)]
pub struct InstalledDeps {
    pub modules: PathBuf,
    pub deviations: Vec<String>,
}

const DEVIATIONS_FILE: &str = "oc-conform-deviations.json";

/// Installs a package's dependencies with `npm install --omit=dev` in a scratch copy of
/// its package.json (and lockfile), cached under `<cache>/plugin-deps/<hash>/`. `release`
/// is the opencode version under test: a pinned `@opencode-ai/*` dependency the registry
/// does not serve is replaced by the newest one not newer than it.
pub async fn install_dependencies(
    npm: &Npm,
    manifest: &Path,
    lock: Option<&Path>,
    deps: &[String],
    cache_dir: &Path,
    release: Option<&str>,
) -> Result<InstalledDeps, StageError> {
    let text = std::fs::read(manifest).map_err(StageError::io(format!("read {}", manifest.display())))?;
    let lock_text = match lock {
        Some(l) => std::fs::read(l).map_err(StageError::io(format!("read {}", l.display())))?,
        None => vec![],
    };
    let mut hasher = sha2::Sha256::new();
    hasher.update(&text);
    hasher.update(b"\0lock\0");
    hasher.update(&lock_text);
    hasher.update(b"\0release\0");
    hasher.update(release.unwrap_or("").as_bytes());
    let key: String = hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let final_dir = cache_dir.join("plugin-deps").join(&key);
    let modules = final_dir.join("node_modules");
    let cached = |modules: PathBuf| {
        let deviations = std::fs::read(final_dir.join(DEVIATIONS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        InstalledDeps { modules, deviations }
    };
    if modules.is_dir() {
        return Ok(cached(modules));
    }

    let scratch_root = cache_dir.join("tmp");
    std::fs::create_dir_all(&scratch_root).map_err(StageError::io(format!("create {}", scratch_root.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("plugin-deps-")
        .tempdir_in(&scratch_root)
        .map_err(StageError::io("create a scratch dir for npm install"))?;
    // The package's own lifecycle scripts (`prepare`, `postinstall`: often a build) need
    // its sources; only its dependencies are installed here.
    let mut json: Value = serde_json::from_slice(&text).map_err(|e| StageError::BadPackage {
        path: manifest.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })?;
    if let Some(m) = json.as_object_mut() {
        m.remove("scripts");
        m.remove("workspaces");
        // Omitted from the install anyway, but npm would still resolve them.
        m.remove("devDependencies");
    }
    // npm runs in a scratch copy: a `file:` dependency relative to the package is made
    // absolute, or it would point nowhere.
    if let (Some(deps), Some(pkg_dir)) = (json["dependencies"].as_object_mut(), manifest.parent()) {
        for spec in deps.values_mut() {
            let Some(rel) = spec.as_str().and_then(|s| s.strip_prefix("file:")) else { continue };
            if !Path::new(rel).is_absolute() {
                *spec = Value::String(format!("file:{}", pkg_dir.join(rel).display()));
            }
        }
    }
    let scratch_manifest = serde_json::to_vec_pretty(&json).expect("a JSON value serializes");
    std::fs::write(scratch.path().join("package.json"), scratch_manifest)
        .map_err(StageError::io("write the scratch package.json"))?;
    if let Some(l) = lock {
        let name = l.file_name().unwrap_or_default();
        std::fs::write(scratch.path().join(name), &lock_text).map_err(StageError::io("write the scratch lockfile"))?;
    }

    // `--install-links`: `file:` dependencies are copied, not symlinked (a symlink would
    // point nowhere once the scratch dir moves into the cache).
    let strict = ["--omit=dev", "--install-links", "--no-audit", "--no-fund"];
    let dir = scratch.path().to_path_buf();
    let failed = |command: String, status: String, detail: String| StageError::Npm {
        command,
        dir: dir.clone(),
        status,
        detail: indent(&detail),
    };
    // npm's strict resolution refuses what opencode's own installer loads: a conflicting
    // (optional) peer, a pinned `@opencode-ai/*` version the registry does not serve. Each
    // refusal is retried once the lenient way, and said (`deviations`).
    let mut deviations: Vec<String> = Vec::new();
    let (mut lenient_peers, mut replaced_pins) = (false, false);
    let mut args: Vec<&str> = strict.to_vec();
    loop {
        let outcome = npm.install(scratch.path(), &args, NPM_INSTALL_DEADLINE).await;
        let (command, status, detail) = match outcome {
            Ok(_) => break,
            Err(NpmError::NotFound { .. }) => return Err(StageError::NpmMissing { deps: deps.join(", ") }),
            Err(NpmError::Setup { context, source }) => return Err(StageError::Io { context, source }),
            Err(NpmError::Failed { command, status, detail }) => (command, status, detail),
            Err(NpmError::NoSuchPackage { command, detail }) => {
                (command, "a dependency is not in the registry (E404)".into(), detail)
            }
            Err(NpmError::Unreachable { command, detail }) => {
                return Err(failed(command, "the npm registry is unreachable".into(), detail))
            }
            Err(NpmError::Timeout { command, deadline, detail }) => {
                return Err(failed(command, format!("no answer within {deadline:?}, killed"), detail))
            }
        };
        if !lenient_peers && is_peer_conflict(&detail) {
            lenient_peers = true;
            args.push("--legacy-peer-deps");
            deviations.push(format!(
                "peer dependencies resolved leniently (npm --legacy-peer-deps), as opencode's installer does: npm's strict resolution refused them ({})",
                first_line_with(&detail, "peer").unwrap_or("ERESOLVE")
            ));
            continue;
        }
        if !replaced_pins {
            replaced_pins = true;
            let notes = replace_unavailable_opencode_pins(npm, &mut json, release).await;
            if !notes.is_empty() {
                deviations.extend(notes);
                let manifest = serde_json::to_vec_pretty(&json).expect("a JSON value serializes");
                std::fs::write(scratch.path().join("package.json"), manifest)
                    .map_err(StageError::io("write the scratch package.json"))?;
                // The lockfile pins the unavailable version again.
                for l in ["package-lock.json", "npm-shrinkwrap.json"] {
                    let _ = std::fs::remove_file(scratch.path().join(l));
                }
                continue;
            }
        }
        return Err(failed(command, status, detail));
    }
    if !scratch.path().join("node_modules").is_dir() {
        let command = npm.describe(&std::iter::once("install").chain(args.iter().copied()).map(String::from).collect::<Vec<_>>());
        return Err(failed(command, "exit 0, but it wrote no node_modules".into(), String::new()));
    }
    let notes = serde_json::to_vec(&deviations).expect("strings serialize");
    std::fs::write(scratch.path().join(DEVIATIONS_FILE), notes).map_err(StageError::io("record the install's deviations"))?;
    let parent = final_dir.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(parent).map_err(StageError::io(format!("create {}", parent.display())))?;
    match std::fs::rename(scratch.path(), &final_dir) {
        // In place: the scratch dir is the cache entry now, nothing to clean up.
        Ok(()) => drop(scratch.keep()),
        // Another check-plugin finished the same install first: use its copy (the scratch
        // dir is removed when `scratch` drops).
        Err(_) if modules.is_dir() => {}
        Err(e) => {
            return Err(StageError::io(format!(
                "move the installed dependencies to {}",
                final_dir.display()
            ))(e))
        }
    }
    Ok(cached(modules))
}

/// npm refused a peer dependency (ERESOLVE).
fn is_peer_conflict(detail: &str) -> bool {
    detail.contains("ERESOLVE") || detail.contains("--legacy-peer-deps")
}

fn first_line_with<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    text.lines()
        .map(|l| l.trim_start_matches("npm error").trim())
        .find(|l| l.contains(word))
}

/// The `@opencode-ai/*` entries of `dependencies` whose pinned version the registry does
/// not serve, replaced by the newest version not newer than `release` (the newest at all
/// when `release` is not a version); one note per replacement.
async fn replace_unavailable_opencode_pins(npm: &Npm, manifest: &mut Value, release: Option<&str>) -> Vec<String> {
    let pins: Vec<(String, String)> = manifest["dependencies"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.starts_with("@opencode-ai/"))
        .filter_map(|(name, spec)| Some((name.clone(), spec.as_str()?.to_string())))
        .collect();
    let mut notes = Vec::new();
    for (name, spec) in pins {
        let served = npm.view(&format!("{name}@{spec}"), "version", NPM_VIEW_DEADLINE).await;
        // Served: some version matches (npm prints it, or a list of them).
        if served.as_ref().is_ok_and(|out| !String::from_utf8_lossy(out).trim().is_empty()) {
            continue;
        }
        let Ok(out) = npm.view(&name, "versions", NPM_VIEW_DEADLINE).await else { continue };
        let all: Vec<String> = serde_json::from_slice(&out).unwrap_or_default();
        let Some(pick) = newest_not_after(&all, release) else { continue };
        manifest["dependencies"][&name] = Value::String(pick.clone());
        notes.push(format!(
            "`{name}@{spec}` (pinned in dependencies) is not served by the registry: replaced by `{name}@{pick}`, {}",
            match release {
                Some(r) if pick == r => format!("the one of the release under test ({r})"),
                Some(r) => format!("the newest not newer than the release under test ({r})"),
                None => "the newest".to_string(),
            }
        ));
    }
    notes
}

/// The newest of `versions` not newer than `release` (any, when `release` is no version).
fn newest_not_after(versions: &[String], release: Option<&str>) -> Option<String> {
    let limit = release.and_then(|r| crate::releases::parse(r).ok());
    versions
        .iter()
        .filter_map(|v| Some((crate::releases::parse(v).ok()?, v)))
        .filter(|(v, _)| v.pre.is_empty() && limit.as_ref().is_none_or(|l| v <= l))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v.clone())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Copies a directory tree; symlinks are copied as symlinks, names in `skip` are left out
/// (at any depth).
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == std::ffi::OsStr::new(s)) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let ty = entry.file_type()?;
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ty.is_dir() {
            copy_tree(&src, &dst, skip)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// The generated wrapper plugin for the module at `entry`.
pub fn wrapper_source(entry: &Path, label: &str) -> String {
    let target = serde_json::to_string(&entry.display().to_string()).unwrap_or_default();
    let label = serde_json::to_string(label).unwrap_or_default();
    WRAPPER_TEMPLATE
        .replace("__TARGET__", &target)
        .replace("__LABEL__", &label)
        .replace("__RECORD_PLUGIN__", RECORD_PLUGIN)
}

/// The wrapper, with `__TARGET__`, `__LABEL__` and `__RECORD_PLUGIN__` to fill in.
const WRAPPER_TEMPLATE: &str = include_str!("../../../fixtures/plugin-wrapper/wrapper.js");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn touch(dir: &Path, rel: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "export const X = async () => ({})\n").unwrap();
    }

    #[test]
    fn entry_comes_from_exports_then_main_then_index() {
        let d = tempfile::tempdir().unwrap();
        for f in ["dist/index.js", "lib/main.js", "index.js", "src/plugin.ts"] {
            touch(d.path(), f);
        }
        let e = |v: Value| package_entry(&v, d.path()).map(|p| p.strip_prefix(d.path()).unwrap().display().to_string());
        assert_eq!(
            e(json!({"exports": "./dist/index.js", "main": "lib/main.js"})).unwrap(),
            "dist/index.js"
        );
        assert_eq!(
            e(json!({"exports": {".": {"types": "./x.d.ts", "import": "./dist/index.js"}}})).unwrap(),
            "dist/index.js"
        );
        assert_eq!(
            e(json!({"exports": {"import": "./src/plugin.ts"}})).unwrap(),
            "src/plugin.ts"
        );
        assert_eq!(e(json!({"main": "lib/main"})).unwrap(), "lib/main.js");
        assert_eq!(e(json!({})).unwrap(), "index.js");
        let missing = e(json!({"main": "nope.js"})).unwrap_err();
        assert!(missing.contains("`main` names `nope.js`"), "{missing}");
    }

    #[test]
    fn a_directory_named_like_the_package_without_a_package_json_does_not_shadow_it() {
        let cwd = tempfile::tempdir().unwrap();
        let meant = |p: &'static str| npm_spec_meant_from(cwd.path(), Path::new(p));
        assert_eq!(meant("opencode-foo@1.2.3"), Some("opencode-foo@1.2.3"), "nothing there");
        std::fs::create_dir(cwd.path().join("opencode-foo")).unwrap();
        assert_eq!(meant("opencode-foo"), Some("opencode-foo"), "a report dir of that name");
        std::fs::create_dir(cwd.path().join("opencode-bar")).unwrap();
        std::fs::write(cwd.path().join("opencode-bar/package.json"), "{}").unwrap();
        assert_eq!(meant("opencode-bar"), None, "a package directory here is the plugin");
        std::fs::write(cwd.path().join("plugin"), "export default {}").unwrap();
        assert_eq!(meant("plugin"), None, "a file here is the plugin");
        assert_eq!(meant("./opencode-foo"), None, "written as a path");
    }

    #[test]
    fn an_npm_name_is_told_from_a_path() {
        for yes in ["opencode-foo", "opencode-foo@1.2.3", "@me/plugin", "@me/plugin@latest", "x@^1.0"] {
            assert!(is_npm_spec(yes), "{yes}");
        }
        for no in ["./x", "x.js", "dir/x", "@me", "@me/", "p-1.0.0.tgz", "Upper", "x@", "/abs/p"] {
            assert!(!is_npm_spec(no), "{no}");
        }
    }

    #[test]
    fn an_unavailable_pin_is_replaced_by_the_newest_not_after_the_release() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = v(&["1.0.0", "1.17.9", "1.18.33", "1.18.35", "1.19.0-beta.1"]);
        assert_eq!(newest_not_after(&all, Some("1.18.34")).as_deref(), Some("1.18.33"));
        assert_eq!(newest_not_after(&all, Some("1.17.9")).as_deref(), Some("1.17.9"));
        assert_eq!(newest_not_after(&all, Some("latest")).as_deref(), Some("1.18.35"));
        assert_eq!(newest_not_after(&all, Some("0.1.0")), None);
    }

    #[test]
    fn a_peer_conflict_is_recognised_from_npms_words() {
        let eresolve = "npm error code ERESOLVE\nnpm error Could not resolve dependency:\nnpm error peerOptional a@\"~1\" from b@1.0.0";
        assert!(is_peer_conflict(eresolve));
        assert_eq!(first_line_with(eresolve, "peer"), Some("peerOptional a@\"~1\" from b@1.0.0"));
        assert!(!is_peer_conflict("npm error code ETARGET\nnpm error notarget No matching version found for x@9"));
    }

    #[test]
    fn the_wrapper_imports_the_entry_by_absolute_path() {
        let src = wrapper_source(Path::new("/tmp/x \"y\"/index.js"), "my-plugin");
        assert!(src.contains(r#"const TARGET = "/tmp/x \"y\"/index.js""#), "{src}");
        assert!(src.contains(r#"const LABEL = "my-plugin""#));
        assert!(src.contains(r#"plugin: "check-plugin""#));
        assert!(!src.contains("__"), "a placeholder was left: {src}");
    }

    #[tokio::test]
    async fn a_tarball_is_unpacked_and_its_entry_found() {
        let d = tempfile::tempdir().unwrap();
        let pkg = d.path().join("src");
        touch(&pkg, "dist/plugin.js");
        std::fs::write(pkg.join("package.json"), r#"{"name":"@me/p","main":"dist/plugin.js"}"#).unwrap();
        let tgz = d.path().join("p-1.0.0.tgz");
        let file = std::fs::File::create(&tgz).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
        b.append_dir_all("package", &pkg).unwrap();
        b.into_inner().unwrap().finish().unwrap();

        let s = stage(&tgz, None, &d.path().join("cache")).await.unwrap();
        assert_eq!(s.kind, PluginKind::Tarball);
        assert_eq!(s.name, "@me/p");
        assert!(s.entry.ends_with("pkg/dist/plugin.js"), "{:?}", s.entry);
        assert!(s.wrapper.is_file());
        assert!(s.original_file.is_none());
    }

    #[tokio::test]
    async fn a_file_plugin_is_staged_next_to_the_fixture_library() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "mine.ts");
        touch(d.path(), "lib/harness.js");
        let s = stage(
            &d.path().join("mine.ts"),
            Some(&d.path().join("lib")),
            &d.path().join("cache"),
        )
        .await
        .unwrap();
        assert_eq!(s.kind, PluginKind::File);
        assert!(s.entry.ends_with("plugin/mine.ts"));
        assert!(s.root().join("oc-conform-lib/harness.js").is_file());
        assert!(s.is_same_file(&d.path().join("mine.ts")));
        assert!(!s.is_same_file(&d.path().join("lib/harness.js")));
    }

    #[tokio::test]
    async fn bad_input_is_a_usage_error() {
        let d = tempfile::tempdir().unwrap();
        let e = stage(&d.path().join("none.js"), None, d.path()).await.unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("no such file"), "{e}");
        std::fs::write(d.path().join("x.txt"), "").unwrap();
        let e = stage(&d.path().join("x.txt"), None, d.path()).await.unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("not a plugin"), "{e}");
        std::fs::create_dir(d.path().join("empty")).unwrap();
        let e = stage(&d.path().join("empty"), None, d.path()).await.unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("no package.json"), "{e}");
    }

    /// A `file:` dependency: npm installs it without the network, and the second staging
    /// of the same package.json reuses the cache without running npm at all. Needs npm
    /// (CI installs it): without it the test fails, it does not pass by skipping.
    #[tokio::test]
    async fn dependencies_are_installed_with_npm_and_cached() {
        let npm_version = std::process::Command::new("npm").arg("--version").output();
        assert!(
            npm_version.as_ref().is_ok_and(|o| o.status.success()),
            "this test needs npm on PATH (install Node.js/npm): {npm_version:?}"
        );
        let d = tempfile::tempdir().unwrap();
        // npm, with each run logged: the log counts the installs.
        let log = d.path().join("npm-runs.log");
        let counting = d.path().join("counting-npm");
        std::fs::write(&counting, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec npm \"$@\"\n", log.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&counting, std::fs::Permissions::from_mode(0o755)).unwrap();
        let npm = Npm::new(&counting);
        let runs = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();

        let dep = d.path().join("tiny-dep");
        std::fs::create_dir_all(&dep).unwrap();
        std::fs::write(
            dep.join("package.json"),
            r#"{"name":"tiny-dep","version":"1.0.0","main":"index.js"}"#,
        )
        .unwrap();
        std::fs::write(dep.join("index.js"), "module.exports = 42\n").unwrap();
        let pkg = d.path().join("plugin");
        touch(&pkg, "index.js");
        let manifest = json!({
            "name": "with-dep", "version": "1.0.0", "main": "index.js",
            "scripts": {"prepare": "exit 1"},
            "dependencies": {"tiny-dep": format!("file:{}", dep.display())},
            "devDependencies": {"left-out": "9.9.9"}
        });
        std::fs::write(pkg.join("package.json"), manifest.to_string()).unwrap();
        let cache = d.path().join("cache");

        let s = stage_with(&pkg, None, &cache, &npm).await.unwrap();
        assert_eq!(s.dependencies, ["tiny-dep"]);
        assert!(s.root().join("pkg/node_modules/tiny-dep/package.json").exists());
        let cached = s.deps_cache.clone().unwrap();
        assert!(cached.starts_with(cache.join("plugin-deps")));
        assert!(cached.join("tiny-dep/package.json").is_file());
        assert_eq!(runs(), 1, "one npm install");
        // Nothing left in the scratch area once the install moved into the cache.
        assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0);

        // Cached: the second staging runs no npm, and still gets the dependencies.
        let again = stage_with(&pkg, None, &cache, &npm).await.unwrap();
        assert_eq!(again.deps_cache, Some(cached));
        assert!(again.root().join("pkg/node_modules/tiny-dep/package.json").exists());
        assert_eq!(runs(), 1, "the second staging ran npm: the cache was not used");

        // A changed package.json is another cache entry: npm runs again.
        let mut changed = manifest.clone();
        changed["version"] = json!("1.0.1");
        std::fs::write(pkg.join("package.json"), changed.to_string()).unwrap();
        let third = stage_with(&pkg, None, &cache, &npm).await.unwrap();
        assert_ne!(third.deps_cache, again.deps_cache);
        assert_eq!(runs(), 2);
    }

    #[tokio::test]
    async fn npm_failures_are_reported_with_their_command() {
        let d = tempfile::tempdir().unwrap();
        let manifest = d.path().join("package.json");
        std::fs::write(&manifest, r#"{"name":"p","dependencies":{"x":"1.0.0"}}"#).unwrap();
        let deps = ["x".to_string()];
        let e = install_dependencies(&Npm::new(d.path().join("no-npm")), &manifest, None, &deps, &d.path().join("c"), None)
            .await
            .unwrap_err();
        assert!(matches!(e, StageError::NpmMissing { ref deps } if deps == "x"), "{e:?}");
        let failing = d.path().join("failing-npm");
        std::fs::write(&failing, "#!/bin/sh\necho 'npm error code E401' >&2\necho 'npm error need auth' >&2\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = install_dependencies(&Npm::new(&failing), &manifest, None, &deps, &d.path().join("c"), None)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("`failing-npm install --omit=dev --install-links --no-audit --no-fund` failed in"), "{msg}");
        assert!(msg.contains("(exit 1)") && msg.contains("\n  npm error need auth"), "{msg}");
        assert!(!e.is_usage());
    }
}
