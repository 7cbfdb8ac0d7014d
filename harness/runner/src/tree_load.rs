//! What the harness's own process tree asks of the cores, sampled from `/proc` while a
//! matrix runs: how many of its threads are runnable (want a core) and how much CPU the
//! tree got since the sample before. The servers, their tools and npm are all
//! descendants of the harness; other agents' processes on a shared machine are not, so
//! "fewer runnable threads than cores" is the harness's own idleness, while "runnable
//! but not running" is the machine's other load. The suite watches the same count to
//! let more cells play while a core idles ([`LoadWatch`]); `bench --matrix` keeps every
//! sample ([`TreeSampler`]).

use crate::observe::procs::{list_pids, parse_cpu_ticks, parse_stat};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ: 100 on Linux, whatever the
/// kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// Seconds of CPU the hypervisor gave other guests while this one wanted it ("steal",
/// the 8th value of `/proc/stat`'s `cpu` line), summed over the cores; none where the
/// kernel does not count it. On a VM this is time the harness's runnable threads were
/// kept off cores no process of this machine used.
pub fn machine_steal_s() -> Option<f64> {
    steal_s(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Tasks running or waiting for a core on the whole machine, now (`procs_running` in
/// `/proc/stat`).
fn procs_running(proc_stat: &str) -> Option<u32> {
    proc_stat.lines().find_map(|l| l.strip_prefix("procs_running ")).and_then(|n| n.trim().parse().ok())
}

fn steal_s(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// One look at the tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeSample {
    /// Seconds since the sampler started.
    pub at_s: f64,
    /// Threads of the tree in state R (running or waiting for a core), the sampler's
    /// own thread not counted.
    pub runnable: u32,
    /// CPU seconds the tree's processes used since the sample before (a process that
    /// exited in between loses its last interval: a few ms).
    pub cpu_s: f64,
}

/// A sampler on its own thread (not the runtime's: it must not wait for the scenarios'
/// tasks, nor they for it).
pub struct TreeSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<TreeSample>>,
}

impl TreeSampler {
    /// Samples this process and its descendants every `interval` until
    /// [`TreeSampler::finish`]; `at_s` counts from `origin`.
    pub fn start(origin: Instant, interval: Duration) -> TreeSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let root = std::process::id();
            let own_tid = nix::unistd::gettid().as_raw() as u32;
            let mut last: HashMap<u32, u64> = HashMap::new();
            let mut out = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let (runnable, ticks) = look(root, own_tid);
                let used: u64 = ticks.iter().map(|(pid, t)| t.saturating_sub(last.get(pid).copied().unwrap_or(0))).sum();
                // The first look has no interval before it: what the tree used so far is not this run's.
                let cpu_s = if out.is_empty() { 0.0 } else { used as f64 / USER_HZ };
                out.push(TreeSample {
                    at_s: origin.elapsed().as_secs_f64(),
                    runnable,
                    cpu_s,
                });
                last = ticks;
                std::thread::sleep(interval);
            }
            out
        });
        TreeSampler { stop, thread }
    }

    /// Stops sampling; the samples in time order.
    pub fn finish(self) -> Vec<TreeSample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The threads that wanted a core lately, for the suite to decide whether a core idles
/// (the mean of the last few looks: one look is a snapshot): the harness tree's, or the
/// whole machine's when more (`procs_running`): on a CI runner shared with other jobs,
/// a core the harness leaves unused may be another job's, and a cell started into it
/// would slow every scenario's waits. Stops when dropped.
pub struct LoadWatch {
    stop: Arc<AtomicBool>,
    /// The mean runnable threads x 1000, `u32::MAX` until enough looks were taken.
    runnable_milli: Arc<AtomicU32>,
}

/// How many looks the mean is over.
const WINDOW: usize = 5;

impl LoadWatch {
    pub fn start(interval: Duration) -> LoadWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let runnable_milli = Arc::new(AtomicU32::new(u32::MAX));
        let (flag, out) = (stop.clone(), runnable_milli.clone());
        std::thread::spawn(move || {
            let root = std::process::id();
            let own_tid = nix::unistd::gettid().as_raw() as u32;
            let mut window = std::collections::VecDeque::with_capacity(WINDOW);
            while !flag.load(Ordering::Relaxed) {
                if window.len() == WINDOW {
                    window.pop_front();
                }
                let tree = look(root, own_tid).0;
                // The machine's count includes this sampling thread.
                let machine = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(procs_running);
                window.push_back(machine.map_or(tree, |m| m.saturating_sub(1).max(tree)));
                if window.len() == WINDOW {
                    let mean = window.iter().sum::<u32>() as f64 / WINDOW as f64;
                    out.store((mean * 1000.0) as u32, Ordering::Relaxed);
                }
                std::thread::sleep(interval);
            }
        });
        LoadWatch { stop, runnable_milli }
    }

    /// Mean runnable threads over the last looks; none before there were enough.
    pub fn runnable(&self) -> Option<f64> {
        match self.runnable_milli.load(Ordering::Relaxed) {
            u32::MAX => None,
            m => Some(m as f64 / 1000.0),
        }
    }
}

impl Drop for LoadWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The tree's runnable threads and each process's CPU ticks so far.
fn look(root: u32, own_tid: u32) -> (u32, HashMap<u32, u64>) {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for pid in list_pids() {
        if let Some(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat) {
            parent.push((s.pid, s.ppid));
        }
    }
    let mut runnable = 0;
    let mut ticks = HashMap::new();
    for pid in descendants(root, &parent) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some(t) = parse_cpu_ticks(&text) {
            ticks.insert(pid, t);
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            let tid: u32 = task.file_name().to_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            if tid == own_tid {
                continue;
            }
            let state = std::fs::read_to_string(task.path().join("stat")).ok();
            if state.as_deref().and_then(parse_stat).is_some_and(|s| s.state == 'R') {
                runnable += 1;
            }
        }
    }
    (runnable, ticks)
}

/// `root` and every process below it, from `(pid, ppid)` pairs.
pub fn descendants(root: u32, parent: &[(u32, u32)]) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in parent {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = HashSet::from([root]);
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if out.insert(c) {
                stack.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_runnable_tasks_are_read_from_proc_stat() {
        let stat = "cpu  1 2 3 4 5 6 7 8 0 0\nctxt 99\nprocs_running 3\nprocs_blocked 0\n";
        assert_eq!(procs_running(stat), Some(3));
        assert_eq!(procs_running("cpu  1 2 3\nprocs_blocked 1\n"), None);
        // The real file has it, and this test's thread is running.
        let real = std::fs::read_to_string("/proc/stat").unwrap();
        assert!(procs_running(&real).is_some_and(|n| n >= 1), "{real}");
    }

    #[test]
    fn steal_is_the_eighth_value_of_the_cpu_line() {
        let stat = "cpu  1762435 2015517 391092 855664 5211 0 4973 204379 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(steal_s(stat), Some(2043.79));
        // An old kernel's line without steal, or no cpu line at all.
        assert_eq!(steal_s("cpu  1 2 3 4 5 6 7\n"), None);
        assert_eq!(steal_s("intr 1\n"), None);
    }

    #[test]
    fn descendants_are_the_whole_subtree_and_nothing_else() {
        let table = [(1, 0), (10, 1), (11, 10), (12, 11), (13, 10), (20, 1), (21, 20)];
        let mut got: Vec<u32> = descendants(10, &table).into_iter().collect();
        got.sort();
        assert_eq!(got, [10, 11, 12, 13]);
        assert_eq!(descendants(99, &table), HashSet::from([99]));
    }

    #[test]
    fn a_spinning_child_is_seen_runnable_and_using_cpu() {
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let pid = child.id();
        let (start_runnable, start) = look(std::process::id(), 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = (0, 0);
        while Instant::now() < deadline {
            let (runnable, ticks) = look(std::process::id(), 0);
            let child_ticks = ticks.get(&pid).copied().unwrap_or(0) - start.get(&pid).copied().unwrap_or(0);
            seen = (seen.0.max(runnable), child_ticks);
            if seen.0 >= 1 && child_ticks >= 10 {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen.0 >= 1 && seen.1 >= 10, "runnable {seen:?} (at first {start_runnable})");
    }
}
