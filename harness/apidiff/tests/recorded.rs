//! The diff on documents real releases published at `GET /doc` (recorded, gzipped, in
//! `tests/documents/`): what it must find between them, and what it must not call breaking.

#[path = "support/recorded.rs"]
mod support;

use oc_conform_apidiff::diff::{diff_documents, Kind};
use oc_conform_apidiff::{compare, Area, Observed, Severity, Side};
use serde_json::json;
use support::recorded_document as document;

fn side(version: &str) -> Side {
    Side {
        label: version.into(),
        version: version.into(),
        document: Some(document(version)),
        observed: None,
    }
}

const RELEASES: &[&str] = &["1.0.185", "1.14.48", "1.15.13", "1.17.9", "1.17.11", "1.17.18", "1.18.34"];

#[test]
fn every_real_document_reads_with_its_operations_and_event_types() {
    for v in RELEASES {
        let d = document(v);
        assert!(!d.is_stub(), "{v}");
        assert!(d.operations.len() >= 80, "{v}: {} operations", d.operations.len());
        for e in ["session.status", "session.idle", "message.part.updated", "permission.replied"] {
            assert!(d.events.contains_key(e), "{v} lacks event {e}: {:?}", d.events.keys().collect::<Vec<_>>());
        }
        assert!(d.operations.contains_key("POST /session/{}/abort"), "{v}");
    }
}

#[test]
fn a_document_compared_with_itself_has_no_change() {
    for v in ["1.0.185", "1.18.34"] {
        let d = document(v);
        assert_eq!(diff_documents(&d, &d), vec![], "{v}");
    }
}

#[test]
fn a_stub_document_is_reported_as_a_stub_not_as_everything_removed() {
    let stub = document("1.14.41");
    assert!(stub.is_stub());
    assert_eq!(stub.operations.len(), 3, "PUT and DELETE /auth/{{providerID}}, POST /log");
    let r = compare(&side("1.14.41"), &side("1.14.48"));
    assert!(r.a.stub && !r.b.stub);
    assert!(!r.documents_compared);
    assert!(r.changes.is_empty());
    assert!(r.notes.iter().any(|n| n.contains("stub")), "{:?}", r.notes);
    assert!(!r.fails(Severity::PossiblyBreaking));
    assert!(r.render_terminal(false).contains("STUB DOCUMENT"));
}

#[test]
fn permission_updated_becoming_permission_asked_is_breaking_for_subscribers() {
    let r = compare(&side("1.0.185"), &side("1.14.48"));
    let removed = r
        .changes
        .iter()
        .find(|c| c.kind == Kind::EventTypeRemoved && c.location == "event permission.updated")
        .expect("permission.updated removed");
    assert_eq!(removed.severity, Severity::Breaking);
    assert!(removed.detail.contains("permission.asked"), "{}", removed.detail);
    let added = r
        .changes
        .iter()
        .find(|c| c.kind == Kind::EventTypeAdded && c.location == "event permission.asked")
        .expect("permission.asked added");
    assert_eq!(added.severity, Severity::Additive);
    // permission.replied's payload moved from permissionID/response to requestID/reply.
    let replied: Vec<&str> = r
        .changes
        .iter()
        .filter(|c| c.area == Area::Events && c.location.contains("permission.replied") && c.severity == Severity::Breaking)
        .map(|c| c.path.as_str())
        .collect();
    assert!(replied.contains(&".permissionID") && replied.contains(&".response"), "{replied:?}");
}

#[test]
fn adjacent_releases_1_17_9_to_1_17_11_breaking_changes_found() {
    let r = compare(&side("1.17.9"), &side("1.17.11"));
    let breaking: Vec<String> = r
        .changes
        .iter()
        .filter(|c| c.severity == Severity::Breaking)
        .map(|c| format!("{}{}", c.location, c.path))
        .collect();
    for expected in [
        "event session.next.prompt.promoted",
        "event session.next.interrupt.requested",
        "schema FileSystemEntry.mime",
    ] {
        assert!(breaking.iter().any(|b| b == expected), "{expected} not among {breaking:#?}");
    }
    assert!(r.fails(Severity::Breaking));
}

#[test]
fn adjacent_releases_1_17_11_to_1_17_18_new_operations_are_additive_and_a_dropped_request_key_is_breaking() {
    let r = compare(&side("1.17.11"), &side("1.17.18"));
    let added: Vec<&str> = r
        .changes
        .iter()
        .filter(|c| c.kind == Kind::OperationAdded)
        .map(|c| c.location.as_str())
        .collect();
    assert!(added.contains(&"POST /api/session/{sessionID}/interrupt"), "{added:?}");
    // The prompt's file attachment no longer takes `mime`, and refuses unknown keys.
    let mime = r
        .changes
        .iter()
        .find(|c| c.path == ".mime" && c.location.contains("PromptInputFileAttachment"))
        .expect("mime dropped from the request");
    assert_eq!(mime.severity, Severity::Breaking);
}

#[test]
fn adjacent_releases_1_17_18_to_1_18_34_an_enum_opened_to_any_string_keeps_its_values() {
    let r = compare(&side("1.17.18"), &side("1.18.34"));
    // `interleaved.field` went from an enum to `enum | string`: "reasoning_details" is
    // still accepted in a request, so nothing a client sends is refused.
    let field: Vec<_> = r.changes.iter().filter(|c| c.path.ends_with("interleaved.field")).collect();
    assert!(!field.is_empty(), "the change is seen");
    assert!(
        field.iter().all(|c| c.kind != Kind::EnumValuesRemoved),
        "{:#?}",
        field.iter().map(|c| (&c.kind, &c.detail, &c.severity)).collect::<Vec<_>>()
    );
    // The body of POST /global/upgrade now requires `target`: that one is breaking.
    assert!(
        r.changes.iter().any(|c| c.severity == Severity::Breaking && c.location.contains("/global/upgrade")),
        "{:#?}",
        r.changes.iter().filter(|c| c.severity == Severity::Breaking).map(|c| (&c.location, &c.detail)).collect::<Vec<_>>()
    );
}

/// No change a client can take in its stride is ever called breaking, on any pair.
#[test]
fn no_additive_change_is_breaking_on_any_pair_of_releases() {
    for pair in RELEASES.windows(2) {
        let r = compare(&side(pair[0]), &side(pair[1]));
        for c in &r.changes {
            let harmless = matches!(
                c.kind,
                Kind::OperationAdded
                    | Kind::EventTypeAdded
                    | Kind::PropertyAdded { required: false }
                    | Kind::ParameterAdded { required: false }
                    | Kind::VariantAdded { .. }
                    | Kind::EnumValuesAdded
                    | Kind::ResponseAdded { .. }
            );
            assert!(!(harmless && c.severity == Severity::Breaking), "{pair:?}: {c:?}");
        }
    }
}

#[test]
fn observed_payloads_are_diffed_and_checked_against_their_own_document() {
    let mut old = Observed::default();
    old.add("permission.replied", &json!({"sessionID": "ses_1", "permissionID": "per_1", "response": "once"}));
    let mut new = Observed::default();
    new.add("permission.replied", &json!({"sessionID": "ses_1", "requestID": "per_1", "reply": "once"}));
    let mut a = side("1.0.185");
    a.observed = Some(old);
    let mut b = side("1.18.34");
    b.observed = Some(new.clone());
    let r = compare(&a, &b);
    let gone: Vec<&str> = r
        .observed_changes
        .iter()
        .filter(|c| c.severity == Severity::Breaking)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(gone, vec![".permissionID", ".response"]);
    assert!(r.observed_changes.iter().all(|c| c.area == Area::ObservedEvents));
    // 1.18.34 documents exactly these keys: nothing to say about B's payload.
    assert!(r.conformance.iter().all(|m| m.version != "1.18.34"), "{:?}", r.conformance);
    // A payload that leaves out a declared key and sends an undeclared one is reported.
    let mut odd = Observed::default();
    odd.add("permission.replied", &json!({"sessionID": "ses_1", "requestID": "per_1", "answer": 1}));
    let found = odd.conformance("1.18.34", &document("1.18.34"));
    let problems: Vec<(&str, &str)> = found.iter().map(|m| (m.path.as_str(), m.problem.as_str())).collect();
    assert!(problems.contains(&(".reply", "declared required, not sent")), "{problems:?}");
    assert!(problems.contains(&(".answer", "sent, not declared in the document")), "{problems:?}");
}

/// A part is checked against the variant of its own `type` (not the closest-looking
/// one), and parts of different types stay apart in the observed shapes.
#[test]
fn parts_are_told_apart_by_their_type() {
    let doc = document("1.18.34");
    let mut seen = Observed::default();
    let tool = json!({"sessionID": "ses_1", "time": 1,
        "part": {"id": "prt_1", "sessionID": "ses_1", "messageID": "msg_1", "type": "tool", "callID": "c1", "tool": "bash",
                 "state": {"status": "pending", "input": {}, "raw": ""}}});
    let text = json!({"sessionID": "ses_1", "time": 1,
        "part": {"id": "prt_2", "sessionID": "ses_1", "messageID": "msg_1", "type": "text", "text": "hi"}});
    seen.add("message.part.updated", &tool);
    seen.add("message.part.updated", &text);
    let problems = seen.conformance("1.18.34", &doc);
    assert!(
        problems.iter().all(|m| m.path != ".part.type" && m.path != ".part.callID" && m.path != ".part.text"),
        "{problems:#?}"
    );
    let mut only_text = Observed::default();
    only_text.add("message.part.updated", &text);
    let changes = oc_conform_apidiff::diff::diff_observed(&seen.events, &only_text.events);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].kind, Kind::VariantRemoved { tagged: true });
    assert_eq!(changes[0].severity, Severity::PossiblyBreaking, "not seeing proves nothing");
}
