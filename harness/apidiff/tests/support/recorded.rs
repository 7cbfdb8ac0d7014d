//! The `GET /doc` documents real releases published, recorded gzipped in
//! `harness/apidiff/tests/documents/`. Shared by the tests of every crate that reads them
//! (`#[path]`-included), so the place and the format are said once.

use flate2::read::GzDecoder;
use oc_conform_apidiff::Surface;
use std::io::Read;
use std::path::PathBuf;

/// Where the recorded documents live, from any crate of the workspace.
fn documents_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../apidiff/tests/documents")
}

/// The document `version` published, as the diff reads it.
pub fn recorded_document(version: &str) -> Surface {
    let path = documents_dir().join(format!("{version}.json.gz"));
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(&path).unwrap_or_else(|e| panic!("recorded document {}: {e}", path.display())))
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{} is not gzip: {e}", path.display()));
    Surface::from_json(&text).unwrap_or_else(|e| panic!("{} is not an OpenAPI 3.1 document: {e}", path.display()))
}
