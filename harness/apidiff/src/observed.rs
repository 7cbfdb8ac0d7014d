//! Event payloads as a release was seen to publish them: from stored timelines, the keys
//! and value types of each event type (merged over every frame seen), and each payload
//! checked against the release's own document.

use crate::shape::{Scalar, Shape};
use crate::surface::Surface;
use oc_conform_checks::timeline::{EventStream, Observation};
use oc_conform_checks::Timeline;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Payloads kept per event type to check against the document (the shapes merge all).
const SAMPLES_PER_TYPE: usize = 200;

/// What one release was seen to publish.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Event type -> the shape of its `properties`, merged over every frame.
    pub events: BTreeMap<String, Shape>,
    /// Event type -> frames seen.
    pub frames: BTreeMap<String, usize>,
    /// Event type -> payloads kept for the conformance check.
    samples: BTreeMap<String, Vec<Value>>,
    /// How many timelines contributed.
    pub timelines: usize,
}

impl Observed {
    /// Adds a timeline's events. `/global/event` is the observer of record; a timeline
    /// with no frame from it (an attached run that had only `/event`) gives its `/event`'s.
    pub fn add_timeline(&mut self, t: &Timeline) {
        let frames = |want: EventStream| {
            t.entries.iter().filter_map(move |e| match &e.obs {
                Observation::Event {
                    stream,
                    event_type,
                    properties,
                    ..
                } if *stream == want => Some((event_type, properties)),
                _ => None,
            })
        };
        let stream = if frames(EventStream::Global).next().is_some() {
            EventStream::Global
        } else {
            EventStream::Directory
        };
        for (event_type, properties) in frames(stream) {
            self.add(event_type, properties);
        }
        self.timelines += 1;
    }

    pub fn add(&mut self, event_type: &str, properties: &Value) {
        let shape = Shape::observed(properties);
        let merged = match self.events.remove(event_type) {
            Some(s) => s.merge_observed(shape),
            None => shape,
        };
        self.events.insert(event_type.to_string(), merged);
        *self.frames.entry(event_type.to_string()).or_default() += 1;
        let kept = self.samples.entry(event_type.to_string()).or_default();
        if kept.len() < SAMPLES_PER_TYPE {
            kept.push(properties.clone());
        }
    }

    /// Where the payloads seen differ from what `doc` (the same release's) declares.
    pub fn conformance(&self, version: &str, doc: &Surface) -> Vec<Mismatch> {
        let mut found: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for (event, payloads) in &self.samples {
            let Some(declared) = doc.events.get(event) else {
                let key = (event.clone(), String::new(), "event type not declared in the document's Event union".to_string());
                *found.entry(key).or_default() += self.frames.get(event).copied().unwrap_or(0);
                continue;
            };
            for p in payloads {
                let mut problems = Vec::new();
                check(p, declared, doc, "", &mut problems, 0);
                for (path, problem) in problems {
                    *found.entry((event.clone(), path, problem)).or_default() += 1;
                }
            }
        }
        found
            .into_iter()
            .map(|((event, path, problem), frames)| Mismatch {
                version: version.to_string(),
                event,
                path,
                problem,
                frames,
            })
            .collect()
    }
}

/// A payload seen that its release's document does not describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub version: String,
    pub event: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    pub problem: String,
    /// Frames (of those kept) that showed it.
    pub frames: usize,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The problems of `value` against `shape` (a schema of `doc`), with where they are.
fn check(value: &Value, shape: &Shape, doc: &Surface, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
    if depth > 64 {
        return;
    }
    let shape = doc.resolve(shape);
    let mut problem = |what: String| out.push((path.to_string(), what));
    match shape {
        Shape::Any | Shape::Ref { .. } => {}
        Shape::Scalar { scalar } => {
            let fits = match scalar {
                Scalar::Null => value.is_null(),
                Scalar::Boolean => value.is_boolean(),
                Scalar::Integer => value.is_i64() || value.is_u64(),
                Scalar::Number => value.is_number(),
                Scalar::String => value.is_string(),
            };
            if !fits {
                problem(format!("sent {}, the document says {}", json_kind(value), scalar.name()));
            }
        }
        Shape::Enum { values } => {
            if !values.contains(&value.to_string()) {
                problem(format!("sent {}, the document says {}", value, shape.describe()));
            }
        }
        Shape::Array { items } => match value {
            Value::Array(vs) => {
                for v in vs {
                    check(v, items, doc, &format!("{path}[]"), out, depth + 1);
                }
            }
            v => problem(format!("sent {}, the document says array", json_kind(v))),
        },
        Shape::Object(o) => match value {
            Value::Object(map) => {
                for (k, p) in &o.properties {
                    match map.get(k) {
                        None if p.required => out.push((format!("{path}.{k}"), "declared required, not sent".into())),
                        None => {}
                        Some(v) => check(v, &p.shape, doc, &format!("{path}.{k}"), out, depth + 1),
                    }
                }
                // An object that declares no key and does not close itself is free-form.
                let free_form = o.properties.is_empty() && !o.closed;
                for (k, v) in map {
                    if o.properties.contains_key(k) {
                        continue;
                    }
                    match &o.values {
                        Some(values) => check(v, values, doc, &format!("{path}[*]"), out, depth + 1),
                        None if free_form => {}
                        None => out.push((format!("{path}.{k}"), "sent, not declared in the document".into())),
                    }
                }
            }
            v => problem(format!("sent {}, the document says object", json_kind(v))),
        },
        Shape::Union { variants } => {
            // Fits if one variant fits; else the problems of the closest variant: among
            // those whose `type` is the value's, if any is.
            let tagged: Vec<&Shape> = variants.iter().filter(|v| type_fits(value, v, doc)).collect();
            let candidates: Vec<&Shape> = if tagged.is_empty() { variants.iter().collect() } else { tagged };
            let mut best: Option<Vec<(String, String)>> = None;
            for v in candidates {
                let mut p = Vec::new();
                check(value, v, doc, path, &mut p, depth + 1);
                if p.is_empty() {
                    return;
                }
                if best.as_ref().is_none_or(|b| p.len() < b.len()) {
                    best = Some(p);
                }
            }
            out.extend(best.unwrap_or_default());
        }
    }
}

/// Whether `value` is an object whose `type` is among those `variant` fixes.
fn type_fits(value: &Value, variant: &Shape, doc: &Surface) -> bool {
    let Some(t) = value.get("type").filter(|t| t.is_string()) else { return false };
    match doc.resolve(variant) {
        Shape::Object(o) => match o.properties.get("type").map(|p| doc.resolve(&p.shape)) {
            Some(Shape::Enum { values }) => values.contains(&t.to_string()),
            _ => false,
        },
        _ => false,
    }
}
