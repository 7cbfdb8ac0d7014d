//! Child processes the harness starts, other than opencode servers (npm, `opencode
//! --version`, ...): each runs in a process group of its own, and that whole group is
//! killed on a deadline and whenever its handle is dropped (a caller that gives up on the
//! future, a panic), so no grandchild outlives the harness's interest in it.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// After a child exited, how long its output pipes may stay open (held by a grandchild).
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// Why a child did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not start it: {0}")]
    Spawn(#[source] io::Error),
    #[error("could not wait for it: {0}")]
    Wait(#[source] io::Error),
    /// The deadline passed; the process group was killed.
    #[error("no answer within {deadline:?}: killed")]
    Timeout {
        deadline: Duration,
        /// What it had printed on stderr by then.
        stderr: Vec<u8>,
    },
}

impl ProcessError {
    /// Spawning failed because the program does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcessError::Spawn(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Kills a process group when dropped, unless disarmed. Kept next to the `Child` it
/// belongs to and dropped first, while the leader is still unreaped and its pid cannot
/// name another group.
#[derive(Debug)]
pub struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    /// SIGKILL to the whole group, once.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (the group is gone already) is the outcome wanted.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Sends `signal` to the whole group (it stays armed).
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> nix::Result<()> {
        match self.pgid {
            Some(pgid) => nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal),
            None => Ok(()),
        }
    }

    /// Leaves the group alone from now on.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }

    pub fn pgid(&self) -> Option<i32> {
        self.pgid
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child in its own process group. Dropping it kills the group.
#[derive(Debug)]
pub struct GroupChild {
    // Field order matters: the guard drops (kills) before the child is released.
    pub group: GroupGuard,
    pub child: Child,
}

impl GroupChild {
    /// The leader's pid (also the group's id), while it is not reaped.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the whole group: SIGTERM, then SIGKILL for what is left after `grace` (or
    /// right away for stragglers once the leader exited: a group id is not reused while
    /// any member lives). Returns the leader's exit status.
    pub async fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        // ESRCH: the group is gone already, which is what is wanted.
        let _ = self.group.signal(nix::sys::signal::Signal::SIGTERM);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.group.kill();
                self.child.wait().await
            }
        };
        self.group.kill();
        status
    }
}

/// Spawns `cmd` as the leader of a new process group (stdin closed unless the caller set
/// it), killed with its group when the returned handle drops.
pub async fn spawn_group(cmd: &mut Command) -> Result<GroupChild, ProcessError> {
    cmd.kill_on_drop(true).process_group(0);
    let mut attempt = 0;
    let child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            // A binary written a moment ago can still be open for writing in a child
            // another thread forked meanwhile; that passes quickly.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(ProcessError::Spawn(e)),
        }
    };
    let group = GroupGuard {
        pgid: child.id().and_then(|p| i32::try_from(p).ok()),
    };
    Ok(GroupChild { group, child })
}

/// What a finished child left.
#[derive(Debug)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `cmd` in its own process group with stdin closed and stdout/stderr captured;
/// past `deadline` the whole group gets SIGKILL.
pub async fn run_captured(mut cmd: Command, deadline: Duration) -> Result<Captured, ProcessError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let GroupChild {
        mut group,
        mut child,
    } = spawn_group(&mut cmd).await?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // A read error ends the capture early; what was read so far is what there is.
    let out_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b).await;
        b
    });
    let err_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b).await;
        b
    });
    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(ProcessError::Wait(e)),
        Err(_) => {
            group.kill();
            // Reaping only; the kill above is what ends it.
            let _ = child.wait().await;
            let stderr = tokio::time::timeout(PIPE_GRACE, err_task)
                .await
                .ok()
                .and_then(Result::ok);
            out_task.abort();
            return Err(ProcessError::Timeout {
                deadline,
                stderr: stderr.unwrap_or_default(),
            });
        }
    };
    // The leader is reaped: from here its pid may be reused, so only a straggler that
    // still holds the pipes (and so keeps the group alive) justifies a kill.
    let pipes = async {
        (
            out_task.await.unwrap_or_default(),
            err_task.await.unwrap_or_default(),
        )
    };
    let (stdout, stderr) = match tokio::time::timeout(PIPE_GRACE, pipes).await {
        Ok(both) => both,
        Err(_) => {
            group.kill();
            (Vec::new(), Vec::new())
        }
    };
    group.disarm();
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}

/// `exit 3`, `killed by signal 9`.
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn pid_alive(pid: i32) -> bool {
        // Signal 0 checks existence; a zombie still counts, so look at its state too.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty() && !stat.contains(") Z ")
    }

    /// `probe`'s first answer within 2 s (the processes under test start and end in
    /// milliseconds; a test has nothing to subscribe to, so it looks every 20 ms).
    pub(crate) async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn gone_soon(pid: i32) -> bool {
        eventually(|| (!pid_alive(pid)).then_some(())).await.is_some()
    }

    /// The pid a test's shell wrote into `file`.
    async fn read_pid(file: &std::path::Path) -> Option<i32> {
        eventually(|| std::fs::read_to_string(file).ok()?.trim().parse().ok()).await
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[tokio::test]
    async fn captures_output_and_status() {
        let out = run_captured(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(describe_status(out.status), "exit 3");
        let e = run_captured(Command::new("/no/such/program"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
    }

    #[tokio::test]
    async fn a_deadline_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!(
            "echo started >&2; sleep 300 & echo $! > '{}'; wait",
            pidfile.display()
        );
        let started = std::time::Instant::now();
        let e = run_captured(sh(&script), Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        match &e {
            ProcessError::Timeout { stderr, .. } => assert_eq!(stderr, b"started\n"),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("killed"), "{e}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone_soon(pid).await,
            "the grandchild {pid} outlived the deadline"
        );
    }

    #[tokio::test]
    async fn stop_terms_then_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The leader exits on TERM; its child ignores TERM and is killed as a straggler.
        // Each writes what the test waits for only once its trap is set.
        let straggler = dir.path().join("straggler.sh");
        std::fs::write(
            &straggler,
            "trap '' TERM\necho $$ > \"$1\"\nexec sleep 300\n",
        )
        .unwrap();
        let script = format!(
            "trap 'exit 7' TERM; sh '{}' '{}' & while :; do sleep 0.05; done",
            straggler.display(),
            pidfile.display()
        );
        let mut child = spawn_group(&mut sh(&script)).await.unwrap();
        let pid = read_pid(&pidfile).await.expect("the grandchild started");
        let status = child.stop(Duration::from_secs(5)).await.unwrap();
        assert_eq!(status.code(), Some(7), "{status:?}");
        assert!(gone_soon(pid).await, "the straggler {pid} outlived stop");

        // A leader that ignores TERM is killed when the grace ends.
        let ready = dir.path().join("ready");
        let mut stubborn = spawn_group(&mut sh(&format!(
            "trap '' TERM; touch '{}'; sleep 300",
            ready.display()
        )))
        .await
        .unwrap();
        assert!(eventually(|| ready.exists().then_some(())).await.is_some(), "the TERM trap is set");
        let started = std::time::Instant::now();
        let status = stubborn.stop(Duration::from_millis(300)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(describe_status(status), "killed by signal 9");
    }

    #[tokio::test]
    async fn dropping_the_handle_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut cmd = sh(&format!(
            "sleep 300 & echo $! > '{}'; wait",
            pidfile.display()
        ));
        let child = spawn_group(&mut cmd).await.unwrap();
        let leader = child.child.id().unwrap() as i32;
        assert_eq!(child.group.pgid(), Some(leader));
        let pid = read_pid(&pidfile).await.expect("the grandchild started");
        assert!(pid_alive(pid));
        drop(child);
        assert!(
            gone_soon(pid).await,
            "the grandchild {pid} outlived its handle"
        );
    }
}
