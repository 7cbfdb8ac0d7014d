//! Fixture plugins report what they did (their calls' results, their errors) by appending
//! JSON lines to the file named by `OC_CONFORM_PLUGIN_LOG`. This follows that file and
//! records each line in the timeline.

use crate::record::Recorder;
use oc_conform_checks::Observation;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct PluginLog {
    path: PathBuf,
    offset: u64,
    partial: String,
    /// On a shared server: records the fixture library marks with another project
    /// (`"project"`, the plugin's directory) are another scenario's (a late hook of the
    /// one before) and are skipped.
    project: Option<PathBuf>,
}

impl PluginLog {
    /// A shared server's log: follows only what is appended from now on, and only this
    /// `project`'s records.
    pub fn shared(path: PathBuf, project: &Path) -> Self {
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        PluginLog {
            offset,
            project: Some(project.canonicalize().unwrap_or_else(|_| project.to_path_buf())),
            ..PluginLog::new(path)
        }
    }

    pub fn new(path: PathBuf) -> Self {
        PluginLog {
            path,
            offset: 0,
            partial: String::new(),
            project: None,
        }
    }

    fn is_foreign(&self, record: &Value) -> bool {
        match (&self.project, record.get("project").and_then(Value::as_str)) {
            (Some(mine), Some(theirs)) => Path::new(theirs.trim_end_matches('/')) != mine.as_path(),
            _ => false,
        }
    }

    /// Reads what was appended since the last call and records each complete line.
    pub fn drain(&mut self, rec: &Recorder) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = String::new();
        if let Ok(n) = f.read_to_string(&mut buf) {
            self.offset += n as u64;
        }
        self.partial.push_str(&buf);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).unwrap_or_else(|_| {
                serde_json::json!({"event": "unparsed", "line": line})
            });
            if self.is_foreign(&record) {
                continue;
            }
            rec.record(Observation::Plugin {
                record: normalize(record),
            });
        }
    }

    pub async fn run(mut self, rec: Recorder, interval: Duration, cancel: CancellationToken) {
        super::every(interval, cancel, || self.drain(&rec)).await
    }
}

fn normalize(v: Value) -> Value {
    match v {
        Value::Object(_) => v,
        other => serde_json::json!({"event": "unparsed", "value": other}),
    }
}
