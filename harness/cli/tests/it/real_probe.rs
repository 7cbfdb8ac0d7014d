//! Feature probes for `[requires]` on a real server: a scenario whose route, tool and
//! config key the release has is played; one whose tool it lacks is SKIPPED with the
//! reason, in results.json and in the JSON stream, and never counts as FAIL or ERROR.

use crate::support::{oc_conform, one_real_run_at_a_time, repo_root};
use serde_json::Value;

const V: &str = "1.18.34";

#[test]
fn a_probed_feature_decides_whether_a_scenario_plays() {
    let data = repo_root().join("harness/cli/tests/data/probes");
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let _one = one_real_run_at_a_time();
        oc_conform()
            .args(["run", "--opencode", V, "--scenario", "probe-met", "--scenario", "probe-unmet"])
            .args(["--message-format", "json", "--scenarios"])
            .arg(&data)
            .arg("--report-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let results: Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();

    let played: Vec<&Value> = results["results"].as_array().unwrap().iter().collect();
    assert_eq!(played.len(), 1, "{results}");
    assert_eq!(played[0]["scenario"], "probe-met");
    assert_eq!(played[0]["verdict"], "pass", "{}", played[0]);

    let why = format!(
        "needs tool `no-such-tool` (a tool from nowhere); opencode {V} lacks it (not in GET /experimental/tool/ids)"
    );
    let skipped = results["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{results}");
    assert_eq!(skipped[0]["scenario"], "probe-unmet");
    assert_eq!(skipped[0]["opencode_version"], V);
    assert_eq!(skipped[0]["reason"], why.as_str());
    let stream = String::from_utf8_lossy(&out.stdout);
    assert!(
        stream.lines().any(|l| l.contains(r#""event":"skipped""#) && l.contains(&why)),
        "the JSON stream: {stream}"
    );
    // The probe server's log is kept with the run's.
    assert!(dir.path().join(V).join("probe-server/server.log").exists());
}

#[test]
fn list_shows_the_probed_requirements() {
    let data = repo_root().join("harness/cli/tests/data/probes");
    let out = oc_conform().args(["list", "--scenarios"]).arg(&data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[requires route /question/{id}/reject, tool question, config key mcp (questions)]"),
        "{text}"
    );
    assert!(text.contains("[requires tool no-such-tool (a tool from nowhere)]"), "{text}");
}
