//! Processes earlier runs left behind. Every process a run starts carries
//! `OC_CONFORM_RUN=<harness pid>-<scenario>-<random>`; when that harness pid is no longer
//! an oc-conform process (it was SIGKILLed, the machine's OOM killer struck), whatever
//! still carries the marker is a leftover. `oc-conform gc` ends them, by pid; nothing
//! without a marker (a server the user started by hand) is ever touched.

use crate::observe::procs::{list_pids, read_cmdline, read_stat, send_signal};
use crate::sandbox::RUN_MARKER_VAR;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub pid: u32,
    pub marker: String,
    pub cmdline: String,
}

/// The run marker a process carries, if any.
pub fn marker_of(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{RUN_MARKER_VAR}=");
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).to_string())
}

/// Whether the harness that owns `marker` is still running.
fn owner_alive(marker: &str) -> bool {
    let Some(pid) = marker.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    read_stat(pid).is_some_and(|s| s.state != 'Z') && read_cmdline(pid).contains("oc-conform")
}

/// Live processes carrying a run marker whose harness is gone.
pub fn find() -> Vec<Leftover> {
    let me = std::process::id();
    list_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let marker = marker_of(pid)?;
            let alive = read_stat(pid).is_some_and(|s| s.state != 'Z');
            (alive && !owner_alive(&marker)).then(|| Leftover {
                pid,
                cmdline: read_cmdline(pid),
                marker,
            })
        })
        .collect()
}

/// Kills every leftover by pid (SIGKILL; they have no one to answer to). Returns them.
pub fn collect() -> Vec<Leftover> {
    let found = find();
    for l in &found {
        send_signal(l.pid as i32, libc::SIGKILL);
    }
    found
}
