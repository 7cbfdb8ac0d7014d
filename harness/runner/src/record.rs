//! The recorder: where every observer writes, on one monotonic clock, into one timeline.
//! Waiters subscribe to it and re-evaluate their condition on each new entry, so no wait
//! polls on a timer.

use oc_conform_checks::{Observation, Timeline};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Timeline>>,
    start: Instant,
    /// Carries the number of entries; bumped on every push.
    changed: watch::Sender<u64>,
}

impl Recorder {
    pub fn new(scenario: &str, opencode_version: &str) -> Self {
        let (changed, _) = watch::channel(0);
        Recorder {
            inner: Arc::new(Mutex::new(Timeline::new(scenario, opencode_version))),
            start: Instant::now(),
            changed,
        }
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// The run's clock origin, for observers that timestamp on their own.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records an observation now. The timestamp is taken under the lock so entries are
    /// ordered by time.
    pub fn record(&self, obs: Observation) -> u64 {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = t.push(self.now_ms(), obs);
        let len = t.entries.len() as u64;
        drop(t);
        self.changed.send_replace(len);
        seq
    }

    /// Runs `f` on the timeline as it is now.
    pub fn with<R>(&self, f: impl FnOnce(&Timeline) -> R) -> R {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&t)
    }

    /// Changes the timeline's header fields (session id, server pid, ...).
    pub fn update(&self, f: impl FnOnce(&mut Timeline)) {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut t)
    }

    pub fn snapshot(&self) -> Timeline {
        self.with(Clone::clone)
    }

    /// A receiver that wakes on every new entry.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
