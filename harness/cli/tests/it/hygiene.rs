//! The harness never leaks, never lies about what it touched: interrupted runs stop every
//! server and write a partial report; a SIGKILLed harness's leftovers are found by `gc`
//! (and only those); credentials and the user's real HOME never reach a server.

use crate::support::{installed_binary, one_real_run_at_a_time, processes_marked_by, real_cache, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn_run(args: &[&str], report_dir: &Path, env: &[(&str, &str)], home: Option<&Path>) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("oc-conform"));
    cmd.env("OC_CONFORM_ROOT", repo_root())
        .arg("run")
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(h) = home {
        // The cache stays where the other tests put it: only HOME is the decoy.
        cmd.env("OC_CONFORM_CACHE", real_cache()).env("HOME", h);
    }
    cmd.envs(env.iter().copied());
    cmd.spawn().unwrap()
}

/// `run` on scenarios of `tests/data/faults/` (and of `scenarios/`).
fn spawn_fault_run(scenarios: &[&str], report_dir: &Path) -> Child {
    let faults = test_data().join("faults");
    let mut args = vec!["--scenarios", faults.to_str().unwrap()];
    for s in scenarios {
        args.extend(["--scenario", s]);
    }
    spawn_run(&args, report_dir, &[], None)
}

/// Whether a command line runs `what` (`sleep 300`, `opencode serve`): its program's
/// name and arguments start with it. The shell that launched it, whose command line
/// merely contains the text, does not.
fn runs(cmdline: &str, what: &str) -> bool {
    let program = cmdline.split(' ').next().unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or(program);
    format!("{name}{}", &cmdline[program.len()..]).starts_with(what)
}

/// Waits (deadline 60 s) until a process of the run that [`runs`] `what` is alive;
/// returns its pid. A harness that exits first fails the test with its stderr.
fn wait_for_marked(run: &mut Child, what: &str) -> u32 {
    let harness = run.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some((pid, _)) = processes_marked_by(&format!("{harness}-"))
            .into_iter()
            .find(|(_, cmd)| runs(cmd, what))
        {
            return pid;
        }
        if let Some(status) = run.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = run.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the run exited ({status}) before any `{what}` appeared:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no `{what}` of run {harness} appeared within 60 s");
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            return status.code().unwrap_or(128 + status.signal().unwrap_or(0));
        }
        assert!(Instant::now() < deadline, "the harness did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: i32) {
    let _ = nix_kill(pid, sig);
}

fn nix_kill(pid: u32, sig: i32) -> std::io::Result<()> {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status()?;
    assert!(status.success());
    Ok(())
}

fn interrupted_mid_tool(sig: i32, code: i32) {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // Tool processes that live until someone ends them (abort-http's own abort could end
    // its sleep before the signal arrives).
    let mut child = spawn_fault_run(&["tool-children-escape", "abort-http"], dir.path());
    let harness = child.id();
    wait_for_marked(&mut child, "sleep 301");
    signal(harness, sig);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), code);
    let left = processes_marked_by(&format!("{harness}-"));
    assert!(left.is_empty(), "left behind: {left:?}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).expect("a partial report")).unwrap();
    assert_eq!(doc["interrupted"], true);
}

#[test]
fn sigint_mid_tool_stops_every_process_and_writes_a_partial_report() {
    interrupted_mid_tool(2, 130);
}

#[test]
fn sigterm_mid_tool_stops_every_process_and_writes_a_partial_report() {
    interrupted_mid_tool(15, 143);
}

#[test]
fn gc_ends_what_a_killed_harness_left_and_nothing_else() {
    let _one = one_real_run_at_a_time();
    // A process that is not ours: no marker. gc must leave it alone.
    let mut bystander = Command::new("sleep").arg("300").spawn().unwrap();

    let dir = tempfile::tempdir().unwrap();
    // Tool processes nothing of the scenario ends (abort-http's own abort could end its
    // sleep before the harness is killed).
    let mut child = spawn_fault_run(&["tool-children-escape"], dir.path());
    let harness = child.id();
    let tools = [wait_for_marked(&mut child, "sleep 300"), wait_for_marked(&mut child, "sleep 301")];
    let server = wait_for_marked(&mut child, "opencode serve");
    signal(harness, 9);
    wait_exit(&mut child, Duration::from_secs(10));

    let out = crate::support::oc_conform().arg("gc").output().unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    // The long-lived leftovers; a short-lived process of the run may end on its own first.
    for pid in [server, tools[0], tools[1]] {
        assert!(listed.contains(&format!("killed {pid} ")), "{pid} not in:\n{listed}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_marked_by(&format!("{harness}-")).is_empty() {
        assert!(Instant::now() < deadline, "gc left {:?}", processes_marked_by(&format!("{harness}-")));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(bystander.try_wait().unwrap().is_none(), "gc killed a process it did not start");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

/// Recursively: relative path -> contents, for comparing a directory before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn credentials_and_the_real_home_never_reach_the_server() {
    let _one = one_real_run_at_a_time();
    // A HOME full of decoys: an opencode config with a plugin that would report itself.
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join(".config/opencode");
    std::fs::create_dir_all(cfg.join("plugin")).unwrap();
    let tripwire = home.path().join("DECOY-PLUGIN-RAN");
    std::fs::write(
        cfg.join("plugin/decoy.js"),
        format!(
            "import fs from 'node:fs'\nexport const Decoy = async () => {{ fs.writeFileSync({:?}, 'loaded'); return {{}} }}\n",
            tripwire.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(cfg.join("opencode.json"), r#"{"model": "decoy/decoy", "provider": {"decoy": {}}}"#).unwrap();
    std::fs::write(home.path().join(".npmrc"), "//decoy/:_authToken=decoy-token\n").unwrap();
    let before = snapshot(home.path());

    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        ("OPENAI_API_KEY", "sk-decoy-openai"),
        ("ANTHROPIC_API_KEY", "sk-decoy-anthropic"),
        ("GITHUB_TOKEN", "ghp_decoy"),
        ("AWS_SECRET_ACCESS_KEY", "decoy-aws"),
    ];
    let mut child = spawn_run(&["--scenario", "abort-http"], dir.path(), &secrets, Some(home.path()));
    let server = wait_for_marked(&mut child, "opencode serve");
    let environ = std::fs::read(format!("/proc/{server}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ).replace('\0', "\n");
    let status = wait_exit(&mut child, Duration::from_secs(120));
    assert_eq!(status, 0, "the run itself must pass");

    for (key, value) in secrets {
        assert!(!environ.contains(value), "{key}'s value reached the server:\n{environ}");
        assert!(!environ.lines().any(|l| l.starts_with(&format!("{key}="))), "{key} reached the server");
    }
    let server_home = environ.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap();
    assert_ne!(Path::new(server_home), home.path());
    assert!(!tripwire.exists(), "a plugin from the user's real config was loaded");
    assert_eq!(snapshot(home.path()), before, "the user's HOME was changed");
}

#[test]
fn a_panicking_scenario_is_an_error_and_leaves_nothing_behind() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_run(
        &["--scenario", "abort-http", "--scenario", "server-requires-auth"],
        dir.path(),
        &[("OC_CONFORM_FAULT_PANIC_IN", "abort-http")],
        None,
    );
    let harness = child.id();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(120)), 2, "no verdict for one scenario: exit 2");
    assert!(processes_marked_by(&format!("{harness}-")).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let by_name = |n: &str| doc["results"].as_array().unwrap().iter().find(|r| r["scenario"] == n).cloned().unwrap();
    let broken = by_name("abort-http");
    assert_eq!(broken["outcome"], "ERROR");
    assert!(broken["error"].as_str().unwrap().contains("panicked"), "{broken}");
    assert_eq!(by_name("server-requires-auth")["outcome"], "PASS", "the rest of the run goes on");
}

#[test]
fn a_scenario_past_its_deadline_is_a_timeout_and_leaves_nothing_behind() {
    let _one = one_real_run_at_a_time();
    let scenarios = tempfile::tempdir().unwrap();
    std::fs::write(
        scenarios.path().join("never-ends.toml"),
        r#"format_version = 1
name = "never-ends"
description = "Waits for something that never happens, past its deadline."
deadline_ms = 6000

[[model.turns]]
tool_calls = [{ name = "bash", arguments = { command = "sleep 100", description = "Sleep" } }]

[[steps]]
do = "prompt"
text = "Run sleep 100."

[[steps]]
do = "wait"
until = { event = "never.happens" }
timeout_ms = 6000

[[checks]]
check = "status-reaches-idle"
"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenarios_arg = scenarios.path().to_str().unwrap().to_string();
    // Installed before the clock starts: the timed span is the run's server start and the
    // scenario, not a cold npm install.
    installed_binary("1.18.34");
    let mut child = spawn_run(&["--scenarios", &scenarios_arg, "--scenario", "never-ends"], dir.path(), &[], None);
    let harness = child.id();
    let started = Instant::now();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), 2);
    assert!(started.elapsed() < Duration::from_secs(30), "the deadline did not bound the scenario");
    assert!(processes_marked_by(&format!("{harness}-")).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "TIMEOUT", "{r}");
    assert!(r["error"].as_str().unwrap().contains("deadline of 6000 ms"), "{r}");
}

fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn a_server_that_crashes_mid_scenario_is_an_error_with_the_cause_and_log() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_fault_run(&["server-crashes", "server-requires-auth"], dir.path());
    let harness = child.id();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(120)), 2);
    assert!(processes_marked_by(&format!("{harness}-")).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    let crashed = results.iter().find(|r| r["scenario"] == "server-crashes").unwrap();
    assert_eq!(crashed["outcome"], "ERROR", "{crashed}");
    let error = crashed["error"].as_str().unwrap();
    assert!(error.contains("the server had exited") && error.contains("signal: 9"), "{error}");
    assert!(error.contains("last log lines"), "{error}");
    let rest = results.iter().find(|r| r["scenario"] == "server-requires-auth").unwrap();
    assert_eq!(rest["outcome"], "PASS", "the rest of the run goes on");
}

#[test]
fn a_server_that_never_listens_is_an_error_within_the_start_timeout() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fake = test_data().join("fake-opencode-silent.sh");
    let started = Instant::now();
    let mut child = spawn_run(
        &["--opencode", fake.to_str().unwrap(), "--scenario", "server-requires-auth", "--start-timeout", "3"],
        dir.path(),
        &[],
        None,
    );
    let harness = child.id();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), 2);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(processes_marked_by(&format!("{harness}-")).is_empty(), "the silent server was left running");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "ERROR");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains("no listening line") && error.contains("pretending to start"), "{error}");
}

#[test]
fn a_server_that_ignores_sigterm_is_killed_after_the_grace() {
    let _one = one_real_run_at_a_time();
    let cache = real_cache();
    let real = installed_binary("1.18.34");
    // SIG_IGN survives exec, and opencode installs no SIGTERM handler of its own.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("opencode");
    std::fs::write(&wrapper, format!("#!/bin/sh\ntrap '' TERM\nexec {real} \"$@\"\n")).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let report = tempfile::tempdir().unwrap();
    let mut child = spawn_run(
        &["--opencode", wrapper.to_str().unwrap(), "--scenario", "server-requires-auth", "--fresh-servers"],
        report.path(),
        &[("OC_CONFORM_CACHE", cache.to_str().unwrap())],
        None,
    );
    let harness = child.id();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), 0);
    assert!(processes_marked_by(&format!("{harness}-")).is_empty());
    let timeline: serde_json::Value = serde_json::from_slice(
        &std::fs::read(report.path().join("1.18.34/server-requires-auth/timeline.json")).unwrap(),
    )
    .unwrap();
    let signals: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "server" && e["change"] == "signalled")
        .filter_map(|e| e["signal"].as_str())
        .collect();
    assert_eq!(signals, ["TERM (group)", "KILL (group)"], "the supervisor must escalate");
}

#[test]
fn an_event_stream_that_drops_is_an_error_with_the_cause_and_the_rest_goes_on() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // Installed before the clock starts: the timed span is the two server starts and the
    // scenarios, not a cold npm install.
    installed_binary("1.18.34");
    let started = Instant::now();
    let mut child = spawn_run(
        &["--scenario", "abort-http", "--scenario", "server-requires-auth"],
        dir.path(),
        &[("OC_CONFORM_FAULT_DROP_EVENTS_IN", "abort-http")],
        None,
    );
    let harness = child.id();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(120)), 2);
    // Stopped when the stream dropped, not at abort-http's deadline (40 s).
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(processes_marked_by(&format!("{harness}-")).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    let dropped = results.iter().find(|r| r["scenario"] == "abort-http").unwrap();
    assert_eq!(dropped["outcome"], "ERROR", "{dropped}");
    let error = dropped["error"].as_str().unwrap();
    assert!(
        error.contains("/global/event stream broke") && error.contains("while the server was alive"),
        "{error}"
    );
    assert!(error.contains("last log lines:\n"), "{error}");
    let rest = results.iter().find(|r| r["scenario"] == "server-requires-auth").unwrap();
    assert_eq!(rest["outcome"], "PASS", "the rest of the run goes on");
}

/// Fields of /proc/<pid>/stat after the command: (ppid, session id).
fn parent_and_session(pid: u32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u32> = after.split(' ').skip(1).take(4).map(|x| x.parse().unwrap()).collect();
    (f[0], f[2])
}

#[test]
fn tool_children_that_setsid_or_double_fork_are_ended_by_the_run_marker() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_fault_run(&["tool-children-escape"], dir.path());
    let harness = child.id();
    let setsid = wait_for_marked(&mut child, "sleep 300");
    let forked = wait_for_marked(&mut child, "sleep 301");
    // They really escaped: one leads its own session; the other's parent is no longer a
    // process of the run (it was reparented to init or a subreaper).
    let (_, session) = parent_and_session(setsid);
    assert_eq!(session, setsid, "sleep 300 did not get its own session");
    // (The subshell between them exits just after the fork: wait for the reparenting.)
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (parent, _) = parent_and_session(forked);
        if !processes_marked_by(&format!("{harness}-")).iter().any(|(p, _)| *p == parent) {
            break;
        }
        assert!(Instant::now() < deadline, "sleep 301 is still a child of the run's tree (parent {parent})");
        std::thread::sleep(Duration::from_millis(10));
    }

    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), 0);
    let left = processes_marked_by(&format!("{harness}-"));
    assert!(left.is_empty(), "left behind: {left:?}");
    for pid in [setsid, forked] {
        // Gone, or dead and waiting for init to reap it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
        assert!(matches!(state, None | Some('Z') | Some('X')), "{pid} is still alive: {stat}");
    }
    let timeline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("1.18.34/tool-children-escape/timeline.json")).unwrap()).unwrap();
    // The sweep is in the timeline, naming the process that left the server's group.
    let swept: Vec<u64> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "teardown_killed")
        .flat_map(|e| e["pids"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_u64())
        .collect();
    assert!(swept.contains(&(setsid as u64)), "the sweep of {setsid} is not in the timeline: {swept:?}");
}

/// Waits (deadline 30 s) until `GET /global/health` on 127.0.0.1:`port` answers 200.
fn wait_healthy(port: u16) {
    use std::io::{Read, Write};
    let answers_200 = || -> std::io::Result<bool> {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        c.write_all(b"GET /global/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut head = [0u8; 12];
        c.read_exact(&mut head)?;
        Ok(head.ends_with(b" 200"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers_200().unwrap_or(false) {
        assert!(Instant::now() < deadline, "port {port} did not answer healthy within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_the_user_started_by_hand_is_untouched_by_runs_and_gc() {
    let _one = one_real_run_at_a_time();
    let binary = installed_binary("1.18.34");
    let home = tempfile::tempdir().unwrap();
    // A user's server on the default port, with a child of its own (the `sleep` becomes
    // opencode's child when the shell execs), and no run marker: nothing of ours.
    let mut user = Command::new("sh");
    user.arg("-c")
        .arg(format!("sleep 300 & exec {binary} serve --hostname 127.0.0.1 --port 4096"))
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env("XDG_STATE_HOME", home.path().join(".local/state"))
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env_remove("OC_CONFORM_RUN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut user, 0);
    let mut user = user.spawn().unwrap();
    let server = user.id();
    // Ends the user's server and its child (this test started them) whatever happens.
    struct Group(u32);
    impl Drop for Group {
        #[allow(unsafe_code)]
        fn drop(&mut self) {
            // SAFETY: kill(2) on the group this test created; no memory is involved.
            unsafe { libc::kill(-(self.0 as i32), libc::SIGKILL) };
        }
    }
    let _group = Group(server);
    wait_healthy(4096);
    assert!(
        user.try_wait().unwrap().is_none(),
        "the user's server did not start: is port 4096 taken by another process?"
    );
    let children = || -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{server}/task/{server}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    };
    let before = children();
    assert!(!before.is_empty(), "the user's server has no child to protect");

    let dir = tempfile::tempdir().unwrap();
    let mut run = spawn_run(&["--scenario", "abort-http", "--scenario", "plugin-spawned-server"], dir.path(), &[], None);
    let code = wait_exit(&mut run, Duration::from_secs(120));
    // The run really ran beside the user's server: a run that failed at start would touch
    // nothing and prove nothing.
    let mut err = String::new();
    if let Some(mut e) = run.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let mut outcomes: Vec<(String, String)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["scenario"].as_str().unwrap().into(), r["outcome"].as_str().unwrap().into()))
        .collect();
    outcomes.sort();
    let want = |s: &str, o: &str| (s.to_string(), o.to_string());
    assert_eq!(outcomes, [want("abort-http", "PASS"), want("plugin-spawned-server", "EXPECTED-FAIL")], "{err}");
    let gc = crate::support::oc_conform().arg("gc").output().unwrap();
    assert!(gc.status.success(), "{}", String::from_utf8_lossy(&gc.stderr));
    assert!(!String::from_utf8_lossy(&gc.stdout).contains(&format!("killed {server} ")));

    assert!(user.try_wait().unwrap().is_none(), "the user's server was ended");
    for pid in &before {
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "the user's server's child {pid} was ended");
    }
    wait_healthy(4096);
}
