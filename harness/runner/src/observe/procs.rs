//! The process table observer. Samples `/proc` and records what changes for the run's
//! processes: the server, its descendants, and anything carrying the run marker (tool
//! children that re-parented or called `setsid` still carry it in their environment).

use crate::record::Recorder;
use oc_conform_checks::{Observation, ProcessChange, ProcessInfo, ProcessRole};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What `/proc/<pid>/stat` says, plus the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStat {
    pub pid: u32,
    /// The command name (`comm`); it changes on `exec`.
    pub comm: String,
    pub ppid: u32,
    pub pgid: u32,
    pub state: char,
}

/// Parses `/proc/<pid>/stat`. The command name is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest = &text[close + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgid = f.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        comm,
        ppid,
        pgid,
        state,
    })
}

/// User plus system CPU time from the text of `/proc/<pid>/stat` (or of one of its
/// threads, `/proc/<pid>/task/<tid>/stat`), in clock ticks.
pub fn parse_cpu_ticks(text: &str) -> Option<u64> {
    let mut f = text.get(text.rfind(')')? + 1..)?.split_whitespace().skip(11);
    Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
}

pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

pub fn read_cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// What a process holds: its threads, open file descriptors and resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    pub threads: u64,
    pub fds: u64,
    pub rss_kb: u64,
}

/// `Threads:` and `VmRSS:` (KiB) from the text of `/proc/<pid>/status`.
pub fn parse_status_counts(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("Threads:")?, field("VmRSS:")?))
}

/// Reads what `pid` holds from `/proc`; none when it is gone (or not readable).
pub fn read_holdings(pid: u32) -> Option<Holdings> {
    let (threads, rss_kb) = parse_status_counts(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Holdings { threads, fds, rss_kb })
}

/// True when the process's environment holds `VAR=marker` exactly.
pub fn has_marker(pid: u32, var: &str, marker: &str) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{var}={marker}");
    env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes())
}

pub fn list_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Pids of live (non-zombie) processes carrying the run marker.
pub fn find_marked(marker: &str) -> Vec<u32> {
    list_pids()
        .into_iter()
        .filter(|&pid| pid != std::process::id())
        .filter(|&pid| has_marker(pid, crate::sandbox::RUN_MARKER_VAR, marker))
        .filter(|&pid| read_stat(pid).is_some_and(|s| s.state != 'Z'))
        .collect()
}

/// Kills, by pid, every process carrying the run marker until none is left or `timeout`
/// passes (a process may fork while we kill). Returns the pids it killed.
pub fn kill_marked(marker: &str, timeout: Duration) -> Vec<u32> {
    kill_marked_where(marker, timeout, |_| true)
}

/// Like [`kill_marked`], for the processes carrying the marker that work in `dir` (a
/// scenario's project on a shared server): the server and other scenarios' are spared.
pub fn kill_marked_in(marker: &str, dir: &Path, spare: u32, timeout: Duration) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    kill_marked_where(marker, timeout, |p| {
        p != spare && std::fs::read_link(format!("/proc/{p}/cwd")).is_ok_and(|c| c.starts_with(&dir))
    })
}

fn kill_marked_where(marker: &str, timeout: Duration, which: impl Fn(u32) -> bool) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    let mut killed = Vec::new();
    loop {
        let pids: Vec<u32> = find_marked(marker).into_iter().filter(|&p| which(p)).collect();
        if pids.is_empty() || Instant::now() >= deadline {
            return killed;
        }
        for pid in pids {
            // The pid carries this run's marker, so this run started it.
            send_signal(pid as i32, libc::SIGKILL);
            if !killed.contains(&pid) {
                killed.push(pid);
            }
        }
        // Give the kernel a moment to deliver; bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to `pid` (a negative pid names a process group). Errors (the process
/// is already gone) are ignored: every caller re-checks what is left.
pub fn send_signal(pid: i32, signal: i32) {
    if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Whether a process belongs to the run, and as what.
fn classify(pid: u32, server_pid: u32, cmdline: &str) -> ProcessRole {
    if pid == server_pid {
        ProcessRole::Server
    } else if cmdline
        .split_whitespace()
        .next()
        .is_some_and(|argv0| argv0.ends_with("/opencode") || argv0 == "opencode")
    {
        ProcessRole::Opencode
    } else {
        ProcessRole::Tool
    }
}

struct Known {
    ppid: u32,
    comm: String,
    zombie: bool,
    /// Seen mid-`exec`, when `/proc/<pid>/cmdline` reads empty: read it again next time.
    cmdline_pending: bool,
}

/// Samples the process table every `interval` until cancelled, recording changes.
pub struct ProcessSampler {
    server_pid: u32,
    marker: String,
    known: HashMap<u32, Known>,
    /// Pids seen that are not ours, so their environment is read only once.
    foreign: HashSet<u32>,
    /// On a shared server: only processes working in this directory (the scenario's
    /// project; tools run there), their descendants, and the server itself.
    only_in: Option<PathBuf>,
}

impl ProcessSampler {
    pub fn new(server_pid: u32, marker: &str) -> Self {
        ProcessSampler {
            server_pid,
            marker: marker.to_string(),
            known: HashMap::new(),
            foreign: HashSet::new(),
            only_in: None,
        }
    }

    /// For a scenario played on a shared server: its processes are told from other
    /// scenarios' by their working directory, `project`.
    pub fn in_directory(server_pid: u32, marker: &str, project: &Path) -> Self {
        ProcessSampler {
            only_in: Some(project.canonicalize().unwrap_or_else(|_| project.to_path_buf())),
            ..ProcessSampler::new(server_pid, marker)
        }
    }

    /// Whether a process of the server's tree (or carrying its marker) is this
    /// scenario's: `Some(false)` not, `None` not yet known (a fork of the server before
    /// its `exec` still works where the server does; look again next pass).
    fn in_scope(&self, pid: u32, stat: &ProcStat) -> Option<bool> {
        let Some(dir) = &self.only_in else { return Some(true) };
        if pid == self.server_pid {
            return Some(true);
        }
        if stat.ppid != self.server_pid && self.known.contains_key(&stat.ppid) {
            return Some(true);
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        if cwd.starts_with(dir) {
            return Some(true);
        }
        let server_comm = read_stat(self.server_pid).map(|s| s.comm);
        if stat.ppid == self.server_pid && server_comm.as_deref() == Some(stat.comm.as_str()) {
            return None;
        }
        Some(false)
    }

    /// One pass over `/proc`; records what changed since the previous pass.
    pub fn sample(&mut self, rec: &Recorder) {
        let pids: HashSet<u32> = list_pids().into_iter().collect();
        // Forget foreign pids that vanished, so a reused pid is looked at afresh.
        self.foreign.retain(|p| pids.contains(p));

        let gone: Vec<u32> = self
            .known
            .keys()
            .copied()
            .filter(|p| !pids.contains(p))
            .collect();
        for pid in gone {
            self.known.remove(&pid);
            rec.record(Observation::Process(ProcessChange::Exited { pid }));
        }

        let mut new: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| !self.known.contains_key(p) && !self.foreign.contains(p))
            .collect();
        new.sort_unstable();
        for pid in new {
            let Some(stat) = read_stat(pid) else { continue };
            let ours = pid == self.server_pid
                || self.known.contains_key(&stat.ppid)
                || stat.ppid == self.server_pid
                || has_marker(pid, crate::sandbox::RUN_MARKER_VAR, &self.marker);
            match (ours, self.in_scope(pid, &stat)) {
                (true, Some(true)) => {}
                (true, None) => continue,
                _ => {
                    self.foreign.insert(pid);
                    continue;
                }
            }
            let cmdline = read_cmdline(pid);
            let role = classify(pid, self.server_pid, &cmdline);
            self.known.insert(
                pid,
                Known {
                    ppid: stat.ppid,
                    comm: stat.comm.clone(),
                    zombie: stat.state == 'Z',
                    cmdline_pending: cmdline.is_empty(),
                },
            );
            rec.record(Observation::Process(ProcessChange::Appeared(ProcessInfo {
                pid,
                ppid: stat.ppid,
                pgid: stat.pgid,
                state: stat.state.to_string(),
                cmdline,
                role,
            })));
        }

        for (&pid, known) in self.known.iter_mut() {
            let Some(stat) = read_stat(pid) else { continue };
            if (stat.comm != known.comm || known.cmdline_pending) && stat.state != 'Z' {
                // A fork seen before its exec (or mid-exec, when the command line reads
                // empty): record what it became once the command line is there.
                let cmdline = read_cmdline(pid);
                known.cmdline_pending = cmdline.is_empty();
                if !cmdline.is_empty() {
                    known.comm = stat.comm.clone();
                    rec.record(Observation::Process(ProcessChange::Exec {
                        pid,
                        role: classify(pid, self.server_pid, &cmdline),
                        cmdline,
                    }));
                }
            }
            if stat.ppid != known.ppid {
                known.ppid = stat.ppid;
                rec.record(Observation::Process(ProcessChange::Reparented {
                    pid,
                    ppid: stat.ppid,
                }));
            }
            if stat.state == 'Z' && !known.zombie {
                known.zombie = true;
                rec.record(Observation::Process(ProcessChange::Zombie { pid }));
            }
        }
    }

    /// Samples until `cancel` fires; one last sample then.
    pub async fn run(mut self, rec: Recorder, interval: Duration, cancel: CancellationToken) {
        super::every(interval, cancel, || self.sample(&rec)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parentheses_in_the_name() {
        let s = parse_stat("4242 (we ird) (x)) S 1 4240 4240 0 -1 4194560 120").unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 4242,
                comm: "we ird) (x)".into(),
                ppid: 1,
                pgid: 4240,
                state: 'S'
            }
        );
        assert!(parse_stat("garbage").is_none());
        assert_eq!(parse_cpu_ticks("4242 (we ird) (x)) S 1 4240 4240 0 -1 4194560 120"), None);
        let full = "4242 (a) b) R 1 4240 4240 0 -1 4194560 120 0 0 0 250 31 0 0 20 0 12";
        assert_eq!(parse_cpu_ticks(full), Some(281));
    }

    #[test]
    fn status_counts_are_read_by_field_name() {
        let text = "Name:\topencode\nVmPeak:\t 900 kB\nVmRSS:\t  312456 kB\nThreads:\t27\n";
        assert_eq!(parse_status_counts(text), Some((27, 312_456)));
        // A kernel thread has no VmRSS: no reading rather than a zero.
        assert_eq!(parse_status_counts("Name:\tkthreadd\nThreads:\t1\n"), None);
    }

    #[test]
    fn this_process_holds_at_least_one_thread_and_its_stdio() {
        let h = read_holdings(std::process::id()).unwrap();
        assert!(h.threads >= 1 && h.fds >= 3 && h.rss_kb > 0, "{h:?}");
        assert_eq!(read_holdings(u32::MAX), None);
    }

    #[test]
    fn roles() {
        assert_eq!(classify(10, 10, "/x/opencode serve"), ProcessRole::Server);
        assert_eq!(classify(11, 10, "/x/bin/opencode serve --port 0"), ProcessRole::Opencode);
        assert_eq!(classify(12, 10, "sleep 100"), ProcessRole::Tool);
    }

    #[test]
    fn finds_and_kills_a_marked_child_by_pid() {
        let marker = format!("test-{}", crate::sandbox::random_token(8));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(crate::sandbox::RUN_MARKER_VAR, &marker)
            .spawn()
            .unwrap();
        assert_eq!(find_marked(&marker), vec![child.id()]);
        // Reap concurrently so the killed child does not linger as a zombie.
        let killed = std::thread::scope(|s| {
            let h = s.spawn(|| child.wait());
            let k = kill_marked(&marker, Duration::from_secs(5));
            h.join().unwrap().unwrap();
            k
        });
        assert_eq!(killed.len(), 1);
        assert!(find_marked(&marker).is_empty());
    }

    /// On a shared server, two scenarios' tools are children of the same process, with
    /// the same marker; each scenario sees and kills only the one working in its project.
    #[test]
    fn a_shared_servers_scenarios_are_told_apart_by_working_directory() {
        let marker = format!("test-{}", crate::sandbox::random_token(8));
        let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let spawn = |dir: &Path, secs: &str| {
            std::process::Command::new("sleep")
                .arg(secs)
                .current_dir(dir)
                .env(crate::sandbox::RUN_MARKER_VAR, &marker)
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn(mine.path(), "31"), spawn(theirs.path(), "32"));
        // This test process plays the shared server: both sleeps are its children.
        let me = std::process::id();
        let rec = Recorder::new("t", "0");
        let mut sampler = ProcessSampler::in_directory(me, &marker, mine.path());
        sampler.sample(&rec);
        let seen: Vec<u32> = rec
            .snapshot()
            .entries
            .iter()
            .filter_map(|e| match &e.obs {
                Observation::Process(ProcessChange::Appeared(p)) if p.role == ProcessRole::Tool => Some(p.pid),
                _ => None,
            })
            .collect();
        assert_eq!(seen, [a.id()]);

        let killed = kill_marked_in(&marker, mine.path(), me, Duration::from_secs(5));
        assert_eq!(killed, [a.id()]);
        a.wait().unwrap();
        assert!(b.try_wait().unwrap().is_none(), "the other scenario's process was killed");
        b.kill().unwrap();
        b.wait().unwrap();
    }
}
