//! Fixture plugins report what they saw and did; a check can require a report.

use super::view::{harness_notes, join_problems, ms, witness};
use crate::{CheckResult, Entry, Observation, Timeline};
use serde_json::Value;

pub const PLUGIN_REPORTED: &str = "plugin-reported";

fn plugin_records(tl: &Timeline) -> impl Iterator<Item = (&Entry, &Value)> {
    tl.entries.iter().filter_map(|e| match &e.obs {
        Observation::Plugin { record } => Some((e, record)),
        _ => None,
    })
}

/// A fixture plugin wrote a record with this `event` and no `error`.
pub fn plugin_reported(tl: &Timeline, event: &str) -> CheckResult {
    let check = PLUGIN_REPORTED;
    let all: Vec<_> = plugin_records(tl).collect();
    let Some((first, _)) = all.first() else {
        return CheckResult::error(
            check,
            format!(
                "no fixture plugin record was observed: the plugin may not have loaded{}",
                harness_notes(tl)
            ),
        );
    };
    let matching: Vec<_> = all
        .iter()
        .filter(|(_, r)| r["event"].as_str() == Some(event))
        .collect();
    if let Some((e, _)) = matching
        .iter()
        .find(|(_, r)| r.get("error").map_or(true, Value::is_null))
    {
        return CheckResult::pass(
            check,
            format!("the plugin reported `{event}` at {}", ms(e.at_ms)),
        );
    }
    if matching.is_empty() {
        return CheckResult::fail(
            check,
            format!(
                "the plugin wrote {} record(s), the first at {}, but none with event `{event}`",
                all.len(),
                ms(first.at_ms)
            ),
            vec![first.seq],
        );
    }
    let problems: Vec<String> = matching
        .iter()
        .map(|(e, r)| format!("at {}: {}", ms(e.at_ms), r["error"]))
        .collect();
    CheckResult::fail(
        check,
        format!(
            "every `{event}` record carries an error: {}",
            join_problems(&problems)
        ),
        witness(matching.iter().map(|(e, _)| e.seq)),
    )
}
