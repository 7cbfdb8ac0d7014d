//! What the harness's own process tree asks of the cores, sampled from `/proc` while a
//! matrix runs: how many of its threads are runnable (want a core) and how much CPU the
//! tree got since the sample before. The servers, their tools and npm are all
//! descendants of the harness; other agents' processes on a shared machine are not, so
//! "fewer runnable threads than cores" is the harness's own idleness, while "runnable
//! but not running" is the machine's other load; `bench --matrix` keeps every sample
//! ([`TreeSampler`]). The suite watches the whole machine's CPU time instead, to let
//! more cells play while a core idles ([`LoadWatch`], [`MachineCpu`]).

use crate::observe::procs::{list_pids, parse_cpu_ticks, parse_stat};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ: 100 on Linux, whatever the
/// kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// The machine's CPU time so far, summed over its cores, in clock ticks: the `cpu`
/// line of `/proc/stat`, grouped by what it says about room for more work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineCpu {
    /// Running tasks at normal priority (user, system, interrupts).
    pub busy: u64,
    /// Running niced tasks (`nice`): background work that yields a core to ours.
    pub niced: u64,
    /// Nothing to run (`idle`, `iowait`).
    pub idle: u64,
    /// Time the hypervisor gave other guests while this one wanted it; none where the
    /// kernel does not count it (old kernels, bare metal).
    pub steal: Option<u64>,
}

/// The machine's cores over an interval, as wall seconds (core-seconds / cores).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct MachineSplit {
    /// At normal priority: the harness's tree and anything else.
    pub busy_s: f64,
    /// Niced background work.
    pub niced_s: f64,
    pub idle_s: f64,
    /// Given by the hypervisor to other guests; none where the kernel does not count it.
    pub steal_s: Option<f64>,
}

impl MachineCpu {
    /// Reads `/proc/stat` now; none where it cannot be read.
    pub fn now() -> Option<MachineCpu> {
        MachineCpu::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// From the text of `/proc/stat`: `cpu  user nice system idle iowait irq softirq
    /// steal guest guest_nice` (guest time is already in user).
    pub fn parse(proc_stat: &str) -> Option<MachineCpu> {
        let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line.split_whitespace().skip(1).map_while(|n| n.parse().ok()).collect();
        let at = |i: usize| v.get(i).copied();
        Some(MachineCpu {
            busy: at(0)? + at(2)? + at(5).unwrap_or(0) + at(6).unwrap_or(0),
            niced: at(1)?,
            idle: at(3)? + at(4).unwrap_or(0),
            steal: at(7),
        })
    }

    fn total(&self) -> u64 {
        self.busy + self.niced + self.idle + self.steal.unwrap_or(0)
    }

    /// Cores of `cores` kept from new work between `earlier` and `self`: busy at normal
    /// priority or taken by the hypervisor; idle time is room, and niced time too when
    /// `niced_is_room` (the harness itself runs at normal priority: its servers' time is
    /// never niced then). None when no time passed.
    pub fn busy_cores_since(&self, earlier: &MachineCpu, cores: usize, niced_is_room: bool) -> Option<f64> {
        let total = self.total().checked_sub(earlier.total()).filter(|&t| t > 0)?;
        let niced = if niced_is_room { self.niced.saturating_sub(earlier.niced) } else { 0 };
        let room = self.idle.saturating_sub(earlier.idle) + niced;
        Some(cores as f64 * (1.0 - room.min(total) as f64 / total as f64))
    }

    /// What the machine's cores did between `earlier` and `self`, as wall seconds
    /// (core-seconds / `cores`): they add up to the wall time between the two reads.
    pub fn split_since(&self, earlier: &MachineCpu, cores: usize) -> MachineSplit {
        let wall = |now: u64, then: u64| now.saturating_sub(then) as f64 / USER_HZ / cores.max(1) as f64;
        MachineSplit {
            busy_s: wall(self.busy, earlier.busy),
            niced_s: wall(self.niced, earlier.niced),
            idle_s: wall(self.idle, earlier.idle),
            steal_s: self.steal.zip(earlier.steal).map(|(n, t)| wall(n, t)),
        }
    }
}

/// This process's nice value (the 19th field of `/proc/self/stat`).
pub fn own_nice() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat.get(stat.rfind(')')? + 1..)?.split_whitespace().nth(16)?.parse().ok()
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
    thread: std::thread::JoinHandle<Sampled>,
}

/// What a [`TreeSampler`] saw, and what seeing it cost.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// In time order.
    pub samples: Vec<TreeSample>,
    /// CPU seconds the sampler's own thread used: part of the harness's CPU that a run
    /// without the bench does not spend (every look reads each thread's stat).
    pub own_cpu_s: f64,
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
            let own = std::fs::read_to_string(format!("/proc/{root}/task/{own_tid}/stat")).ok();
            Sampled {
                samples: out,
                own_cpu_s: own.as_deref().and_then(parse_cpu_ticks).map_or(0.0, |t| t as f64 / USER_HZ),
            }
        });
        TreeSampler { stop, thread }
    }

    /// Stops sampling.
    pub fn finish(self) -> Sampled {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// How many cores the machine kept busy lately, for the suite to decide whether a core
/// idles: CPU time from `/proc/stat` over the last half second, everything at normal
/// priority (the harness's tree and any other process: on a CI runner shared with other
/// jobs, a core the harness leaves unused may be another job's, and a cell started into
/// it would slow every scenario's waits) and the hypervisor's steal. Niced background
/// work (a build at `nice 19`) is room: the scheduler gives its core to ours; unless the
/// harness runs niced itself (`nice oc-conform run`), when its own servers' time is niced
/// too. Stops when dropped.
pub struct LoadWatch {
    stop: Arc<AtomicBool>,
    /// The busy cores x 1000, `u32::MAX` until a whole window was seen.
    busy_milli: Arc<AtomicU32>,
}

/// How many looks the window spans.
const WINDOW: usize = 5;

impl LoadWatch {
    pub fn start(interval: Duration, cores: usize) -> LoadWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let busy_milli = Arc::new(AtomicU32::new(u32::MAX));
        let (flag, out) = (stop.clone(), busy_milli.clone());
        std::thread::spawn(move || {
            let niced_is_room = own_nice().is_some_and(|n| n <= 0);
            let mut window = std::collections::VecDeque::with_capacity(WINDOW + 1);
            while !flag.load(Ordering::Relaxed) {
                if let Some(now) = MachineCpu::now() {
                    if window.len() == WINDOW + 1 {
                        window.pop_front();
                    }
                    window.push_back(now);
                    let busy = window.front().filter(|_| window.len() == WINDOW + 1).and_then(|first| now.busy_cores_since(first, cores, niced_is_room));
                    if let Some(busy) = busy {
                        out.store((busy * 1000.0) as u32, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(interval);
            }
        });
        LoadWatch { stop, busy_milli }
    }

    /// Cores kept busy over the last window; none before a whole window was seen.
    pub fn busy_cores(&self) -> Option<f64> {
        match self.busy_milli.load(Ordering::Relaxed) {
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
    fn the_machines_cpu_time_is_read_from_the_cpu_line_of_proc_stat() {
        let stat = "cpu  1762435 2015517 391092 855664 5211 10 4973 204379 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nprocs_running 3\n";
        let cpu = MachineCpu::parse(stat).unwrap();
        assert_eq!(cpu.busy, 1762435 + 391092 + 10 + 4973);
        assert_eq!(cpu.niced, 2015517);
        assert_eq!(cpu.idle, 855664 + 5211);
        assert_eq!(cpu.steal, Some(204379));
        // An old kernel's line without steal; no cpu line at all; a cut line.
        assert_eq!(MachineCpu::parse("cpu  1 2 3 4 5 6 7\n").unwrap().steal, None);
        assert_eq!(MachineCpu::parse("intr 1\n"), None);
        assert_eq!(MachineCpu::parse("cpu  1 2\n"), None);
        // The real file has it, and time passes on it.
        let real = MachineCpu::now().unwrap();
        assert!(real.total() > 0, "{real:?}");
    }

    #[test]
    fn busy_cores_count_normal_work_and_steal_and_leave_niced_work_as_room() {
        let before = MachineCpu { busy: 1000, niced: 500, idle: 2000, steal: Some(10) };
        // 200 ticks over 2 cores: 100 busy, 50 niced, 30 idle, 20 stolen.
        let after = MachineCpu { busy: 1100, niced: 550, idle: 2030, steal: Some(30) };
        let busy = after.busy_cores_since(&before, 2, true).unwrap();
        assert!((busy - 1.2).abs() < 1e-9, "{busy}");
        // The harness niced itself: niced time may be its own, so it is no room.
        let busy = after.busy_cores_since(&before, 2, false).unwrap();
        assert!((busy - 1.7).abs() < 1e-9, "{busy}");
        assert_eq!(after.split_since(&before, 2).steal_s, Some(0.1));
        let split = after.split_since(&before, 2);
        assert_eq!((split.busy_s, split.niced_s, split.idle_s, split.steal_s), (0.5, 0.25, 0.15, Some(0.1)));
        // All idle; no time passed; no steal counted by the kernel.
        let idle = MachineCpu { idle: 2200, ..before };
        assert_eq!(idle.busy_cores_since(&before, 2, true), Some(0.0));
        assert_eq!(before.busy_cores_since(&before, 2, true), None);
        let no_steal = MachineCpu { steal: None, ..after };
        assert_eq!(no_steal.split_since(&before, 2).steal_s, None);
    }

    #[test]
    fn a_spinning_process_is_counted_busy_and_a_niced_one_as_room() {
        // What one spinner at `nice` added to the machine's busy and niced time, and the
        // CPU it had itself (at least a tenth of a second; other processes only add).
        let spin = |nice: &str| {
            let mut child = std::process::Command::new("nice")
                .args(["-n", nice, "sh", "-c", "while :; do :; done"])
                .spawn()
                .unwrap();
            let pid = child.id();
            let ticks = || std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_cpu_ticks);
            let deadline = Instant::now() + Duration::from_secs(20);
            while ticks().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let (first, start) = (MachineCpu::now().unwrap(), ticks().unwrap_or(0));
            while ticks().unwrap_or(0) < start + 10 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let (last, used) = (MachineCpu::now().unwrap(), ticks().unwrap_or(0) - start);
            let _ = child.kill();
            let _ = child.wait();
            (last.busy - first.busy, last.niced - first.niced, used)
        };
        // Ticks are counted per core at each timer tick: allow a little for where the
        // reads fall between them.
        // A child at this test's own priority: counted busy, unless the tests run niced
        // themselves (`nice cargo test`).
        let (busy, niced, used) = spin("0");
        let own_nice = own_nice().unwrap();
        let (grew, column) = if own_nice > 0 { (niced, "niced") } else { (busy, "busy") };
        assert!(used >= 10 && grew + 3 >= used, "a spinner at nice {own_nice} used {used} ticks, the machine's {column} time grew {grew}");
        let (_, niced, used) = spin("19");
        assert!(used >= 10 && niced + 3 >= used, "a nice-19 spinner used {used} ticks, the machine's niced time grew {niced}");
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
