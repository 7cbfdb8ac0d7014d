//! `oc-conform run --server-url URL [--password P]`: the scenarios that need no process
//! control, played against a server the user started. The harness never signals, stops or
//! kills that server (the runner's attached server handle cannot).
//!
//! How the user's server reaches the fake model: each scenario gets its own project
//! directory, sent as `x-opencode-directory`, whose `opencode.json` points at the fake
//! model on `127.0.0.1:--model-port`; opencode reads a directory's own config for its
//! instance, so the server needs no preparation. A server whose config outranks project
//! configs (`OPENCODE_CONFIG_CONTENT`) can be started with `--print-attach-config`'s
//! config instead. What cannot work attached is skipped, with the reason, before anything
//! runs: plugins and environment (the server is already running), signals, stops and
//! global disposes (not ours to do), and waits or checks on the process table (the
//! server's processes are not ours to watch).

use crate::run::{self, RunArgs};
use crate::terminal::Terminal;
use crate::{config, exit};
use oc_conform_runner::execute::{AttachTo, Settings};
use oc_conform_runner::install::{Installed, Source};
use oc_conform_runner::report::{self, json, Reporter, ResultsDoc, RunEvent};
use oc_conform_runner::suite::{self, Cell, SuiteOptions};
use oc_conform_scenario::{Expectations, Scenario};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fake model's port in attach mode, unless `--model-port` says otherwise.
pub const DEFAULT_MODEL_PORT: u16 = 4599;

/// Why `s` cannot run against a server the harness did not start (empty: it can): what
/// keeps it off a shared server, and plugins (the user's server has no plugin log to
/// report to).
pub fn blockers(s: &Scenario) -> Vec<String> {
    let mut why = Vec::new();
    if !s.plugins.is_empty() {
        why.push(format!(
            "it loads plugins ({}): they could not report to the harness from a server it did not start",
            s.plugins.join(", ")
        ));
    }
    why.extend(oc_conform_runner::shared_server::blockers(s));
    why.extend(oc_conform_runner::shared_server::process_blockers(s));
    why
}

/// The opencode.json a server needs to use the fake model on `port`.
pub fn attach_config(port: u16) -> Value {
    oc_conform_runner::sandbox::opencode_config(&format!("http://127.0.0.1:{port}/v1"), &Default::default())
}

pub async fn run(args: &RunArgs, cfg: &config::Config, root: &Path) -> Result<u8, (u8, String)> {
    let usage = |m: String| (exit::USAGE, m);
    let port = args.model_port;
    if args.print_attach_config {
        println!(
            "{}",
            serde_json::to_string_pretty(&attach_config(port)).unwrap_or_default()
        );
        eprintln!(
            "Each attached scenario gets its own project directory with this config, so most servers need nothing.\n\
             If your server's config outranks project configs, start it with this one, e.g.:\n  \
             OPENCODE_CONFIG_CONTENT=\"$(oc-conform run --print-attach-config --model-port {port})\" \\\n    \
             OPENCODE_SERVER_PASSWORD=secret opencode serve --hostname 127.0.0.1 --port 4096\n\
             then: oc-conform run --server-url http://127.0.0.1:4096 --password secret --model-port {port}"
        );
        return Ok(exit::OK);
    }
    let Some(url) = args.server_url.clone() else {
        return Err(usage(
            "--print-attach-config and --server-url go together with `run` only".into(),
        ));
    };
    let password = args.password.clone().unwrap_or_default();
    install_interrupt_handler();

    let all = run::all_scenarios(cfg, &args.scenarios).map_err(usage)?;
    let selected = run::select(all, &args.scenario).map_err(usage)?;
    let mut runnable = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for s in selected {
        let why = blockers(&s);
        if why.is_empty() {
            runnable.push(s);
        } else {
            skipped.push((s.name.clone(), why.join("; ")));
        }
    }
    for (name, why) in &skipped {
        eprintln!("SKIPPED {name}: {why}");
    }
    if runnable.is_empty() {
        return Err(usage(
            "none of the selected scenarios can run against a server the harness did not start (see SKIPPED above)"
                .into(),
        ));
    }

    let version = oc_conform_runner::server::probe_health(&url, &password, Duration::from_secs(10))
        .await
        .map_err(|e| (exit::INFRA, format!("--server-url {url}: {e}")))?;
    // The fake model listens on this port for every scenario in turn.
    std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        (
            exit::INFRA,
            format!("the fake model's port 127.0.0.1:{port} cannot be bound ({e}); pass another --model-port"),
        )
    })?;

    let expectations_path = args
        .expectations
        .clone()
        .unwrap_or_else(|| cfg.scenarios_dir.join("expectations.toml"));
    let expectations = Expectations::load(&expectations_path).map_err(|e| usage(e.to_string()))?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| run::default_report_dir(root));
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| usage(format!("cannot create the report dir {}: {e}", report_dir.display())))?;

    let target = Installed {
        version: version.clone(),
        binary: PathBuf::new(),
        source: Source::Local,
    };
    let cells: Vec<Cell> = runnable
        .iter()
        .map(|s| Cell {
            scenario: s.clone(),
            target: target.clone(),
        })
        .collect();
    let started_at = json::now_rfc3339();
    let mut term = Terminal::new();
    eprintln!("attached to {url} (opencode {version}); the fake model is on 127.0.0.1:{port}");
    let _ = term.report(&RunEvent::RunStarted {
        cells: cells.len(),
        versions: std::slice::from_ref(&version),
    });
    let opts = SuiteOptions {
        // One server, one fake-model port: one scenario at a time.
        jobs: 1,
        repeat: args.repeat.max(1),
        retry_unexpected: args.retry_unexpected,
        settings: Settings {
            keep_sandbox: args.keep_sandbox,
            attach: Some(AttachTo {
                url: url.clone(),
                password,
                model_port: port,
                shared: None,
            }),
            ..Settings::default()
        },
        plugins_dir: cfg.fixtures_dir.join("plugins"),
        report_dir: report_dir.clone(),
        share_servers: false,
    };
    let results = suite::run_cells(cells, &expectations, &opts, &mut term, Arc::new(Mutex::new(vec![]))).await;
    let doc = ResultsDoc {
        format_version: report::model::RESULTS_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at,
        finished_at: json::now_rfc3339(),
        interrupted: false,
        partition: None,
        versions: vec![version.clone()],
        scenarios: runnable.iter().map(|s| s.name.clone()).collect(),
        results,
    };
    report::write_all(&doc, &report_dir)
        .and_then(|_| add_skipped(&report_dir, &url, &skipped))
        .map_err(|e| {
            (
                exit::INFRA,
                format!("cannot write the reports in {}: {e}", report_dir.display()),
            )
        })?;
    let _ = term.report(&RunEvent::RunFinished { doc: &doc });
    if !skipped.is_empty() {
        eprintln!(
            "{} scenario(s) SKIPPED: they need a server the harness starts itself",
            skipped.len()
        );
    }
    eprintln!("report: {}", report_dir.display());
    Ok(run::gate_code(&doc, args.strict))
}

/// `results.json` gets `attached_to` and `skipped: [{scenario, reason}]` (readers of
/// results.json that do not know them ignore them).
fn add_skipped(dir: &Path, url: &str, skipped: &[(String, String)]) -> std::io::Result<()> {
    let path = dir.join("results.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)?;
    doc["attached_to"] = json!(url);
    doc["skipped"] = skipped
        .iter()
        .map(|(scenario, reason)| json!({"scenario": scenario, "reason": reason}))
        .collect();
    let tmp = dir.join(".results.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

/// On SIGINT/SIGTERM: exit. There is nothing of ours to kill: the server is the user's,
/// and the fake model dies with this process.
fn install_interrupt_handler() {
    crate::interrupt::on_interrupt(|| eprintln!("the attached server is left as it was"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        oc_conform_scenario::parse_str(text, Path::new("x.toml")).unwrap()
    }

    #[test]
    fn what_needs_process_control_is_named() {
        let s = scenario(
            r#"format_version = 1
name = "x"
description = "x"
plugins = ["a.js"]
env = { A = "1" }
[[steps]]
do = "wait"
until = { process = "sleep 100" }
[[steps]]
do = "dispose"
[[steps]]
do = "signal"
signal = "TERM"
[[checks]]
check = "server-tree-gone"
"#,
        );
        let why = blockers(&s).join("; ");
        for part in [
            "loads plugins (a.js)",
            "environment (A)",
            "step 1 waits on the server's processes (process = \"sleep 100\")",
            "step 2 disposes",
            "step 3 signals",
            "check `server-tree-gone`",
        ] {
            assert!(why.contains(part), "{part} not in {why}");
        }
    }

    #[test]
    fn http_only_scenarios_can_run_attached() {
        let s = scenario(
            r#"format_version = 1
name = "x"
description = "x"
[[steps]]
do = "http"
method = "GET"
path = "/session/status"
auth = false
expect_status = 401
[[checks]]
check = "server-stays-up"
"#,
        );
        assert!(blockers(&s).is_empty());
    }
}
