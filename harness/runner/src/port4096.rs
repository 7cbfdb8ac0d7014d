//! Port 4096: `opencode serve --port 0` binds it when it is free, else a random port. The
//! harness's own servers stay off it (a listener the harness holds on it while each of them
//! starts), so that the `port-zero-server-url` scenarios decide for themselves whether
//! their server finds 4096 free or busy, whatever else of the run is starting.

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

pub const PORT: u16 = 4096;

/// How long a free start waits for 4096 to be let go: a scenario's server holds it for
/// the scenario's run (seconds), a plugin-started one until the scenario's teardown.
const FREE_WAIT: Duration = Duration::from_secs(60);
/// How often it looks meanwhile.
const FREE_POLL: Duration = Duration::from_millis(100);

/// What a server start needs of port 4096.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PortUse {
    /// Busy while the server starts (the harness's listener, or whoever holds it): every
    /// server of the harness, and the `busy` variant.
    #[default]
    Busy,
    /// Free while the server starts: no other start of this harness runs meanwhile.
    Free,
}

/// Held from just before a server is spawned until its listening line.
pub enum StartGuard {
    Busy(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Free(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

fn starts() -> std::sync::Arc<RwLock<()>> {
    static STARTS: std::sync::OnceLock<std::sync::Arc<RwLock<()>>> = std::sync::OnceLock::new();
    STARTS.get_or_init(Default::default).clone()
}

/// How many starts hold the harness's listener on 4096, and the listener (none when
/// someone else holds the port: it is busy all the same).
static HELD: Mutex<(usize, Option<TcpListener>)> = Mutex::new((0, None));

fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", PORT))
}

impl StartGuard {
    /// Waits for its turn, then makes port 4096 what `want` says for the start. `Free`
    /// fails when something outside this harness holds the port: the caller cannot judge.
    pub async fn acquire(want: PortUse) -> Result<StartGuard, String> {
        match want {
            PortUse::Busy => {
                let g = starts().read_owned().await;
                let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
                held.0 += 1;
                if held.1.is_none() {
                    held.1 = bind().ok();
                }
                Ok(StartGuard::Busy(g))
            }
            PortUse::Free => {
                // Another server may hold 4096 for a while: one of this run's (a free
                // start's, which keeps the port for its life, or one a plugin started),
                // or someone else's. Wait for it to be let go, bounded.
                let deadline = Instant::now() + FREE_WAIT;
                loop {
                    let g = starts().write_owned().await;
                    let err = match bind() {
                        Ok(l) => {
                            drop(l);
                            return Ok(StartGuard::Free(g));
                        }
                        Err(e) => e,
                    };
                    drop(g);
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "port {PORT} stayed in use for {} s ({err}): a server cannot find it free, so this scenario cannot judge",
                            FREE_WAIT.as_secs()
                        ));
                    }
                    tokio::time::sleep(FREE_POLL).await;
                }
            }
        }
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let StartGuard::Busy(_) = self {
            let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
            held.0 = held.0.saturating_sub(1);
            if held.0 == 0 {
                held.1 = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests here bind 4096 themselves.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn busy_starts_hold_the_port_and_a_free_start_waits_for_them() {
        let _one = ONE_AT_A_TIME.lock().await;
        let Ok(probe) = bind() else {
            eprintln!("port {PORT} is in use on this machine: skipped");
            return;
        };
        drop(probe);
        let a = StartGuard::acquire(PortUse::Busy).await.unwrap();
        let b = StartGuard::acquire(PortUse::Busy).await.unwrap();
        assert!(bind().is_err(), "held while starts run");
        drop(a);
        assert!(bind().is_err(), "still held by the second start");
        let free = tokio::spawn(StartGuard::acquire(PortUse::Free));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!free.is_finished(), "a free start waits for the busy ones");
        drop(b);
        let g = free.await.unwrap().unwrap();
        assert!(bind().is_ok(), "free for the free start");
        drop(g);
    }

    #[tokio::test]
    async fn a_free_start_waits_for_a_server_that_holds_the_port_to_let_it_go() {
        let _one = ONE_AT_A_TIME.lock().await;
        let Ok(holder) = bind() else {
            eprintln!("port {PORT} is in use on this machine: skipped");
            return;
        };
        // Another server of the run holds 4096 (not through a start guard).
        let mut free = tokio::spawn(StartGuard::acquire(PortUse::Free));
        // Five of its looks: it must not go ahead while the port is held.
        let early = tokio::time::timeout(FREE_POLL * 5, &mut free).await;
        assert!(early.is_err(), "a free start went ahead while the port was held");
        drop(holder);
        let got = tokio::time::timeout(Duration::from_secs(10), free).await;
        assert!(got.is_ok_and(|g| g.unwrap().is_ok()), "still waiting after the port was let go");
    }
}
