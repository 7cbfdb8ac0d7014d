//! A scenario is played on a server mode only when the mode offers what it needs: the
//! refusal comes before anything is started or contacted.

use super::*;
use crate::server::ServerLog;
use oc_conform_scenario::ServerMode;

fn scenario(steps: &str) -> Scenario {
    let text = format!(
        "format_version = 1\nname = \"x\"\ndescription = \"x\"\n[[model.turns]]\ntext = \"hi\"\n{steps}\
         [[checks]]\ncheck = \"server-stays-up\"\n"
    );
    oc_conform_scenario::parse_str(&text, Path::new("x.toml")).unwrap()
}

/// Nothing listens on the discard port: a server there would only be "reached" by a
/// scenario the guard let through, and that one would fail differently.
fn sources() -> Vec<ServerSource> {
    let (_tx, exited) = tokio::sync::watch::channel(None);
    vec![
        ServerSource::Shared(SharedServerInfo {
            url: "http://127.0.0.1:9".into(),
            password: "p".into(),
            pid: 0,
            note: String::new(),
            exited,
            log: ServerLog::default(),
            plugin_log: PathBuf::from("/nonexistent/plugin-records.jsonl"),
            run_marker: "none".into(),
        }),
        ServerSource::Attached(AttachTo {
            url: "http://127.0.0.1:9".into(),
            password: "p".into(),
            model_port: 0,
        }),
    ]
}

#[tokio::test]
async fn what_needs_process_control_is_never_played_on_a_server_it_does_not_own() {
    for (steps, why) in [
        ("[[steps]]\ndo = \"signal\"\nsignal = \"TERM\"\n", "step 1 signals the server process"),
        ("[[steps]]\ndo = \"stop-server\"\n", "step 1 stops the server"),
        ("[[steps]]\ndo = \"dispose\"\n", "step 1 disposes every instance of the server"),
        (
            "[[steps]]\ndo = \"http\"\nmethod = \"POST\"\npath = \"/global/dispose\"\n",
            "step 1 calls POST /global/dispose",
        ),
    ] {
        let s = scenario(steps);
        for source in sources() {
            let dir = tempfile::tempdir().unwrap();
            let target = Target {
                binary: Path::new("/nonexistent/opencode"),
                version: "1.0.0",
                plugins_dir: Path::new("/nonexistent"),
                artifacts_dir: dir.path().join("cell"),
            };
            let mode = source.mode();
            assert_ne!(mode, ServerMode::Own);
            let o = run_scenario_on(&s, &target, &Settings::default(), &source).await;
            assert_eq!(o.verdict, Verdict::Error);
            let error = o.error.unwrap_or_default();
            assert!(error.starts_with(&format!("not played on {}: ", mode.describe())), "{error}");
            assert!(error.contains(why), "{error}");
            assert!(o.timeline.entries.is_empty(), "{mode:?} played {steps}");
            assert!(!target.artifacts_dir.exists(), "{mode:?} set up {steps}");
        }
    }
}

#[test]
fn each_source_is_its_mode() {
    assert_eq!(ServerSource::from_settings(&Settings::default()).mode(), ServerMode::Own);
    let modes: Vec<ServerMode> = sources().iter().map(ServerSource::mode).collect();
    assert_eq!(modes, [ServerMode::Shared, ServerMode::Attached]);
    let attach = Settings {
        attach: sources().into_iter().find_map(|s| match s {
            ServerSource::Attached(a) => Some(a),
            _ => None,
        }),
        ..Settings::default()
    };
    assert_eq!(ServerSource::from_settings(&attach).mode(), ServerMode::Attached);
}

#[test]
fn streams_may_end_after_signals_stops_and_disposes_only() {
    let ends = |steps: &str| ends_streams(&scenario(steps).steps[0]);
    assert!(ends("[[steps]]\ndo = \"signal\"\nsignal = \"KILL\"\n"));
    assert!(ends("[[steps]]\ndo = \"stop-server\"\n"));
    assert!(ends("[[steps]]\ndo = \"dispose\"\n"));
    assert!(ends("[[steps]]\ndo = \"http\"\nmethod = \"POST\"\npath = \"/instance/dispose\"\n"));
    assert!(ends("[[steps]]\ndo = \"http\"\nmethod = \"POST\"\npath = \"/global/dispose?x=1\"\n"));
    assert!(!ends("[[steps]]\ndo = \"http\"\nmethod = \"GET\"\npath = \"/session/status\"\n"));
    assert!(!ends("[[steps]]\ndo = \"abort\"\n"));
}
