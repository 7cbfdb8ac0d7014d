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

use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The wrapper's file name in the sandbox (`.opencode/plugin/`).
pub const WRAPPER_FILE: &str = "oc-conform-check-plugin.js";
/// The `plugin` field of the wrapper's records.
pub const RECORD_PLUGIN: &str = "check-plugin";
/// How long `npm install` may take.
const NPM_INSTALL_DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    File,
    Directory,
    Tarball,
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
/// oc-conform cache, where installed dependencies are kept.
pub async fn stage(path: &Path, lib_dir: Option<&Path>, cache_dir: &Path) -> Result<StagedPlugin, StageError> {
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
                let cached = install_dependencies(&manifest, lock.as_deref(), &staged.dependencies, cache_dir).await?;
                copy_tree(&cached, &pkg.join("node_modules"), &[]).map_err(StageError::io(
                    "copy the installed dependencies into the staged package",
                ))?;
                staged.deps_cache = Some(cached);
            }
        }
    }
    let wrapper = wrapper_source(&staged.entry, &staged.name);
    std::fs::create_dir_all(root.join("wrapper")).map_err(StageError::io("create the wrapper dir"))?;
    std::fs::write(&staged.wrapper, wrapper).map_err(StageError::io("write the wrapper plugin"))?;
    Ok(staged)
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
    let file = std::fs::File::open(tgz).map_err(StageError::io(format!("open {}", tgz.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(false);
    // `unpack` refuses entries that would land outside `dest` (`..`, absolute paths).
    archive.unpack(dest).map_err(|e| StageError::BadPackage {
        path: tgz.to_path_buf(),
        reason: format!("cannot unpack it as a gzipped tarball: {e}"),
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

/// Installs a package's dependencies with `npm install --omit=dev` in a scratch copy of
/// its package.json (and lockfile), cached under `<cache>/plugin-deps/<hash>/`. Returns
/// the cached `node_modules`.
pub async fn install_dependencies(
    manifest: &Path,
    lock: Option<&Path>,
    deps: &[String],
    cache_dir: &Path,
) -> Result<PathBuf, StageError> {
    let text = std::fs::read(manifest).map_err(StageError::io(format!("read {}", manifest.display())))?;
    let lock_text = match lock {
        Some(l) => std::fs::read(l).map_err(StageError::io(format!("read {}", l.display())))?,
        None => vec![],
    };
    let mut hasher = sha2::Sha256::new();
    hasher.update(&text);
    hasher.update(b"\0lock\0");
    hasher.update(&lock_text);
    let key: String = hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let final_dir = cache_dir.join("plugin-deps").join(&key);
    let modules = final_dir.join("node_modules");
    if modules.is_dir() {
        return Ok(modules);
    }

    let scratch_root = cache_dir.join("tmp");
    std::fs::create_dir_all(&scratch_root).map_err(StageError::io(format!("create {}", scratch_root.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("plugin-deps-")
        .tempdir_in(&scratch_root)
        .map_err(StageError::io("create a scratch dir for npm install"))?;
    // The package's own lifecycle scripts (`prepare`, `postinstall`: often a build) need
    // its sources; only its dependencies are installed here.
    let mut json: Value = serde_json::from_slice(&text).unwrap_or_default();
    if let Some(m) = json.as_object_mut() {
        m.remove("scripts");
        m.remove("workspaces");
        // Omitted from the install anyway, but npm would still resolve them.
        m.remove("devDependencies");
    }
    std::fs::write(
        scratch.path().join("package.json"),
        serde_json::to_vec_pretty(&json).unwrap_or_default(),
    )
    .map_err(StageError::io("write the scratch package.json"))?;
    if let Some(l) = lock {
        let name = l.file_name().unwrap_or_default();
        std::fs::write(scratch.path().join(name), &lock_text).map_err(StageError::io("write the scratch lockfile"))?;
    }

    // `--install-links`: `file:` dependencies are copied, not symlinked (a symlink would
    // point nowhere once the scratch dir moves into the cache).
    let args = ["install", "--omit=dev", "--install-links", "--no-audit", "--no-fund"];
    let command = format!("npm {}", args.join(" "));
    let child = tokio::process::Command::new("npm")
        .args(args)
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StageError::NpmMissing { deps: deps.join(", ") })
        }
        Err(e) => return Err(StageError::io(format!("run `{command}`"))(e)),
    };
    let out = match tokio::time::timeout(NPM_INSTALL_DEADLINE, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(StageError::io(format!("run `{command}`"))(e)),
        Err(_) => {
            return Err(StageError::Npm {
                command,
                dir: scratch.path().to_path_buf(),
                status: format!("no answer within {NPM_INSTALL_DEADLINE:?}, killed"),
                detail: String::new(),
            })
        }
    };
    if !out.status.success() || !scratch.path().join("node_modules").is_dir() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        return Err(StageError::Npm {
            command,
            dir: scratch.path().to_path_buf(),
            status: out.status.to_string(),
            detail: tail
                .into_iter()
                .rev()
                .map(|l| format!("  {}", crate::install::redact_hosts(l)))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    std::fs::create_dir_all(final_dir.parent().unwrap_or(cache_dir))
        .map_err(StageError::io("create the plugin-deps cache"))?;
    let done = scratch.keep();
    if std::fs::rename(&done, &final_dir).is_err() {
        // Another check-plugin finished the same install first: use its copy.
        let _ = std::fs::remove_dir_all(&done);
    }
    if modules.is_dir() {
        Ok(modules)
    } else {
        Err(StageError::io(format!(
            "move the installed dependencies to {}",
            final_dir.display()
        ))(std::io::Error::other("not there after the rename")))
    }
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

const WRAPPER_TEMPLATE: &str = r#"// Generated by `oc-conform check-plugin`: loads the plugin under test and records, to the
// file named by OC_CONFORM_PLUGIN_LOG, its load (hooks registered, or the error) and every
// call of every hook it returns (hook, duration, the synchronous part, what it threw).
// Behaviour is unchanged: results are passed through, errors are re-thrown.
import fs from "node:fs"
import { pathToFileURL } from "node:url"

const TARGET = __TARGET__
const LABEL = __LABEL__
const LOG = process.env.OC_CONFORM_PLUGIN_LOG
const now = () => performance.now()
const round = (ms) => Math.round(ms * 1000) / 1000

function record(event, fields) {
  if (!LOG) return
  try {
    fs.appendFileSync(LOG, JSON.stringify({ plugin: "__RECORD_PLUGIN__", event, at: Date.now(), ...fields }) + "\n")
  } catch {}
}

function errorJson(e) {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: String(e.stack || "").split("\n").slice(0, 4).join("\n") }
  return { message: String(e) }
}

// The import happens when opencode loads this file, as it would for the plugin itself:
// an import error fails this file's load the same way.
let mod
{
  const t0 = now()
  try {
    mod = await import(pathToFileURL(TARGET).href)
  } catch (e) {
    record("load-failed", { stage: "import", label: LABEL, error: errorJson(e), ms: round(now() - t0) })
    throw e
  }
  record("imported", { label: LABEL, exports: Object.keys(mod), ms: round(now() - t0) })
}

// What opencode does with a plugin module: every distinct export is a plugin function,
// or an object with a `server` function; anything else fails the load.
function pluginFunctions(m) {
  const seen = new Set()
  const out = []
  for (const [name, v] of Object.entries(m)) {
    if (seen.has(v)) continue
    seen.add(v)
    if (typeof v === "function") out.push([name, v])
    else if (v && typeof v === "object" && typeof v.server === "function") out.push([name, v.server.bind(v)])
    else throw new TypeError(`Plugin export \`${name}\` is not a function`)
  }
  return out
}

function finished(hook, t0, syncMs, thrown) {
  const fields = { hook, ms: round(now() - t0), sync_ms: round(syncMs) }
  if (thrown !== undefined) fields.threw = errorJson(thrown)
  record("hook", fields)
}

// Same arguments, same `this`, same result (a promise stays a promise).
function wrap(hook, fn, self) {
  return function (...args) {
    const t0 = now()
    let result
    try {
      result = fn.apply(self, args)
    } catch (e) {
      finished(hook, t0, now() - t0, e)
      throw e
    }
    const syncMs = now() - t0
    if (result && typeof result.then === "function") {
      return result.then(
        (v) => {
          finished(hook, t0, syncMs)
          return v
        },
        (e) => {
          finished(hook, t0, syncMs, e)
          throw e
        },
      )
    }
    finished(hook, t0, syncMs)
    return result
  }
}

// Two exports with the same hook: both run, in export order.
function chain(a, b) {
  return function (...args) {
    const r = a.apply(this, args)
    return r && typeof r.then === "function" ? r.then(() => b.apply(this, args)) : b.apply(this, args)
  }
}

export const OcConformCheckPlugin = async (ctx, options) => {
  const t0 = now()
  let fns
  try {
    fns = pluginFunctions(mod)
  } catch (e) {
    record("load-failed", { stage: "exports", label: LABEL, error: errorJson(e), ms: round(now() - t0) })
    throw e
  }
  const merged = {}
  const registered = []
  const values = []
  for (const [exportName, fn] of fns) {
    let hooks
    try {
      hooks = (await fn(ctx, options)) ?? {}
    } catch (e) {
      record("load-failed", { stage: "init", export: exportName, label: LABEL, error: errorJson(e), ms: round(now() - t0) })
      throw e
    }
    for (const [key, value] of Object.entries(hooks)) {
      if (typeof value === "function") {
        registered.push(key)
        const w = wrap(key, value, hooks)
        merged[key] = merged[key] ? chain(merged[key], w) : w
      } else if (key === "tool" && value && typeof value === "object") {
        merged.tool = merged.tool || {}
        for (const [name, def] of Object.entries(value)) {
          registered.push(`tool:${name}`)
          merged.tool[name] =
            def && typeof def.execute === "function" ? { ...def, execute: wrap(`tool:${name}`, def.execute, def) } : def
        }
      } else {
        values.push(key)
        if (!(key in merged)) merged[key] = value
      }
    }
  }
  record("loaded", {
    label: LABEL,
    exports: fns.map(([n]) => n),
    hooks: [...new Set(registered)],
    values: [...new Set(values)],
    ms: round(now() - t0),
  })
  return merged
}
"#;

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
    /// of the same package.json reuses the cache.
    #[tokio::test]
    async fn dependencies_are_installed_with_npm_and_cached() {
        if std::process::Command::new("npm").arg("--version").output().is_err() {
            eprintln!("npm is not on PATH: skipped");
            return;
        }
        let d = tempfile::tempdir().unwrap();
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

        let s = stage(&pkg, None, &cache).await.unwrap();
        assert_eq!(s.dependencies, ["tiny-dep"]);
        assert!(s.root().join("pkg/node_modules/tiny-dep/package.json").exists());
        let cached = s.deps_cache.clone().unwrap();
        assert!(cached.starts_with(cache.join("plugin-deps")));

        // Cached: a broken npm would not be noticed.
        let again = stage(&pkg, None, &cache).await.unwrap();
        assert_eq!(again.deps_cache, Some(cached));
    }
}
