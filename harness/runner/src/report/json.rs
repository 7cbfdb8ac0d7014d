//! `results.json` is [`super::ResultsDoc`] serialized (see `reports/README.md`). This module
//! keeps the pieces around it: timestamps and the tool's name.

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn tool_name() -> String {
    format!("oc-conform {}", env!("CARGO_PKG_VERSION"))
}
