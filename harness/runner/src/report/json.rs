//! `results.json` is [`ResultsDoc`] serialized (see `reports/README.md`). This module
//! keeps the pieces around it: timestamps and the tool's name.

use super::ResultsDoc;
use std::path::Path;

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn tool_name() -> String {
    format!("oc-conform {}", env!("CARGO_PKG_VERSION"))
}

/// Reports beyond results.json; filled in as reporters are added.
pub fn write_extra(_doc: &ResultsDoc, _dir: &Path) -> std::io::Result<()> {
    Ok(())
}
