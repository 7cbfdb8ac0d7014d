//! Embeds the project's scenarios, fixtures and default config into the binary, so an
//! installed `oc-conform` works with its source tree gone (see `src/embedded.rs`).
//! Generates `$OUT_DIR/embedded_files.rs`: `FILES`, every file as (relative path, bytes).

use std::path::{Path, PathBuf};

const EMBEDDED: &[&str] = &["oc-conform.toml", "scenarios", "fixtures"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for top in EMBEDDED {
        let path = root.join(top);
        // Cargo scans a directory named here recursively for changes.
        println!("cargo:rerun-if-changed={}", path.display());
        collect(&root, &path, &mut files);
    }
    files.sort();
    let mut out = String::from("/// Every embedded file: (path relative to the project root, contents).\npub static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let abs = abs.canonicalize().expect("an embedded file resolves");
        out.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_files.rs");
    std::fs::write(dest, out).expect("write embedded_files.rs");
}

fn collect(root: &Path, path: &Path, files: &mut Vec<(String, PathBuf)>) {
    if path.is_file() {
        let rel = path.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
        files.push((rel, path.to_path_buf()));
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        // Editors' and tools' leftovers are not part of the project.
        if name.starts_with('.') || name == "node_modules" || name.ends_with('~') {
            continue;
        }
        collect(root, &p, files);
    }
}
