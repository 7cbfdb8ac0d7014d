//! Attach mode against a server this test starts (a child it owns, in a sandbox made with
//! the runner's own `Sandbox`): the scenarios that need no process control run and pass,
//! the others are SKIPPED with their reason, and the server is alive afterwards, never
//! signalled by the harness. Then the test stops its own server.

use crate::support::{oc_conform, one_real_run_at_a_time};
use oc_conform_runner::install::Installer;
use oc_conform_runner::sandbox::{Sandbox, SandboxSpec};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test's own server; killed (its group, then whatever carries its tag) when dropped.
/// Like a server a user starts by hand, it carries no oc-conform run marker: nothing of
/// the harness's (its cleanup, `gc`) may take it for one of its own.
struct OwnServer {
    child: Child,
    tag: String,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // The process group this test created for it (process_group(0) below).
        oc_conform_runner::observe::procs::send_signal(-(self.child.id() as i32), libc::SIGKILL);
        let _ = self.child.wait();
        let tagged = format!("{TAG_VAR}={}", self.tag);
        for pid in oc_conform_runner::observe::procs::list_pids() {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == tagged.as_bytes()) {
                oc_conform_runner::observe::procs::send_signal(pid as i32, libc::SIGKILL);
            }
        }
    }
}

const TAG_VAR: &str = "OC_CONFORM_ATTACH_TEST";

fn start_server(sandbox: &Sandbox) -> (OwnServer, String) {
    let binary = Installer::from_env().unwrap().binary_path("1.18.34");
    let mut child = Command::new(&binary)
        .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
        .current_dir(&sandbox.project)
        .env_clear()
        .envs(
            sandbox
                .env()
                .iter()
                .filter(|(k, _)| k != oc_conform_runner::sandbox::RUN_MARKER_VAR)
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .env(TAG_VAR, &sandbox.run_marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(sandbox.root().join("server.err")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = OwnServer {
        child,
        tag: sandbox.run_marker.clone(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on ") {
                let _ = tx.send(line[i + "listening on ".len()..].trim().to_string());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|e| {
        let err = std::fs::read_to_string(sandbox.root().join("server.err")).unwrap_or_default();
        panic!("the server printed no listening line ({e}); its stderr:\n{err}")
    });
    (server, url)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn attach_runs_what_it_can_skips_the_rest_and_leaves_the_server_alive() {
    let _one = one_real_run_at_a_time();
    oc_conform().args(["install", "1.18.34"]).assert().success();
    // The server's own config points at no model: attached scenarios bring their own
    // through their project directory's opencode.json.
    let sandbox = Sandbox::create(&SandboxSpec {
        model_base_url: "http://127.0.0.1:9/v1".into(),
        label: "attach-test".into(),
        ..Default::default()
    })
    .unwrap();
    let (mut server, url) = start_server(&sandbox);
    let pid = server.child.id();

    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let attach = [
        "run",
        "--server-url",
        &url,
        "--password",
        &sandbox.password,
        "--model-port",
        &port,
    ];
    let runnable = ["server-requires-auth", "plugin-loads", "event-stream-complete"];
    let not_attachable = ["abort-http", "command-hook-passes", "server-sigterm-during-tool"];
    let mut cmd = oc_conform();
    cmd.args(attach);
    for s in runnable.iter().chain(&not_attachable) {
        cmd.args(["--scenario", s]);
    }
    // --scenarios DIR is honoured: the tutorial's scenario loads a plugin, so it is skipped.
    let tutorial = crate::support::repo_root().join("fixtures/tutorial");
    cmd.arg("--scenarios")
        .arg(&tutorial)
        .args(["--scenario", "guard-env-blocks-dotenv"]);
    let out = cmd.arg("--report-dir").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    // What could run, ran and passed against the attached server.
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let ran: Vec<(String, String)> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pass = |s: &str| (s.to_string(), "PASS".to_string());
    assert_eq!(
        ran,
        [
            pass("server-requires-auth"),
            pass("plugin-loads"),
            pass("event-stream-complete")
        ],
        "{stderr}"
    );
    assert_eq!(results["versions"], serde_json::json!(["1.18.34"]));
    assert_eq!(results["attached_to"], url.as_str());

    // The rest was skipped, each with its reason, on the terminal and in results.json.
    let skipped: Vec<(String, String)> = results["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["scenario"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "abort-http",
            "command-hook-passes",
            "server-sigterm-during-tool",
            "guard-env-blocks-dotenv"
        ]
    );
    assert!(
        skipped[0]
            .1
            .contains("waits on the server's processes (process = \"sleep 100\")"),
        "{skipped:?}"
    );
    assert!(skipped[1].1.contains("loads plugins (command-hook.js)"), "{skipped:?}");
    assert!(skipped[2].1.contains("signals the server process"), "{skipped:?}");
    assert!(skipped[3].1.contains("guard-env.js"), "{skipped:?}");
    for (name, _) in &skipped {
        assert!(stderr.contains(&format!("SKIPPED {name}: ")), "{stderr}");
    }

    // The server the harness did not start is alive and still serving.
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the attached server {pid} exited\n{stderr}"
    );
    let again = oc_conform()
        .args(attach)
        .args(["--scenario", "server-requires-auth", "--report-dir"])
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(server.child.try_wait().unwrap().is_none());
    drop(server);
}
