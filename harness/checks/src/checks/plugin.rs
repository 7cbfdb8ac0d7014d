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
        .find(|(_, r)| r.get("error").unwrap_or(&Value::Null).is_null())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::Verdict;
    use serde_json::json;

    #[test]
    fn plugin_reported_judges_the_records() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).plugin(json!({"event": "init"}));
        let r = plugin_reported(&b.build(), "abort-sent");
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![0]);
        assert!(
            r.message.contains("none with event `abort-sent`"),
            "{}",
            r.message
        );

        b.at(20.0)
            .plugin(json!({"event": "abort-sent", "error": "404 PermissionNotFoundError"}));
        let r = plugin_reported(&b.build(), "abort-sent");
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![1]);
        assert!(
            r.message.contains("404 PermissionNotFoundError"),
            "{}",
            r.message
        );

        b.at(30.0)
            .plugin(json!({"event": "abort-sent", "error": null}));
        let r = plugin_reported(&b.build(), "abort-sent");
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.message, "the plugin reported `abort-sent` at 30 ms");
    }

    #[test]
    fn no_records_means_the_plugin_never_loaded() {
        let r = plugin_reported(&TimelineBuilder::new().status("idle").build(), "init");
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("may not have loaded"), "{}", r.message);
    }
}
