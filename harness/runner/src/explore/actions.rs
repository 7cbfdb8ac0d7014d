//! The explorer's actions, the small reference model of one session that gives each
//! action its precondition, and the seeded generator of action sequences.
//!
//! Pure: no I/O, no clock. The same seed and the same `max_steps` give the same sequence
//! on every machine (the generator draws from [`Rng`], a SplitMix64 stream written here
//! so that no library upgrade can change it).

use serde::{Deserialize, Serialize};

/// A sleep at least this long is still running when an abort arrives (a plugin waits for
/// the tool's process, then 200 ms); shorter ones may be waited out.
pub const LONG_SLEEP_SECS: u32 = 30;
/// The sleep a waited-out tool runs, and what shrinking shortens long sleeps to.
pub const SHORT_SLEEP_SECS: u32 = 2;
/// Sessions a case may create besides its own (numbered 2, 3, ... in creation order).
pub const MAX_EXTRA_SESSIONS: u8 = 2;

/// How a plugin reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// `ctx.client`, the SDK client opencode hands to plugins.
    Client,
    /// A plain `fetch` to `ctx.serverUrl`.
    Serverurl,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Client => "client",
            Via::Serverurl => "serverurl",
        }
    }
}

/// One thing the explorer does to the server. Each compiles to model turns, steps and
/// checks of an ordinary scenario (`compile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum Action {
    /// A prompt whose turn runs bash `sleep secs`; done once the tool's process lives.
    PromptSleep { secs: u32 },
    /// A prompt whose turn runs bash `echo`; done once the session is idle again.
    PromptEcho,
    /// A text-only prompt; done once the session is idle again.
    PromptText,
    /// A prompt whose bash call asks a permission; done once `permission.asked` is seen.
    PromptAsk,
    /// A second prompt while the tool runs (opencode queues it).
    PromptWhileBusy,
    /// `POST /session/{id}/abort`.
    AbortHttp,
    /// A plugin aborts the running tool (it acts on the tool's start, so this comes right
    /// after the prompt that started it).
    AbortPlugin { via: Via },
    /// `POST /permission/{id}/reply` with `once`.
    ReplyHttp,
    /// A plugin answers the permission (it acts on `permission.asked`, so this comes right
    /// after the prompt that asked).
    ReplyPlugin { via: Via },
    /// `POST /instance/dispose` of the case's project directory.
    DisposeInstance,
    /// A custom command (`POST /session/{id}/command`) whose template is a text prompt;
    /// the call returns when its turn ends.
    Command,
    /// `POST /session`: one more session in the case's project, numbered by creation
    /// (the case's own session is 1).
    NewSession,
    /// A text-only turn in session `session` (synchronous `POST /session/{id}/message`).
    PromptIn { session: u8 },
    /// `DELETE /session/{id}` of session `session`.
    DeleteSession { session: u8 },
    /// One more client of the project's `/event` stream, open until `close-subscriber`.
    OpenSubscriber,
    CloseSubscriber,
    /// Wait until the session is idle (a short tool ends on its own).
    WaitIdle,
    /// Wait until nothing new is observed for half a second.
    WaitQuiet,
}

impl Action {
    /// The action's kind, as fingerprints and reports name it.
    pub fn kind(&self) -> String {
        match self {
            Action::PromptSleep { secs } => format!("prompt-sleep-{secs}"),
            Action::PromptEcho => "prompt-echo".into(),
            Action::PromptText => "prompt-text".into(),
            Action::PromptAsk => "prompt-ask".into(),
            Action::PromptWhileBusy => "prompt-while-busy".into(),
            Action::AbortHttp => "abort-http".into(),
            Action::AbortPlugin { via } => format!("abort-plugin-{}", via.name()),
            Action::ReplyHttp => "reply-http".into(),
            Action::ReplyPlugin { via } => format!("reply-plugin-{}", via.name()),
            Action::DisposeInstance => "dispose-instance".into(),
            Action::Command => "command".into(),
            Action::NewSession => "new-session".into(),
            Action::PromptIn { session } => format!("prompt-in-session-{session}"),
            Action::DeleteSession { session } => format!("delete-session-{session}"),
            Action::OpenSubscriber => "open-subscriber".into(),
            Action::CloseSubscriber => "close-subscriber".into(),
            Action::WaitIdle => "wait-idle".into(),
            Action::WaitQuiet => "wait-quiet".into(),
        }
    }

    /// Starts a turn of the case's own session (what the checks judge).
    pub fn is_prompt(&self) -> bool {
        matches!(
            self,
            Action::PromptSleep { .. }
                | Action::PromptEcho
                | Action::PromptText
                | Action::PromptAsk
                | Action::PromptWhileBusy
                | Action::Command
        )
    }

    /// Has a scripted model turn (a prompt of any session).
    pub fn has_turn(&self) -> bool {
        self.is_prompt() || matches!(self, Action::PromptIn { .. })
    }

    /// The further session the action acts on, if any.
    pub fn other_session(&self) -> Option<u8> {
        match self {
            Action::PromptIn { session } | Action::DeleteSession { session } => Some(*session),
            _ => None,
        }
    }

    /// The same action on further session `n` (itself when it acts on none).
    pub fn in_session(&self, n: u8) -> Action {
        match self {
            Action::PromptIn { .. } => Action::PromptIn { session: n },
            Action::DeleteSession { .. } => Action::DeleteSession { session: n },
            other => *other,
        }
    }

    /// Every action the generator may draw (parameters included).
    pub fn all() -> Vec<Action> {
        vec![
            Action::PromptSleep { secs: SHORT_SLEEP_SECS },
            Action::PromptSleep { secs: LONG_SLEEP_SECS },
            Action::PromptEcho,
            Action::PromptText,
            Action::PromptAsk,
            Action::PromptWhileBusy,
            Action::AbortHttp,
            Action::AbortPlugin { via: Via::Client },
            Action::AbortPlugin { via: Via::Serverurl },
            Action::ReplyHttp,
            Action::ReplyPlugin { via: Via::Client },
            Action::ReplyPlugin { via: Via::Serverurl },
            Action::DisposeInstance,
            Action::Command,
            Action::NewSession,
            Action::PromptIn { session: 2 },
            Action::PromptIn { session: 3 },
            Action::DeleteSession { session: 2 },
            Action::DeleteSession { session: 3 },
            Action::OpenSubscriber,
            Action::CloseSubscriber,
            Action::WaitIdle,
            Action::WaitQuiet,
        ]
    }
}

/// What the reference model says the session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Idle,
    /// The bash tool runs `sleep secs`. `fresh`: nothing happened since the prompt that
    /// started it (a plugin acting on the tool's start belongs here); `queued`: a second
    /// prompt waits behind it.
    ToolRunning { secs: u32, fresh: bool, queued: bool },
    /// A permission request is pending; `fresh` as above.
    PermissionPending { fresh: bool },
}

impl Session {
    /// The same state, with something having happened since its prompt.
    fn stale(self) -> Session {
        match self {
            Session::Idle => Session::Idle,
            Session::ToolRunning { secs, queued, .. } => Session::ToolRunning { secs, fresh: false, queued },
            Session::PermissionPending { .. } => Session::PermissionPending { fresh: false },
        }
    }
}

/// The reference model of a case: its own session (what each action requires of it and
/// leads it to), the further sessions it created and the extra event subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub session: Session,
    /// Further sessions created so far: they are numbered 2 ..= created + 1.
    pub created: u8,
    /// Which of them are not deleted (bit `n - 2` for session `n`).
    pub open_sessions: u8,
    /// The extra `/event` subscriber is open.
    pub subscriber: bool,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            session: Session::Idle,
            created: 0,
            open_sessions: 0,
            subscriber: false,
        }
    }
}

impl Model {
    /// Session `n` (2, 3, ...) was created and not deleted.
    pub fn is_open(&self, n: u8) -> bool {
        n >= 2 && n < 2 + self.created && self.open_sessions & (1 << (n - 2)) != 0
    }

    /// The action's precondition.
    pub fn enabled(&self, a: &Action) -> bool {
        use Session::*;
        match (a, self.session) {
            (Action::NewSession, _) => self.created < MAX_EXTRA_SESSIONS,
            (Action::PromptIn { session } | Action::DeleteSession { session }, _) => self.is_open(*session),
            (Action::OpenSubscriber, _) => !self.subscriber,
            (Action::CloseSubscriber, _) => self.subscriber,
            (Action::Command, s) => s == Idle,
            (Action::PromptSleep { .. } | Action::PromptEcho | Action::PromptText | Action::PromptAsk, s) => s == Idle,
            (Action::PromptWhileBusy, ToolRunning { queued, .. }) => !queued,
            (Action::PromptWhileBusy, _) => false,
            (Action::AbortHttp | Action::DisposeInstance, _) => true,
            (Action::AbortPlugin { .. }, ToolRunning { secs, fresh, .. }) => fresh && secs >= LONG_SLEEP_SECS,
            (Action::AbortPlugin { .. }, _) => false,
            (Action::ReplyHttp, PermissionPending { .. }) => true,
            (Action::ReplyPlugin { .. }, PermissionPending { fresh }) => fresh,
            (Action::ReplyHttp | Action::ReplyPlugin { .. }, _) => false,
            (Action::WaitIdle, ToolRunning { secs, .. }) => secs < LONG_SLEEP_SECS,
            (Action::WaitIdle, _) => false,
            (Action::WaitQuiet, s) => s == Idle,
        }
    }

    /// What the action leads to (its precondition holds).
    pub fn apply(&mut self, a: &Action) {
        use Session::*;
        // What other sessions and clients do leaves the case's session as it was, but no
        // longer right after its prompt.
        match a {
            Action::NewSession => {
                self.open_sessions |= 1 << self.created;
                self.created += 1;
            }
            Action::DeleteSession { session } => self.open_sessions &= !(1 << (session - 2)),
            Action::OpenSubscriber => self.subscriber = true,
            Action::CloseSubscriber => self.subscriber = false,
            _ => {}
        }
        self.session = match (a, self.session) {
            (
                Action::NewSession
                | Action::PromptIn { .. }
                | Action::DeleteSession { .. }
                | Action::OpenSubscriber
                | Action::CloseSubscriber,
                s,
            ) => s.stale(),
            (Action::PromptSleep { secs }, _) => ToolRunning {
                secs: *secs,
                fresh: true,
                queued: false,
            },
            (Action::PromptAsk, _) => PermissionPending { fresh: true },
            (Action::PromptWhileBusy, ToolRunning { secs, .. }) => ToolRunning {
                secs,
                fresh: false,
                queued: true,
            },
            (Action::PromptWhileBusy, s) => s,
            (
                Action::PromptEcho
                | Action::PromptText
                | Action::AbortHttp
                | Action::AbortPlugin { .. }
                | Action::ReplyHttp
                | Action::ReplyPlugin { .. }
                | Action::DisposeInstance
                | Action::Command
                | Action::WaitIdle
                | Action::WaitQuiet,
                _,
            ) => Idle,
        };
    }

    /// Whether a case may end here: the epilogue's waits reach idle (a long tool or a
    /// pending permission would keep the session busy past them).
    pub fn settled(&self) -> bool {
        match self.session {
            Session::Idle => true,
            Session::ToolRunning { secs, .. } => secs < LONG_SLEEP_SECS,
            Session::PermissionPending { .. } => false,
        }
    }
}

/// Why a sequence is not a case: the first action whose precondition fails, or an end the
/// epilogue cannot settle.
pub fn check_sequence(actions: &[Action]) -> Result<(), String> {
    if !actions.iter().any(Action::is_prompt) {
        return Err("no prompt: nothing for the checks to judge".into());
    }
    let mut m = Model::default();
    for (i, a) in actions.iter().enumerate() {
        if !m.enabled(a) {
            return Err(format!("action {} ({}) is not enabled in {:?}", i + 1, a.kind(), m.session));
        }
        m.apply(a);
    }
    if !m.settled() {
        return Err(format!("the case ends in {:?}, which does not settle", m.session));
    }
    Ok(())
}

pub fn is_case(actions: &[Action]) -> bool {
    check_sequence(actions).is_ok()
}

/// SplitMix64: a small, fixed pseudo-random stream (the generator's contract is "same
/// seed, same sequence", so its algorithm is part of the format).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The seed of case `index` of an exploration seeded with `seed`.
pub fn case_seed(seed: u64, index: u64) -> u64 {
    Rng::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// How likely the generator draws `a` where it is enabled. Plugin actions are drawn often:
/// they are only enabled right after their prompt. So are the actions on a further
/// session: they are only enabled once one was created, late in a case of at most a few
/// actions. At weight 1 a created session was deleted in 12% of the cases that created
/// one (seeds `case_seed(1, 0..4000)`, 6 steps), so the explorer hardly ever deleted a
/// session while its own was busy; at 4 (with prompts in it at 2), 32%.
fn weight(a: &Action) -> u64 {
    match a {
        Action::DeleteSession { .. } => 4,
        Action::AbortPlugin { .. } | Action::ReplyPlugin { .. } => 3,
        Action::PromptSleep { .. } | Action::PromptAsk | Action::AbortHttp | Action::ReplyHttp => 2,
        Action::PromptIn { .. } => 2,
        Action::DisposeInstance | Action::WaitQuiet => 1,
        Action::PromptEcho | Action::PromptText | Action::PromptWhileBusy | Action::WaitIdle => 1,
        Action::Command | Action::NewSession => 1,
        Action::OpenSubscriber | Action::CloseSubscriber => 1,
    }
}

/// The action that settles `m` (ends a long tool, answers a permission), if it needs one.
fn settling_action(m: &Model) -> Option<Action> {
    match m.session {
        Session::Idle => None,
        Session::ToolRunning { .. } => (!m.settled()).then_some(Action::AbortHttp),
        Session::PermissionPending { .. } => Some(Action::ReplyHttp),
    }
}

/// One case: 1 to `max_steps` actions (at least 2 when a settling action is needed),
/// starting with a prompt, each enabled in the model, ending settled.
pub fn generate(seed: u64, max_steps: usize) -> Vec<Action> {
    let max_steps = max_steps.max(2);
    let mut rng = Rng::new(seed);
    let length = 1 + rng.below(max_steps as u64) as usize;
    let mut m = Model::default();
    let mut out: Vec<Action> = Vec::new();
    while out.len() < length {
        // Leave room for the action that settles the case.
        let room = max_steps - out.len();
        let choices: Vec<Action> = Action::all()
            .into_iter()
            .filter(|a| m.enabled(a) && (out.len() > 0 || a.is_prompt()))
            .filter(|a| {
                let mut next = m;
                next.apply(a);
                room > 1 || next.settled()
            })
            .collect();
        let total: u64 = choices.iter().map(weight).sum();
        if total == 0 {
            break;
        }
        let mut pick = rng.below(total);
        let Some(chosen) = choices.iter().find(|a| {
            let w = weight(a);
            if pick < w {
                true
            } else {
                pick -= w;
                false
            }
        }) else {
            break;
        };
        m.apply(chosen);
        out.push(*chosen);
    }
    if let Some(a) = settling_action(&m) {
        out.push(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_same_seed_gives_the_same_case_and_seeds_differ() {
        assert_eq!(generate(42, 6), generate(42, 6));
        let distinct: std::collections::BTreeSet<Vec<Action>> = (0..50).map(|i| generate(case_seed(7, i), 6)).collect();
        assert!(distinct.len() > 25, "{} distinct cases of 50", distinct.len());
        // Pinned: the stream is part of the contract (a changed generator changes this).
        assert_eq!(super::Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn plugin_actions_need_their_fresh_prompt() {
        let client = Action::AbortPlugin { via: Via::Client };
        assert!(is_case(&[Action::PromptSleep { secs: LONG_SLEEP_SECS }, client]));
        assert!(!is_case(&[Action::PromptSleep { secs: SHORT_SLEEP_SECS }, client]));
        assert!(!is_case(&[Action::PromptSleep { secs: LONG_SLEEP_SECS }, Action::PromptWhileBusy, client, ]));
        assert!(is_case(&[Action::PromptAsk, Action::ReplyPlugin { via: Via::Serverurl }]));
        assert!(!is_case(&[Action::PromptAsk]), "a pending permission does not settle");
        assert!(!is_case(&[Action::PromptSleep { secs: LONG_SLEEP_SECS }]), "a long tool does not settle");
        assert!(is_case(&[Action::PromptSleep { secs: SHORT_SLEEP_SECS }]));
        assert!(!is_case(&[Action::AbortHttp]), "a case prompts");
        assert!(!is_case(&[Action::PromptText, Action::ReplyHttp]));
    }

    #[test]
    fn session_and_subscriber_actions_need_what_they_act_on() {
        let text = Action::PromptText;
        assert!(is_case(&[text, Action::NewSession, Action::PromptIn { session: 2 }, Action::DeleteSession { session: 2 }]));
        assert!(!is_case(&[text, Action::PromptIn { session: 2 }]), "no session 2 yet");
        assert!(!is_case(&[text, Action::NewSession, Action::DeleteSession { session: 2 }, Action::PromptIn { session: 2 }]), "deleted");
        assert!(!is_case(&[text, Action::NewSession, Action::DeleteSession { session: 3 }]), "only session 2 exists");
        assert!(!is_case(&[text, Action::NewSession, Action::NewSession, Action::NewSession]), "at most two further sessions");
        assert!(is_case(&[text, Action::NewSession, Action::NewSession, Action::DeleteSession { session: 3 }]));
        assert!(is_case(&[text, Action::OpenSubscriber, Action::CloseSubscriber, Action::OpenSubscriber]), "may end open");
        assert!(!is_case(&[text, Action::CloseSubscriber]));
        assert!(!is_case(&[text, Action::OpenSubscriber, Action::OpenSubscriber]), "one extra subscriber at a time");
        // A command is a turn of the case's session: only when idle, and it ends idle.
        assert!(is_case(&[Action::Command, Action::WaitQuiet]));
        assert!(!is_case(&[Action::PromptSleep { secs: SHORT_SLEEP_SECS }, Action::Command]));
        // Whatever happens in between, a plugin action no longer follows its prompt.
        let long = Action::PromptSleep { secs: LONG_SLEEP_SECS };
        assert!(!is_case(&[long, Action::NewSession, Action::AbortPlugin { via: Via::Client }]));
        assert!(!is_case(&[long, Action::OpenSubscriber, Action::AbortPlugin { via: Via::Client }]));
        // Another session's turn leaves the case's session as it was.
        assert!(is_case(&[long, Action::NewSession, Action::PromptIn { session: 2 }, Action::PromptWhileBusy, Action::AbortHttp]));
        assert!(!is_case(&[long, Action::NewSession, Action::PromptIn { session: 2 }]), "the long tool still runs");
    }

    #[test]
    fn generation_reaches_every_action() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            for a in generate(case_seed(1, i), 8) {
                seen.insert(a.kind());
            }
        }
        let all: std::collections::BTreeSet<String> = Action::all().iter().map(Action::kind).collect();
        assert_eq!(seen, all);
    }

    /// The share of the cases that create a further session and also act on it: deleting
    /// it (to see a session deleted beside a busy one) and prompting in it.
    #[test]
    fn a_created_session_is_often_deleted_and_prompted_in() {
        let cases: Vec<Vec<Action>> = (0..4000)
            .map(|i| generate(case_seed(1, i), 6))
            .filter(|c| c.contains(&Action::NewSession))
            .collect();
        let with = |kind: fn(&Action) -> bool| cases.iter().filter(|c| c.iter().any(kind)).count();
        let deleted = with(|a| matches!(a, Action::DeleteSession { .. }));
        let prompted = with(|a| matches!(a, Action::PromptIn { .. }));
        assert!(cases.len() > 500, "{} cases create a session", cases.len());
        assert!(deleted * 10 >= cases.len() * 3, "{deleted} of {} delete it", cases.len());
        assert!(prompted * 10 >= cases.len(), "{prompted} of {} prompt in it", cases.len());
    }

    proptest! {
        #[test]
        fn every_generated_case_is_valid_and_bounded(seed in any::<u64>(), max in 1usize..12) {
            let case = generate(seed, max);
            prop_assert!(check_sequence(&case).is_ok(), "{:?}: {:?}", case, check_sequence(&case));
            prop_assert!(case.len() <= max.max(2));
            prop_assert!(case[0].is_prompt());
        }

        // An oracle written apart from the model: in every generated case, each action on a
        // further session names one created before it and not deleted, no session is
        // created past the limit, and the extra subscriber is opened and closed in turn.
        #[test]
        fn generated_session_and_subscriber_actions_are_well_formed(seed in any::<u64>(), max in 1usize..12) {
            let case = generate(seed, max);
            let mut sessions: Vec<bool> = Vec::new();
            let mut subscriber = false;
            for a in &case {
                match a {
                    Action::NewSession => sessions.push(true),
                    Action::PromptIn { session } | Action::DeleteSession { session } => {
                        let i = usize::from(*session) - 2;
                        prop_assert!(sessions.get(i) == Some(&true), "{:?}: session {} is not open", case, session);
                        if matches!(a, Action::DeleteSession { .. }) {
                            sessions[i] = false;
                        }
                    }
                    Action::OpenSubscriber => { prop_assert!(!subscriber); subscriber = true; }
                    Action::CloseSubscriber => { prop_assert!(subscriber); subscriber = false; }
                    _ => {}
                }
            }
            prop_assert!(sessions.len() <= usize::from(MAX_EXTRA_SESSIONS));
        }
    }
}
