//! `results.json`: the machine-readable result of a run. Its shape is versioned by
//! `format_version` and documented in `reports/README.md`.

use super::{Reporter, RunEvent};
use crate::execute::ScenarioOutcome;
use oc_conform_checks::Timeline;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub const RESULTS_FORMAT_VERSION: u32 = 1;

pub struct JsonReporter {
    dir: PathBuf,
    started_at: String,
}

impl JsonReporter {
    pub fn new(dir: &Path) -> Self {
        JsonReporter {
            dir: dir.to_path_buf(),
            started_at: now_rfc3339(),
        }
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One result entry; `witness` entries are expanded so a reader needs no timeline.
pub fn outcome_json(o: &ScenarioOutcome, report_dir: &Path) -> Value {
    let rel = |name: &str| {
        let p = o.artifacts_dir.join(name);
        p.strip_prefix(report_dir)
            .unwrap_or(&p)
            .display()
            .to_string()
    };
    json!({
        "scenario": o.scenario,
        "opencode_version": o.opencode_version,
        "verdict": o.verdict.as_str(),
        "failed_checks": o.failed_checks(),
        "duration_ms": o.duration_ms,
        "error": o.error,
        "checks": o.checks.iter().map(|c| json!({
            "check": c.check,
            "verdict": c.verdict.as_str(),
            "message": c.message,
            "witness": witness_json(&o.timeline, &c.witness),
        })).collect::<Vec<_>>(),
        "artifacts": {
            "timeline": rel("timeline.json"),
            "server_log": rel("server.log"),
            "model_requests": rel("model-requests.jsonl"),
        },
    })
}

pub fn witness_json(t: &Timeline, seqs: &[u64]) -> Vec<Value> {
    seqs.iter()
        .filter_map(|s| t.entries.get(*s as usize))
        .map(|e| json!({"seq": e.seq, "at_ms": (e.at_ms * 10.0).round() / 10.0, "what": e.obs.describe()}))
        .collect()
}

impl Reporter for JsonReporter {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        let RunEvent::RunFinished {
            outcomes,
            interrupted,
        } = event
        else {
            return Ok(());
        };
        let doc = json!({
            "format_version": RESULTS_FORMAT_VERSION,
            "tool": format!("oc-conform {}", env!("CARGO_PKG_VERSION")),
            "started_at": self.started_at,
            "finished_at": now_rfc3339(),
            "interrupted": interrupted,
            "results": outcomes.iter().map(|o| outcome_json(o, &self.dir)).collect::<Vec<_>>(),
        });
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(
            self.dir.join("results.json"),
            serde_json::to_vec_pretty(&doc).unwrap_or_default(),
        )
    }
}
