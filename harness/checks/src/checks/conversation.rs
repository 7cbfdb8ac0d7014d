//! Several prompts on one session: model calls one at a time, each prompt answered once,
//! a tool's continuation under the prompt that started it, messages in the order sent.

use super::session_of;
use super::view::{harness_notes, join_problems, ms, stored_messages, witness};
use crate::wire::StoredMessage;
use crate::{CheckResult, Entry, ModelRequestKind, Observation, Timeline};

pub const MODEL_CALLS_NEVER_OVERLAP: &str = "model-calls-never-overlap";
pub const ANSWERS_KEEP_THEIR_PROMPT: &str = "answers-keep-their-prompt";
pub const MESSAGES_IN_ACCEPTED_ORDER: &str = "messages-in-accepted-order";

/// One agent turn's call to the model: its request's arrival and its answer's end (none:
/// still open when the run ended).
struct Call<'a> {
    index: u32,
    start: &'a Entry,
    end: Option<&'a Entry>,
}

fn turn_calls(tl: &Timeline) -> Vec<Call<'_>> {
    let mut calls: Vec<Call> = tl
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::ModelRequest { index, kind, .. }
                if matches!(kind, ModelRequestKind::Turn | ModelRequestKind::Unplanned) =>
            {
                Some(Call { index: *index, start: e, end: None })
            }
            _ => None,
        })
        .collect();
    for c in &mut calls {
        c.end = tl.entries.iter().find(|e| {
            matches!(&e.obs, Observation::ModelAnswerEnded { index, .. } if *index == c.index)
        });
    }
    calls
}

/// The session's agent turns reach the model one at a time: no turn request arrives while
/// another one's answer is still being sent (title requests run beside turns by design and
/// are left out). Two loops of one session running at once is how one prompt ends up with
/// two answers (upstream #28202).
pub fn model_calls_never_overlap(tl: &Timeline) -> CheckResult {
    let check = MODEL_CALLS_NEVER_OVERLAP;
    let calls = turn_calls(tl);
    if calls.is_empty() {
        return CheckResult::error(check, format!("no agent turn reached the fake model{}", harness_notes(tl)));
    }
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    for (i, a) in calls.iter().enumerate() {
        for b in &calls[i + 1..] {
            let open = a.end.is_none_or(|end| end.seq > b.start.seq);
            if !open {
                continue;
            }
            let until = match a.end {
                Some(end) => format!("its answer ended at {}", ms(end.at_ms)),
                None => "its answer never ended".to_string(),
            };
            problems.push(format!(
                "model request #{} arrived at {} while request #{} (at {}) was still being answered ({until})",
                b.index,
                ms(b.start.at_ms),
                a.index,
                ms(a.start.at_ms)
            ));
            seqs.extend([a.start.seq, b.start.seq]);
            seqs.extend(a.end.map(|e| e.seq));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(check, format!("{} agent turn(s) reached the model one at a time", calls.len()))
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

/// The stored conversation, or the Error a check answers without it.
fn stored<'a>(check: &str, tl: &'a Timeline) -> Result<(&'a Entry, Vec<StoredMessage<'a>>), CheckResult> {
    let sid = session_of(check, tl)?;
    let Some(s) = stored_messages(tl, sid) else {
        return Err(CheckResult::error(
            check,
            format!("GET /session/{sid}/message was not recorded{}", harness_notes(tl)),
        ));
    };
    match s.messages {
        Some(m) => Ok((s.entry, m)),
        None => Err(CheckResult::error(
            check,
            format!("GET /session/{sid}/message answered {}, not a list of messages", s.status),
        )),
    }
}

fn role<'a>(m: &StoredMessage<'a>) -> &'a str {
    m.info.role.unwrap_or("?")
}

fn id<'a>(m: &StoredMessage<'a>) -> &'a str {
    m.info.id.unwrap_or("?")
}

/// An assistant message that ends its turn (not a step that called tools and goes on).
fn is_final(m: &StoredMessage) -> bool {
    role(m) == "assistant"
        && !matches!(m.info.finish, Some("tool-calls") | Some("tool_calls"))
        && !m.parts().any(|p| p.is_tool())
}

fn calls_tools(m: &StoredMessage) -> bool {
    role(m) == "assistant"
        && (matches!(m.info.finish, Some("tool-calls") | Some("tool_calls")) || m.parts().any(|p| p.is_tool()))
}

/// From the stored conversation (`GET /session/{id}/message` at teardown): every user
/// message has exactly one final answer (an assistant message with that `parentID` that
/// does not end in a tool call): none is a prompt dropped, two are the same-parent
/// siblings of upstream #28202. And an assistant message that called a tool is followed
/// by its continuation under the same user message: the turn that ran the tool answers
/// the prompt that asked for it, even when another prompt arrived meanwhile.
pub fn answers_keep_their_prompt(tl: &Timeline) -> CheckResult {
    let check = ANSWERS_KEEP_THEIR_PROMPT;
    let (entry, msgs) = match stored(check, tl) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let users: Vec<&StoredMessage> = msgs.iter().filter(|m| role(m) == "user").collect();
    if users.is_empty() {
        return CheckResult::error(check, "the session stored no user message: nothing to judge");
    }
    let mut problems = Vec::new();
    for u in &users {
        let answers: Vec<&str> = msgs
            .iter()
            .filter(|m| is_final(m) && m.info.parent_id == u.info.id)
            .map(id)
            .collect();
        match answers.len() {
            1 => {}
            0 => problems.push(format!("user message {} has no final answer", id(u))),
            n => problems.push(format!(
                "user message {} has {n} final answers ({})",
                id(u),
                answers.join(", ")
            )),
        }
    }
    let assistants: Vec<&StoredMessage> = msgs.iter().filter(|m| role(m) == "assistant").collect();
    for pair in assistants.windows(2) {
        let (step, next) = (pair[0], pair[1]);
        if calls_tools(step) && next.info.parent_id != step.info.parent_id {
            problems.push(format!(
                "assistant message {} continues the tool call of {} (under user message {}) but is parented to {}",
                id(next),
                id(step),
                step.info.parent_id.unwrap_or("?"),
                next.info.parent_id.unwrap_or("none")
            ));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!(
                "each of {} user message(s) has one final answer; every tool continuation stays under its prompt",
                users.len()
            ),
        )
    } else {
        CheckResult::fail(
            check,
            format!("in the stored conversation at {}: {}", ms(entry.at_ms), join_problems(&problems)),
            witness([entry.seq]),
        )
    }
}

/// The session stores the user messages in the order the client sent them: their texts,
/// in the stored order, are `prompts` (the scenario's prompts, in its order).
pub fn messages_in_accepted_order(tl: &Timeline, prompts: &[String]) -> CheckResult {
    let check = MESSAGES_IN_ACCEPTED_ORDER;
    let (entry, msgs) = match stored(check, tl) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let texts: Vec<&str> = msgs
        .iter()
        .filter(|m| role(m) == "user")
        .map(|m| m.text().unwrap_or(""))
        .collect();
    if texts.iter().zip(prompts).all(|(a, b)| *a == b.as_str()) && texts.len() == prompts.len() {
        return CheckResult::pass(
            check,
            format!("the {} user message(s) are stored in the order they were sent", texts.len()),
        );
    }
    CheckResult::fail(
        check,
        format!(
            "the stored user messages at {} read {:?}; the prompts were sent as {:?}",
            ms(entry.at_ms),
            texts,
            prompts
        ),
        witness([entry.seq]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::Verdict;
    use serde_json::{json, Value};

    fn request(b: &mut TimelineBuilder, index: u32) -> u64 {
        b.push(Observation::ModelRequest {
            index,
            kind: ModelRequestKind::Turn,
            turn: Some(index as usize),
            has_tool_result: false,
            summary: String::new(),
        });
        b.last()
    }

    fn ended(b: &mut TimelineBuilder, index: u32) -> u64 {
        b.push(Observation::ModelAnswerEnded { index, end: crate::ModelAnswerEnd::Sent });
        b.last()
    }

    #[test]
    fn calls_one_after_another_pass_and_titles_may_run_beside() {
        let mut b = TimelineBuilder::new();
        b.at(10.0);
        request(&mut b, 0);
        b.at(15.0).model_request(ModelRequestKind::Title);
        b.at(50.0);
        ended(&mut b, 0);
        b.at(60.0);
        request(&mut b, 2);
        b.at(90.0);
        ended(&mut b, 2);
        let r = model_calls_never_overlap(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn a_second_call_during_the_first_fails_with_both_and_the_end() {
        let mut b = TimelineBuilder::new();
        b.at(10.0);
        let first = request(&mut b, 0);
        b.at(40.0);
        let second = request(&mut b, 1);
        b.at(50.0);
        let end = ended(&mut b, 0);
        b.at(60.0);
        ended(&mut b, 1);
        let r = model_calls_never_overlap(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![first, second, end]);
        assert!(r.message.contains("model request #1 arrived at 40 ms while request #0 (at 10 ms) was still being answered (its answer ended at 50 ms)"), "{}", r.message);

        // An answer that never ended overlaps whatever came after it.
        let mut b = TimelineBuilder::new();
        request(&mut b, 0);
        b.at(5.0);
        request(&mut b, 1);
        let r = model_calls_never_overlap(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.message.contains("never ended"), "{}", r.message);

        let r = model_calls_never_overlap(&TimelineBuilder::new().model_request(ModelRequestKind::Title).build());
        assert_eq!(r.verdict, Verdict::Error);
    }

    fn user(id: &str, text: &str) -> Value {
        json!({"info": {"id": id, "role": "user"}, "parts": [{"type": "text", "text": text}]})
    }

    fn assistant(id: &str, parent: &str, finish: &str) -> Value {
        let parts = if finish == "tool-calls" {
            json!([{"type": "tool", "tool": "bash", "state": {"status": "completed"}}])
        } else {
            json!([{"type": "text", "text": "ok"}])
        };
        json!({"info": {"id": id, "role": "assistant", "parentID": parent, "finish": finish}, "parts": parts})
    }

    #[test]
    fn each_prompt_answered_once_under_its_own_message_passes() {
        let tl = TimelineBuilder::new()
            .stored_messages(json!([
                user("u1", "first"),
                assistant("a1", "u1", "tool-calls"),
                assistant("a2", "u1", "stop"),
                user("u2", "second"),
                assistant("a3", "u2", "stop"),
            ]))
            .build();
        let r = answers_keep_their_prompt(&tl);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        let r = messages_in_accepted_order(&tl, &["first".into(), "second".into()]);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn a_continuation_under_the_later_prompt_and_a_dropped_prompt_fail() {
        // The second prompt arrived while the tool ran; the loop picked it up and the
        // continuation of the first prompt's tool call went under it.
        let mut b = TimelineBuilder::new();
        b.at(500.0).stored_messages(json!([
            user("u1", "first"),
            assistant("a1", "u1", "tool-calls"),
            user("u2", "second"),
            assistant("a2", "u2", "stop"),
        ]));
        let stored = b.last();
        let r = answers_keep_their_prompt(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![stored]);
        assert!(r.message.contains("user message u1 has no final answer"), "{}", r.message);
        assert!(
            r.message.contains("assistant message a2 continues the tool call of a1 (under user message u1) but is parented to u2"),
            "{}",
            r.message
        );
    }

    /// A step that goes on after a tool call is known by its finish alone (the tool parts
    /// may be missing from the stored copy) or by its tool parts alone (no finish yet).
    #[test]
    fn a_tool_step_is_known_by_its_finish_or_by_its_tool_parts() {
        let by_finish = json!({"info": {"id": "a1", "role": "assistant", "parentID": "u1", "finish": "tool_calls"},
            "parts": [{"type": "text", "text": "calling"}]});
        let by_parts = json!({"info": {"id": "a1", "role": "assistant", "parentID": "u1"},
            "parts": [{"type": "tool", "tool": "bash", "state": {"status": "completed"}}]});
        for step in [by_finish, by_parts] {
            let tl = TimelineBuilder::new()
                .stored_messages(json!([user("u1", "first"), step.clone(), assistant("a2", "u1", "stop")]))
                .build();
            let r = answers_keep_their_prompt(&tl);
            assert_eq!(r.verdict, Verdict::Pass, "the step is not a final answer: {r:?}");
            let tl = TimelineBuilder::new()
                .stored_messages(json!([user("u1", "first"), step, user("u2", "second"), assistant("a2", "u2", "stop")]))
                .build();
            let r = answers_keep_their_prompt(&tl);
            assert!(r.message.contains("assistant message a2 continues the tool call of a1"), "{}", r.message);
        }
    }

    #[test]
    fn same_parent_siblings_fail() {
        let tl = TimelineBuilder::new()
            .stored_messages(json!([
                user("u1", "first"),
                assistant("a1", "u1", "stop"),
                assistant("a2", "u1", "stop"),
            ]))
            .build();
        let r = answers_keep_their_prompt(&tl);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("user message u1 has 2 final answers (a1, a2)"), "{}", r.message);
    }

    #[test]
    fn messages_out_of_order_or_missing_fail() {
        let tl = TimelineBuilder::new()
            .stored_messages(json!([user("u2", "second"), user("u1", "first")]))
            .build();
        let r = messages_in_accepted_order(&tl, &["first".into(), "second".into()]);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains(r#"read ["second", "first"]"#), "{}", r.message);
        let tl = TimelineBuilder::new().stored_messages(json!([user("u1", "first")])).build();
        let r = messages_in_accepted_order(&tl, &["first".into(), "second".into()]);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    #[test]
    fn without_the_stored_conversation_there_is_no_verdict() {
        let tl = TimelineBuilder::new().build();
        assert_eq!(answers_keep_their_prompt(&tl).verdict, Verdict::Error);
        assert_eq!(messages_in_accepted_order(&tl, &[]).verdict, Verdict::Error);
        let tl = TimelineBuilder::new().stored_messages(json!([])).build();
        assert_eq!(answers_keep_their_prompt(&tl).verdict, Verdict::Error);
    }
}
