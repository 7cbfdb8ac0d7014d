//! A simulated server for the explorer's own tests: pure, with injected bugs (the
//! plugin-client abort of opencode 1.14.51 to 1.17.6 that does not take effect; an
//! invented one across sessions, to exercise the session actions and their shrinking).

use super::actions::{Action, Model, Session, Via};
use super::fingerprint::Fingerprint;

/// The failing checks of `abort-plugin-client` on the releases with the bug.
pub const ABORT_PLUGIN_CLIENT_BUG: &[&str] = &[
    "idle-event-matches-status",
    "idle-has-no-tool-process",
    "quiet-after-idle",
    "status-reaches-idle",
    "tool-ends-aborted",
];

pub struct FakeServer {
    bug: &'static [&'static str],
    /// 0: the bug shows on every run; n: only on runs whose number is not a multiple of n.
    flaky_every: u64,
    /// An HTTP abort publishes the idle pair twice (a known failure), when set.
    duplicate_idle: bool,
    /// A turn in another session while the case's tool runs leaves the case's session
    /// busy (an invented bug), when set.
    cross_session: bool,
}

/// What the invented cross-session bug fails.
pub const CROSS_SESSION_BUG: &[&str] = &["status-reaches-idle"];

impl FakeServer {
    pub fn with_bug(bug: &'static [&'static str], flaky_every: u64) -> FakeServer {
        FakeServer {
            bug,
            flaky_every,
            duplicate_idle: false,
            cross_session: false,
        }
    }

    /// Only the cross-session bug.
    pub fn with_cross_session_bug() -> FakeServer {
        FakeServer {
            cross_session: true,
            ..FakeServer::with_bug(&[], 0)
        }
    }

    pub fn with_duplicate_idle(mut self) -> FakeServer {
        self.duplicate_idle = true;
        self
    }

    /// The fingerprint run `run` of `actions` fails with; none: it passes.
    pub fn play(&self, actions: &[Action], run: u64) -> Option<Fingerprint> {
        let mut failed: Vec<&str> = Vec::new();
        let shows = self.flaky_every == 0 || run % self.flaky_every != 0;
        // The plugin's abort does not take effect, unless something later ends the tool.
        if let Some(at) = actions.iter().position(|a| *a == Action::AbortPlugin { via: Via::Client }) {
            let ended_later = actions[at..].iter().any(|a| matches!(a, Action::AbortHttp | Action::DisposeInstance));
            if shows && !ended_later {
                failed.extend(self.bug);
            }
        }
        if self.cross_session {
            // The model says what runs when: the other session's turn meets a live tool.
            let mut m = Model::default();
            let mut hit = false;
            for a in actions {
                hit |= matches!(a, Action::PromptIn { .. }) && matches!(m.session, Session::ToolRunning { .. });
                m.apply(a);
            }
            if hit {
                failed.extend(CROSS_SESSION_BUG);
            }
        }
        if self.duplicate_idle && actions.contains(&Action::AbortHttp) {
            failed.push("one-idle-per-busy");
        }
        (!failed.is_empty()).then(|| Fingerprint::of(&failed))
    }
}
