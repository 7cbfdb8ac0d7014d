//! Shrinking a failing case: smaller candidates in a fixed order (chunks deleted from the
//! end first, then single actions, then simplifications), each kept only when whoever
//! plays it says it reproduced the same fingerprint. The caller plays (k runs on a real
//! server, or a simulation in tests) and owns the time budget; this is the bookkeeping.

use super::actions::{is_case, Action, LONG_SLEEP_SECS, SHORT_SLEEP_SECS};
use super::fingerprint::Fingerprint;
use super::report::CaseVerdict;
use serde::{Deserialize, Serialize};

/// One candidate: the sequence and how it was made from the current best.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub actions: Vec<Action>,
    /// `delete actions 5-6`, `delete action 2`, `shorten sleep of action 1`.
    pub how: String,
}

/// The candidates smaller than `actions`, in the order they are tried; only valid cases.
pub fn candidates(actions: &[Action]) -> Vec<Candidate> {
    let n = actions.len();
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |actions: Vec<Action>, how: String| {
        if is_case(&actions) && !out.iter().any(|c| c.actions == actions) {
            out.push(Candidate { actions, how });
        }
    };
    let without = |from: usize, to: usize| -> Vec<Action> {
        actions[..from].iter().chain(&actions[to..]).copied().collect()
    };
    // Chunks, largest first, from the end.
    let mut size = n / 2;
    while size >= 2 {
        let mut end = n;
        while end >= size {
            push(without(end - size, end), format!("delete actions {}-{}", end - size + 1, end));
            end -= size;
        }
        size /= 2;
    }
    for i in (0..n).rev() {
        push(without(i, i + 1), format!("delete action {} ({})", i + 1, actions[i].kind()));
    }
    // A plugin action and the prompt it acts on go together.
    for i in (0..n.saturating_sub(1)).rev() {
        push(without(i, i + 2), format!("delete actions {}-{}", i + 1, i + 2));
    }
    // A reply goes with the asking prompt it answers, however far apart (neither can go
    // alone: a reply needs a pending request, and an unanswered one changes the rest).
    for j in (0..n).rev() {
        if matches!(actions[j], Action::ReplyHttp | Action::ReplyPlugin { .. }) {
            if let Some(i) = actions[..j].iter().rposition(|a| *a == Action::PromptAsk) {
                let pair: Vec<Action> =
                    actions.iter().enumerate().filter(|(k, _)| *k != i && *k != j).map(|(_, a)| *a).collect();
                push(pair, format!("delete action {} (prompt-ask) with its reply, action {}", i + 1, j + 1));
            }
        }
    }
    // Fewer sessions: a further session goes with everything done in it.
    let created = actions.iter().filter(|a| **a == Action::NewSession).count() as u8;
    for n in (2..2 + created).rev() {
        push(without_session(actions, n), format!("drop session {n} and its actions"));
    }
    for (i, a) in actions.iter().enumerate() {
        if let Action::PromptSleep { secs } = a {
            if *secs >= LONG_SLEEP_SECS {
                let mut shorter = actions.to_vec();
                shorter[i] = Action::PromptSleep { secs: SHORT_SLEEP_SECS };
                push(shorter, format!("shorten the sleep of action {}", i + 1));
            }
        }
        if matches!(a, Action::PromptEcho | Action::PromptAsk) {
            let mut simpler = actions.to_vec();
            simpler[i] = Action::PromptText;
            push(simpler, format!("make action {} a text-only prompt", i + 1));
        }
    }
    out
}

/// `actions` without further session `n`: its `new-session` (the `n - 1`th), the
/// actions in it, and the sessions created after it numbered one less.
pub fn without_session(actions: &[Action], n: u8) -> Vec<Action> {
    let mut made = 1u8;
    actions
        .iter()
        .filter_map(|a| match a {
            Action::NewSession => {
                made += 1;
                (made != n).then_some(Action::NewSession)
            }
            other => match other.other_session() {
                Some(s) if s == n => None,
                Some(s) => Some(other.in_session(if s > n { s - 1 } else { s })),
                None => Some(*other),
            },
        })
        .collect()
}

/// One kept shrink step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrinkStep {
    pub how: String,
    pub actions: Vec<Action>,
}

/// The shrinker's state: the smallest reproducing case so far and what is left to try.
#[derive(Debug, Clone)]
pub struct Shrinker {
    best: Vec<Action>,
    queue: std::collections::VecDeque<Candidate>,
    pub steps: Vec<ShrinkStep>,
    /// Candidates played (kept or not).
    pub tried: usize,
}

impl Shrinker {
    pub fn new(failing: &[Action]) -> Shrinker {
        Shrinker {
            best: failing.to_vec(),
            queue: candidates(failing).into(),
            steps: Vec::new(),
            tried: 0,
        }
    }

    pub fn best(&self) -> &[Action] {
        &self.best
    }

    /// The next candidate to play; none: the best is minimal (no smaller one reproduces).
    pub fn next_candidate(&mut self) -> Option<Candidate> {
        let c = self.queue.pop_front()?;
        self.tried += 1;
        Some(c)
    }

    /// What playing `c` showed: a candidate that reproduced becomes the best, and the
    /// search starts over from it.
    pub fn record(&mut self, c: Candidate, reproduced: bool) {
        if reproduced {
            self.queue = candidates(&c.actions).into();
            self.steps.push(ShrinkStep {
                how: c.how,
                actions: c.actions.clone(),
            });
            self.best = c.actions;
        }
    }
}

/// What the runs of a shrink candidate showed, against the fingerprint being shrunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateShowed {
    /// Every run failed with that fingerprint: the candidate reproduces it.
    Same,
    /// Every run failed as one *known* failure, another fingerprint: the case reduces to
    /// that known bug (an action the candidate left out made it look new).
    KnownInstead(Fingerprint),
    /// Anything else: passes, no verdict, new fingerprints, runs that disagree.
    Other,
}

/// [`CandidateShowed`] of the runs so far, each its verdict and fingerprint.
pub fn candidate_showed(target: &Fingerprint, runs: &[(CaseVerdict, Option<Fingerprint>)]) -> CandidateShowed {
    let same = |(v, fp): &(CaseVerdict, Option<Fingerprint>)| {
        fp.as_ref() == Some(target) && matches!(v, CaseVerdict::New | CaseVerdict::Known)
    };
    if runs.iter().all(same) {
        return CandidateShowed::Same;
    }
    match runs.first() {
        Some((CaseVerdict::Known, Some(fp)))
            if fp != target && runs.iter().all(|(v, f)| *v == CaseVerdict::Known && f.as_ref() == Some(fp)) =>
        {
            CandidateShowed::KnownInstead(fp.clone())
        }
        _ => CandidateShowed::Other,
    }
}

/// Shrinks `failing` with a synchronous `reproduces` (k runs folded in by the caller),
/// trying at most `max_tries` candidates.
pub fn shrink_with(failing: &[Action], max_tries: usize, mut reproduces: impl FnMut(&[Action]) -> bool) -> Shrinker {
    let mut s = Shrinker::new(failing);
    while s.tried < max_tries {
        let Some(c) = s.next_candidate() else { break };
        let ok = reproduces(&c.actions);
        s.record(c, ok);
    }
    s
}

/// `reproduces` holds in each of `k` runs (stopping at the first that does not).
pub fn k_of_k(k: u32, mut run_reproduces: impl FnMut() -> bool) -> bool {
    (0..k.max(1)).all(|_| run_reproduces())
}

#[cfg(test)]
mod tests {
    use super::super::actions::{case_seed, generate, Via};
    use super::super::sim::{FakeServer, ABORT_PLUGIN_CLIENT_BUG};
    use super::*;

    #[test]
    fn a_candidate_that_fails_as_a_known_bug_every_time_reduces_to_it() {
        let fp = |s: &str| Fingerprint::of(&s.split('+').map(str::to_string).collect::<Vec<_>>());
        let target = fp("idle-event-matches-status+one-idle-per-busy");
        let known = fp("idle-event-matches-status+status-reaches-idle+tool-ends-aborted");
        let run = |v, f: &Fingerprint| (v, Some(f.clone()));
        use CaseVerdict::*;
        assert_eq!(candidate_showed(&target, &[run(New, &target), run(New, &target)]), CandidateShowed::Same);
        assert_eq!(candidate_showed(&target, &[run(Known, &target)]), CandidateShowed::Same);
        assert_eq!(
            candidate_showed(&target, &[run(Known, &known), run(Known, &known)]),
            CandidateShowed::KnownInstead(known.clone())
        );
        // Not every run, another new fingerprint, a pass, or no verdict: nothing to say.
        assert_eq!(candidate_showed(&target, &[run(Known, &known), run(New, &target)]), CandidateShowed::Other);
        assert_eq!(candidate_showed(&target, &[run(New, &known)]), CandidateShowed::Other);
        assert_eq!(candidate_showed(&target, &[(Pass, None)]), CandidateShowed::Other);
        assert_eq!(candidate_showed(&target, &[run(Error, &known)]), CandidateShowed::Other);
        let other_known = fp("one-idle-per-busy");
        assert_eq!(candidate_showed(&target, &[run(Known, &known), run(Known, &other_known)]), CandidateShowed::Other);
    }

    #[test]
    fn chunks_from_the_end_come_first() {
        let a = [
            Action::PromptText,
            Action::PromptEcho,
            Action::PromptText,
            Action::WaitQuiet,
        ];
        let c = candidates(&a);
        assert_eq!(c[0].how, "delete actions 3-4");
        assert_eq!(c[0].actions, vec![Action::PromptText, Action::PromptEcho]);
        assert!(c.iter().all(|c| is_case(&c.actions) && c.actions.len() <= a.len()));
    }

    #[test]
    fn a_buried_plugin_abort_shrinks_to_its_two_actions() {
        let bug = FakeServer::with_bug(ABORT_PLUGIN_CLIENT_BUG, 0);
        let failing = vec![
            Action::PromptText,
            Action::PromptAsk,
            Action::ReplyHttp,
            Action::PromptSleep { secs: LONG_SLEEP_SECS },
            Action::AbortPlugin { via: Via::Client },
            Action::PromptEcho,
            Action::WaitQuiet,
        ];
        let fp = bug.play(&failing, 0).expect("the bug shows");
        let mut run = 0;
        let s = shrink_with(&failing, 200, |c| {
            k_of_k(2, || {
                run += 1;
                bug.play(c, run).as_ref() == Some(&fp)
            })
        });
        assert_eq!(
            s.best(),
            &[Action::PromptSleep { secs: LONG_SLEEP_SECS }, Action::AbortPlugin { via: Via::Client }]
        );
        // Every kept step reproduced and was smaller or simpler than the one before.
        let mut len = failing.len();
        for step in &s.steps {
            assert_eq!(bug.play(&step.actions, 0).as_ref(), Some(&fp));
            assert!(step.actions.len() <= len);
            len = step.actions.len();
        }
    }

    #[test]
    fn a_flaky_bug_keeps_only_candidates_that_reproduce_k_of_k() {
        // Shows in 1 of 2 runs: with k = 2 no candidate is kept by chance... unless it
        // showed both times; whatever is kept still contains the bug's actions.
        let bug = FakeServer::with_bug(ABORT_PLUGIN_CLIENT_BUG, 2);
        let failing = vec![
            Action::PromptEcho,
            Action::PromptSleep { secs: LONG_SLEEP_SECS },
            Action::AbortPlugin { via: Via::Client },
            Action::WaitQuiet,
        ];
        let fp = bug.play(&failing, 1).expect("shows on odd runs");
        let mut run = 0;
        let s = shrink_with(&failing, 100, |c| {
            k_of_k(2, || {
                run += 1;
                bug.play(c, run).as_ref() == Some(&fp)
            })
        });
        assert_eq!(s.best(), failing.as_slice(), "a bug that shows every other run never reproduces 2 of 2");
    }

    #[test]
    fn the_fake_servers_known_failure_is_known_and_its_bug_is_new() {
        use super::super::fingerprint::{recognise, KnownFailure};
        let server = FakeServer::with_bug(ABORT_PLUGIN_CLIENT_BUG, 0).with_duplicate_idle();
        let idle_once = KnownFailure {
            scenario: "abort-idle-once".into(),
            issue: None,
            failing: ["one-idle-per-busy".to_string()].into(),
            checks: ["one-idle-per-busy".to_string()].into(),
        };
        let known = [idle_once];
        let noise = server.play(&[Action::PromptSleep { secs: LONG_SLEEP_SECS }, Action::AbortHttp], 0).unwrap();
        assert_eq!(recognise(&noise, &known).map(|r| r.known.len()), Some(1));
        let bug = [
            Action::PromptSleep { secs: LONG_SLEEP_SECS },
            Action::AbortPlugin { via: Via::Client },
            Action::PromptText,
        ];
        let fp = server.play(&bug, 0).unwrap();
        assert!(recognise(&fp, &known).is_none(), "the injected bug is a finding");
        // A later HTTP abort ends the tool: the bug does not show, only the known noise.
        let masked = [bug.as_slice(), &[Action::AbortHttp]].concat();
        assert_eq!(server.play(&masked, 0), Some(noise));
    }

    #[test]
    fn fewer_sessions_drops_one_with_its_actions_and_renumbers_the_rest() {
        let a = [
            Action::PromptText,
            Action::NewSession,
            Action::NewSession,
            Action::PromptIn { session: 2 },
            Action::PromptIn { session: 3 },
            Action::DeleteSession { session: 3 },
        ];
        assert_eq!(
            without_session(&a, 2),
            vec![Action::PromptText, Action::NewSession, Action::PromptIn { session: 2 }, Action::DeleteSession { session: 2 }]
        );
        assert_eq!(without_session(&a, 3), vec![Action::PromptText, Action::NewSession, Action::PromptIn { session: 2 }]);
        // The simplification is offered (deleting the `new-session` alone is not a case).
        let c = candidates(&a);
        assert!(c.iter().any(|c| c.how == "drop session 2 and its actions" && c.actions == without_session(&a, 2)));
    }

    #[test]
    fn an_ask_and_its_reply_go_together_when_other_actions_lie_between() {
        // Found by the property below (case 1052): neither can go alone, and no chunk
        // holds both.
        let a = [Action::PromptAsk, Action::NewSession, Action::ReplyHttp, Action::PromptSleep { secs: 2 }, Action::PromptIn { session: 2 }];
        let c = candidates(&a);
        let wanted = vec![Action::NewSession, Action::PromptSleep { secs: 2 }, Action::PromptIn { session: 2 }];
        assert!(
            c.iter().any(|c| c.actions == wanted && c.how == "delete action 1 (prompt-ask) with its reply, action 3"),
            "{c:#?}"
        );
    }

    #[test]
    fn a_cross_session_bug_shrinks_to_one_further_session() {
        let bug = FakeServer::with_cross_session_bug();
        // Session 3's turn meets the tool; session 2 is noise, and so is the subscriber.
        let failing = vec![
            Action::PromptText,
            Action::NewSession,
            Action::PromptIn { session: 2 },
            Action::NewSession,
            Action::OpenSubscriber,
            Action::PromptSleep { secs: LONG_SLEEP_SECS },
            Action::PromptIn { session: 3 },
            Action::DeleteSession { session: 2 },
            Action::AbortHttp,
            Action::CloseSubscriber,
        ];
        let fp = bug.play(&failing, 0).expect("the bug shows");
        let s = shrink_with(&failing, 500, |c| bug.play(c, 0).as_ref() == Some(&fp));
        assert_eq!(
            s.best(),
            &[Action::NewSession, Action::PromptSleep { secs: SHORT_SLEEP_SECS }, Action::PromptIn { session: 2 }],
            "steps: {:#?}",
            s.steps
        );
        assert!(s.steps.iter().any(|st| st.how.starts_with("drop session")), "{:#?}", s.steps);
    }

    // Every one of the 4000 generated cases, not a random sample of them: a sample let a
    // case the shrinker left at 5 actions (1052) through on most runs.

    /// Against the fake server, whatever generated case shows the cross-session bug
    /// shrinks to three actions in one further session.
    #[test]
    fn generated_cross_session_failures_shrink_to_one_session() {
        let bug = FakeServer::with_cross_session_bug();
        let mut shown = 0;
        for i in 0u64..4000 {
            let case = generate(case_seed(12, i), 10);
            let Some(fp) = bug.play(&case, 0) else { continue };
            shown += 1;
            let s = shrink_with(&case, 500, |c| bug.play(c, 0).as_ref() == Some(&fp));
            assert_eq!(s.best().len(), 3, "case {i}: {case:?} -> {:?}", s.best());
            assert_eq!(s.best().iter().filter(|a| **a == Action::NewSession).count(), 1, "case {i}");
            assert!(s.best().contains(&Action::PromptIn { session: 2 }), "case {i}: {:?}", s.best());
            assert_eq!(bug.play(s.best(), 0), Some(fp), "case {i}");
        }
        assert!(shown > 10, "only {shown} generated cases showed the bug");
    }

    /// Against the fake server, whatever generated case shows the bug shrinks to the
    /// bug's two actions, and the result still reproduces.
    #[test]
    fn generated_failures_shrink_to_the_bug() {
        let bug = FakeServer::with_bug(ABORT_PLUGIN_CLIENT_BUG, 0);
        let mut shown = 0;
        for i in 0u64..4000 {
            let case = generate(case_seed(11, i), 8);
            let Some(fp) = bug.play(&case, 0) else { continue };
            shown += 1;
            let s = shrink_with(&case, 300, |c| bug.play(c, 0).as_ref() == Some(&fp));
            assert!(s.best().len() <= 2, "case {i}: {case:?} -> {:?}", s.best());
            assert_eq!(bug.play(s.best(), 0), Some(fp), "case {i}");
        }
        assert!(shown > 10, "only {shown} generated cases showed the bug");
    }
}
