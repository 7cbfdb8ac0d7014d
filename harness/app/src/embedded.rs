//! The project's scenarios, fixtures and default config, compiled into the binary (by
//! `build.rs`), so an installed `oc-conform` works from any directory with its source
//! tree gone. They are written out on demand into `<cache>/harness/<content hash>/`: a
//! harness built from other files extracts anew, and two binaries of one content share
//! one copy.

use sha2::Digest;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/embedded_files.rs"));

/// The file marking a complete extraction (written last, before the rename into place).
const COMPLETE: &str = ".oc-conform-extracted";

#[derive(Debug, thiserror::Error)]
#[error("cannot write the embedded scenarios and fixtures into {}: {source}; set OC_CONFORM_CACHE to a writable directory", .dir.display())]
pub struct ExtractError {
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

/// A hash of every embedded path and its contents (hex, 16 digits).
pub fn content_hash() -> String {
    hash_files(FILES)
}

fn hash_files(files: &[(&str, &[u8])]) -> String {
    let mut h = sha2::Sha256::new();
    for (path, bytes) in files {
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The embedded file at `rel` (e.g. `oc-conform.toml`).
pub fn file(rel: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(p, _)| *p == rel).map(|(_, b)| *b)
}

/// The embedded project, extracted under `cache_dir` (once per content); its root.
pub fn extract(cache_dir: &Path) -> Result<PathBuf, ExtractError> {
    extract_files(FILES, cache_dir)
}

fn extract_files(files: &[(&str, &[u8])], cache_dir: &Path) -> Result<PathBuf, ExtractError> {
    let dest = cache_dir.join("harness").join(hash_files(files));
    if dest.join(COMPLETE).is_file() {
        return Ok(dest);
    }
    let err = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| ExtractError { dir, source }
    };
    let parent = dest.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(parent).map_err(err(parent))?;
    // Written beside the final place, then renamed: a reader never sees half a project.
    let scratch = tempfile::Builder::new()
        .prefix(".extracting-")
        .tempdir_in(parent)
        .map_err(err(parent))?;
    for (rel, bytes) in files {
        let path = scratch.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err(dir))?;
        }
        std::fs::write(&path, bytes).map_err(err(&path))?;
    }
    std::fs::write(scratch.path().join(COMPLETE), b"").map_err(err(scratch.path()))?;
    match std::fs::rename(scratch.path(), &dest) {
        Ok(()) => drop(scratch.keep()),
        // Another oc-conform extracted the same content first: use its copy.
        Err(_) if dest.join(COMPLETE).is_file() => {}
        Err(e) => return Err(err(&dest)(e)),
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_embedded() {
        for f in [
            "oc-conform.toml",
            "scenarios/expectations.toml",
            "scenarios/plugin-loads.toml",
            "fixtures/plugins/good-citizen.js",
        ] {
            assert!(file(f).is_some(), "{f} is not embedded");
        }
        assert!(FILES.iter().all(|(p, _)| !p.contains("/.") && !p.starts_with('.')));
    }

    #[test]
    fn extraction_is_content_addressed_and_done_once() {
        let cache = tempfile::tempdir().unwrap();
        let a: &[(&str, &[u8])] = &[("oc-conform.toml", b"x = 1\n"), ("scenarios/s.toml", b"name = 's'\n")];
        let root = extract_files(a, cache.path()).unwrap();
        assert_eq!(std::fs::read(root.join("scenarios/s.toml")).unwrap(), b"name = 's'\n");
        // A second extraction of the same content writes nothing: a file changed on disk
        // stays changed (proof that it was not rewritten).
        std::fs::write(root.join("scenarios/s.toml"), b"touched").unwrap();
        assert_eq!(extract_files(a, cache.path()).unwrap(), root);
        assert_eq!(std::fs::read(root.join("scenarios/s.toml")).unwrap(), b"touched");
        // Other content: another directory, the first left alone.
        let b: &[(&str, &[u8])] = &[("oc-conform.toml", b"x = 2\n"), ("scenarios/s.toml", b"name = 's'\n")];
        let other = extract_files(b, cache.path()).unwrap();
        assert_ne!(other, root);
        assert_eq!(std::fs::read(other.join("oc-conform.toml")).unwrap(), b"x = 2\n");
        // Nothing half-written left beside them.
        let left: Vec<_> = std::fs::read_dir(cache.path().join("harness")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
