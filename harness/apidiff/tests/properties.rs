//! Properties of the diff on observed payloads (any payloads), and the rules' table.

use oc_conform_apidiff::diff::{classify, diff_observed, Flow, Kind};
use oc_conform_apidiff::shape::Shape;
use oc_conform_apidiff::{Observed, Severity};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Payloads: objects, as event properties are.
fn payloads() -> impl Strategy<Value = Vec<Map<String, Value>>> {
    prop::collection::vec(prop::collection::btree_map("[a-e]", json(), 0..5), 1..4)
        .prop_map(|v| v.into_iter().map(|m| m.into_iter().collect()).collect())
}

fn observe(event: &str, payloads: &[Map<String, Value>]) -> BTreeMap<String, Shape> {
    let mut o = Observed::default();
    for p in payloads {
        o.add(event, &Value::Object(p.clone()));
    }
    o.events
}

proptest! {
    #[test]
    fn the_same_payloads_show_no_change(ps in payloads()) {
        let seen = observe("e", &ps);
        prop_assert_eq!(diff_observed(&seen, &seen), vec![]);
    }

    #[test]
    fn a_key_b_always_adds_is_additive_and_nothing_else_changes(ps in payloads(), extra in json()) {
        let with: Vec<Map<String, Value>> = ps
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.insert("zz".into(), extra.clone());
                p
            })
            .collect();
        let changes = diff_observed(&observe("e", &ps), &observe("e", &with));
        prop_assert_eq!(changes.len(), 1, "{:?}", changes);
        prop_assert_eq!(changes[0].severity, Severity::Additive);
        prop_assert_eq!(changes[0].path.as_str(), ".zz");
    }

    #[test]
    fn a_key_a_always_sent_and_b_never_does_is_breaking(ps in payloads(), gone in json()) {
        let with: Vec<Map<String, Value>> = ps
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.insert("zz".into(), gone.clone());
                p
            })
            .collect();
        let changes = diff_observed(&observe("e", &with), &observe("e", &ps));
        prop_assert_eq!(changes.len(), 1, "{:?}", changes);
        prop_assert_eq!(changes[0].severity, Severity::Breaking);
        prop_assert_eq!(changes[0].kind, Kind::PropertyRemoved { was_required: true, now_closed: false });
    }

    #[test]
    fn an_event_type_no_longer_seen_is_never_more_than_possibly_breaking(ps in payloads()) {
        let changes = diff_observed(&observe("e", &ps), &observe("f", &ps));
        prop_assert_eq!(changes.len(), 2);
        prop_assert!(changes.iter().all(|c| c.severity <= Severity::PossiblyBreaking));
    }
}

/// What the client sends may loosen, what the server sends may grow: each rule read both
/// ways round.
#[test]
fn the_rules_mirror_between_what_clients_send_and_what_they_read() {
    use Severity::*;
    let both = |k: Kind| (classify(k, Flow::Request), classify(k, Flow::Response));
    assert_eq!(both(Kind::RequiredChanged { now_required: true }), (Breaking, Additive));
    assert_eq!(both(Kind::RequiredChanged { now_required: false }), (Additive, PossiblyBreaking));
    assert_eq!(both(Kind::EnumValuesAdded), (Additive, PossiblyBreaking));
    assert_eq!(both(Kind::EnumValuesRemoved), (Breaking, Additive));
    assert_eq!(both(Kind::PropertyAdded { required: true }), (Breaking, Additive));
    assert_eq!(both(Kind::PropertyAdded { required: false }), (Additive, Additive));
    assert_eq!(both(Kind::PropertyRemoved { was_required: true, now_closed: false }), (PossiblyBreaking, Breaking));
    assert_eq!(both(Kind::PropertyRemoved { was_required: false, now_closed: true }), (Breaking, PossiblyBreaking));
    assert_eq!(both(Kind::NumberWidened { widened: true }), (Additive, PossiblyBreaking));
    assert_eq!(both(Kind::TypeChanged), (Breaking, Breaking));
    assert_eq!(both(Kind::VariantAdded { tagged: true }), (Additive, Additive));
    assert_eq!(both(Kind::VariantRemoved { tagged: true }), (Breaking, Breaking));
    assert_eq!(classify(Kind::OperationRemoved, Flow::Request), Breaking);
    assert_eq!(classify(Kind::ParameterAdded { required: true }, Flow::Request), Breaking);
    assert_eq!(classify(Kind::ParameterAdded { required: false }, Flow::Request), Additive);
    assert_eq!(classify(Kind::EventTypeRemoved, Flow::Response), Breaking);
    assert_eq!(classify(Kind::EventTypeAdded, Flow::Response), Additive);
}
