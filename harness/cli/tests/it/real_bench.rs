//! `bench --matrix` on a real release: its figures agree with each other (the ratio is the
//! wall time over the floor, the machine's cores add up to the wall time, the cells
//! playing at once cover the runs), a cell plays in the slot of one in a quiet wait, and
//! nothing is left behind.

use crate::support::{one_real_run_at_a_time, output_with_pid, processes_marked_by};
use serde_json::Value;

const VERSION: &str = "1.18.34";

#[test]
fn bench_matrix_figures_add_up_and_a_quiet_wait_lets_another_cell_play() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // abort-http plays on the version's one shared server, server-dispose-during-tool on
    // a server of its own (it disposes every instance); each ends in a quiet window (1 s).
    // One job, room for two: the second plays beside the first only in a quiet wait's
    // slot or while a core idles. model-http-400 waits for the shared server.
    let (out, pid) = output_with_pid(&[
        "bench", "--matrix", VERSION, "--scenario", "abort-http", "--scenario", "server-dispose-during-tool",
        "--scenario", "model-http-400", "--jobs", "1", "--max-jobs", "2", "--report-dir", dir.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let b: Value = serde_json::from_slice(&std::fs::read(dir.path().join("bench-matrix.json")).unwrap()).unwrap();
    let f = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}\n{b:#}"));

    assert_eq!(b["cells"], 3);
    assert_eq!((b["jobs"].as_u64(), b["max_jobs"].as_u64()), (Some(1), Some(2)));
    let (wall, floor) = (f(&b["wall_s"]), f(&b["floor_s"]));
    let cores = b["cores"].as_u64().unwrap() as f64;
    assert!(floor > 0.5 && wall > floor / cores, "{b:#}");
    assert!((f(&b["ratio"]) - wall / floor).abs() < 1e-9);
    assert!((floor - f(&b["cpu_s"]["servers"]) / cores).abs() < 1e-9);

    // The machine's cores over the run add up to its wall time (two reads of /proc/stat
    // a few ms apart from the clock's; ticks of 10 ms).
    let m = &b["machine_s"];
    let split = f(&m["busy_s"]) + f(&m["niced_s"]) + f(&m["idle_s"]) + m["steal_s"].as_f64().unwrap_or(0.0);
    assert!((split - wall).abs() < 0.05 * wall + 0.1, "machine {split} s against wall {wall} s\n{b:#}");
    let sampler = f(&b["bench_sampler_cpu_s"]);
    assert!(sampler >= 0.0 && sampler <= f(&b["cpu_s"]["harness"]), "{b:#}");

    // Seconds by cells playing at once: together, the span of the runs, within the wall.
    let playing: Vec<f64> = b["playing_s"].as_array().unwrap().iter().map(f).collect();
    let runs = b["runs"].as_array().unwrap();
    let first = runs.iter().map(|r| f(&r["start_s"])).fold(f64::MAX, f64::min);
    let last = runs.iter().map(|r| f(&r["end_s"])).fold(0.0, f64::max);
    let covered: f64 = playing.iter().sum();
    assert!(covered <= last - first + 1e-6 && covered <= wall, "{playing:?}\n{b:#}");
    assert!(playing.len() <= 3, "never more than max-jobs: {playing:?}");
    assert!(playing.get(2).is_some_and(|&s| s > 0.0), "no second cell ever played beside the first: {playing:?}\n{stdout}");
    assert!(stdout.contains("cells playing at once (s): 1: "), "{stdout}");
    assert!(stdout.contains("the machine's cores (s, from /proc/stat): busy "), "{stdout}");
    assert!(processes_marked_by(&pid.to_string()).is_empty(), "left behind");
}
