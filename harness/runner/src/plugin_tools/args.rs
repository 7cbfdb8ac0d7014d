//! Arguments for a custom tool, generated from the JSON schema opencode advertises for it
//! (`GET /experimental/tool`): a few valid cases and the edges a plugin author forgets
//! (empty and long strings, unicode, boundary numbers, optional fields left out), seeded
//! and deterministic. Every case satisfies the schema ([`conforms`]): a tool that fails on
//! one is the tool's fault, not the arguments'.
//!
//! The subset read: `type` (one or a list), `enum`, `const`, `anyOf`/`oneOf`,
//! `properties`/`required`, `items`/`minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`, a few string `format`s.
//! A `pattern` is not honoured (a string the pattern refuses is opencode's to reject, and
//! the report says it refused the arguments).

use crate::explore::actions::Rng;
use serde_json::{json, Map, Value};

/// One set of arguments and what it tries.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgCase {
    /// `typical`, `required fields only`, `minimum values`, `random 2`...
    pub label: String,
    pub arguments: Value,
}

/// A string long enough to find a tool that copies its input into a fixed buffer, a
/// command line or a file name, short enough for the fake model's stream.
pub const LONG_STRING_CHARS: usize = 4096;
/// Where a number without bounds is taken at its "boundary": far from zero, exactly
/// representable, inside every integer type a tool is likely to cast to.
const UNBOUNDED: f64 = 2_147_483_647.0;
/// Scripts, combining marks, an emoji outside the BMP (two UTF-16 units), a zero-width
/// joiner, right-to-left text, a quote, a backslash and a newline.
const UNICODE: &str = "Grüße 世界 🚀 e\u{301} 👩\u{200d}💻 مرحبا \"q\" \\ ñ\nend";
const TYPICAL: &str = "example text";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strings {
    Typical,
    /// The shortest allowed (empty when allowed).
    Min,
    /// The longest allowed (a long one when unbounded).
    Max,
    /// [`LONG_STRING_CHARS`], capped by `maxLength`.
    Long,
    Unicode,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Numbers {
    Typical,
    Low,
    High,
    Random,
}

#[derive(Debug, Clone, Copy)]
struct Profile {
    label: &'static str,
    strings: Strings,
    numbers: Numbers,
    omit_optional: bool,
}

const PROFILES: &[Profile] = &[
    Profile { label: "typical", strings: Strings::Typical, numbers: Numbers::Typical, omit_optional: false },
    Profile { label: "required fields only", strings: Strings::Typical, numbers: Numbers::Typical, omit_optional: true },
    Profile { label: "minimum values (empty strings)", strings: Strings::Min, numbers: Numbers::Low, omit_optional: false },
    Profile { label: "maximum values", strings: Strings::Max, numbers: Numbers::High, omit_optional: false },
    Profile { label: "long strings", strings: Strings::Long, numbers: Numbers::Typical, omit_optional: false },
    Profile { label: "unicode strings", strings: Strings::Unicode, numbers: Numbers::Typical, omit_optional: false },
];

/// Up to `max` distinct argument sets for a tool whose parameters are `schema`: the fixed
/// profiles first (those that differ from an earlier one), then random valid cases from
/// `seed`. The same schema and seed give the same cases.
pub fn cases(schema: &Value, seed: u64, max: usize) -> Vec<ArgCase> {
    let mut out: Vec<ArgCase> = Vec::new();
    let push = |label: String, arguments: Value, out: &mut Vec<ArgCase>| {
        if out.len() < max && !out.iter().any(|c| c.arguments == arguments) {
            out.push(ArgCase { label, arguments });
        }
    };
    let mut rng = Rng::new(seed);
    for p in PROFILES {
        let v = Gen { p: *p, rng: &mut rng }.value(schema, 0);
        push(p.label.to_string(), v, &mut out);
    }
    // Random cases until `max`, with a bound on tries: a schema with few distinct values
    // (one enum field) has fewer cases than `max`.
    let random = Profile { label: "random", strings: Strings::Random, numbers: Numbers::Random, omit_optional: false };
    for k in 1..=max * 4 {
        if out.len() >= max {
            break;
        }
        let omit = rng.below(2) == 0;
        let v = Gen { p: Profile { omit_optional: omit, ..random }, rng: &mut rng }.value(schema, 0);
        push(format!("random {k}"), v, &mut out);
    }
    out
}

struct Gen<'a> {
    p: Profile,
    rng: &'a mut Rng,
}

/// The type a schema names (the first that is not `null` of a list; `null` alone).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or_else(|| ts.iter().filter_map(Value::as_str).next()),
        _ => None,
    }
}

fn alternatives(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
}

fn num(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

/// A string's length as both JSON Schema (code points) and zod (UTF-16 units) count it:
/// a case must satisfy the stricter of the two.
fn lengths(s: &str) -> (usize, usize) {
    (s.chars().count(), s.encode_utf16().count())
}

/// `text` cut or padded so that it has at least `min` code points and at most `max`
/// UTF-16 units (`max >= min`).
fn fit(text: &str, min: usize, max: Option<usize>) -> String {
    let mut s = String::new();
    for c in text.chars() {
        // Room for this character and for the padding still owed to `min`.
        let (points, units) = lengths(&s);
        if max.is_some_and(|m| units + c.len_utf16() + min.saturating_sub(points + 1) > m) {
            break;
        }
        s.push(c);
    }
    while lengths(&s).0 < min {
        s.push('a');
    }
    s
}

/// Inclusive numeric bounds of a schema (integers: rounded inward).
fn bounds(schema: &Value, integer: bool) -> (Option<f64>, Option<f64>) {
    let step = if integer { 1.0 } else { 1e-6 };
    let lo = match (num(schema, "minimum"), num(schema, "exclusiveMinimum")) {
        (Some(a), Some(b)) => Some(a.max(b + step)),
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b + step),
        (None, None) => None,
    };
    let hi = match (num(schema, "maximum"), num(schema, "exclusiveMaximum")) {
        (Some(a), Some(b)) => Some(a.min(b - step)),
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b - step),
        (None, None) => None,
    };
    if integer {
        (lo.map(f64::ceil), hi.map(f64::floor))
    } else {
        (lo, hi)
    }
}

fn number_value(x: f64, integer: bool) -> Value {
    if integer || (x.fract() == 0.0 && x.abs() < 9.0e15) {
        json!(x as i64)
    } else {
        json!(x)
    }
}

impl Gen<'_> {
    fn pick<'v>(&mut self, values: &'v [Value]) -> &'v Value {
        match self.p.numbers {
            Numbers::Low => &values[0],
            Numbers::High => &values[values.len() - 1],
            _ => &values[self.rng.below(values.len() as u64) as usize],
        }
    }

    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array).filter(|v| !v.is_empty()) {
            return self.pick(values).clone();
        }
        if let Some(alts) = alternatives(schema) {
            // A non-null alternative when there is one: `null` tells a tool nothing.
            let usable: Vec<&Value> = alts.iter().filter(|a| type_of(a) != Some("null")).collect();
            let alt = match (self.p.strings, usable.is_empty()) {
                (_, true) => &alts[0],
                (Strings::Random, false) => usable[self.rng.below(usable.len() as u64) as usize],
                (_, false) => usable[0],
            };
            return self.value(alt, depth);
        }
        match type_of(schema) {
            Some("string") => self.string(schema),
            Some("integer") => self.number(schema, true),
            Some("number") => self.number(schema, false),
            Some("boolean") => json!(match self.p.numbers {
                Numbers::Low => false,
                Numbers::High | Numbers::Typical => true,
                Numbers::Random => self.rng.below(2) == 0,
            }),
            Some("null") => Value::Null,
            Some("array") => self.array(schema, depth),
            Some("object") => self.object(schema, depth),
            _ if schema.get("properties").is_some() => self.object(schema, depth),
            // No type: anything is valid; a string is what a tool most likely expects.
            _ => self.string(&json!({})),
        }
    }

    fn string(&mut self, schema: &Value) -> Value {
        let min = num(schema, "minLength").unwrap_or(0.0).max(0.0) as usize;
        let max = num(schema, "maxLength").map(|m| (m.max(0.0) as usize).max(min));
        if let Some(sample) = schema.get("format").and_then(Value::as_str).and_then(format_sample) {
            return json!(sample);
        }
        let text = match self.p.strings {
            Strings::Typical => TYPICAL.to_string(),
            Strings::Min => String::new(),
            Strings::Max => "x".repeat(max.unwrap_or(LONG_STRING_CHARS)),
            Strings::Long => "long ".repeat(LONG_STRING_CHARS / 5 + 1),
            Strings::Unicode => UNICODE.to_string(),
            Strings::Random => {
                let alphabet: Vec<char> = "abcXYZ019 _-./:é世🚀\n\"\\".chars().collect();
                let upper = max.unwrap_or(64).min(64).max(min);
                let n = min + self.rng.below((upper - min + 1) as u64) as usize;
                (0..n).map(|_| alphabet[self.rng.below(alphabet.len() as u64) as usize]).collect()
            }
        };
        let text = match self.p.strings {
            Strings::Long => text.chars().take(LONG_STRING_CHARS).collect(),
            _ => text,
        };
        json!(fit(&text, min, max))
    }

    fn number(&mut self, schema: &Value, integer: bool) -> Value {
        let (lo, hi) = bounds(schema, integer);
        let x = match self.p.numbers {
            Numbers::Low => lo.unwrap_or(-UNBOUNDED),
            Numbers::High => hi.unwrap_or(UNBOUNDED),
            Numbers::Typical => match (lo, hi) {
                (Some(a), Some(b)) => a + (b - a) / 2.0,
                (Some(a), None) => a.max(0.0) + 1.0,
                (None, Some(b)) => b.min(0.0) - 1.0,
                (None, None) => 42.0,
            },
            Numbers::Random => {
                let (a, b) = (lo.unwrap_or(-1000.0), hi.unwrap_or(1000.0));
                let (a, b) = (a, b.max(a));
                let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                a + (b - a) * unit
            }
        };
        let x = if integer { x.round() } else { x };
        // Rounding must not leave the bounds (a midpoint of 1..=2 is 1.5, rounds to 2).
        let x = lo.map_or(x, |l| x.max(l));
        let x = hi.map_or(x, |h| x.min(h));
        number_value(x, integer)
    }

    fn array(&mut self, schema: &Value, depth: usize) -> Value {
        let min = num(schema, "minItems").unwrap_or(0.0).max(0.0) as usize;
        let max = num(schema, "maxItems").map(|m| (m.max(0.0) as usize).max(min));
        let want = match self.p.numbers {
            Numbers::Low => min,
            Numbers::High => max.unwrap_or(min.max(3)),
            Numbers::Typical => min.max(1),
            Numbers::Random => min + self.rng.below(4) as usize,
        };
        // Depth guard for recursive schemas: as few items as allowed.
        let n = if depth > 4 { min } else { max.map_or(want, |m| want.min(m)).max(min) };
        let items = schema.get("items").cloned().unwrap_or(json!({}));
        Value::Array((0..n).map(|_| self.value(&items, depth + 1)).collect())
    }

    fn object(&mut self, schema: &Value, depth: usize) -> Value {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                let needed = required.contains(&name.as_str());
                if !needed && (self.p.omit_optional || depth > 4) {
                    continue;
                }
                out.insert(name.clone(), self.value(sub, depth + 1));
            }
        }
        Value::Object(out)
    }
}

fn format_sample(format: &str) -> Option<&'static str> {
    Some(match format {
        "email" => "someone@example.com",
        "uri" | "url" => "https://example.com/a?b=c",
        "uuid" => "123e4567-e89b-42d3-a456-426614174000",
        "date-time" => "2026-01-02T03:04:05Z",
        "date" => "2026-01-02",
        "time" => "03:04:05",
        "ipv4" => "192.0.2.1",
        _ => return None,
    })
}

/// Whether `v` satisfies `schema` (the subset [`cases`] reads); the error names the path.
pub fn conforms(schema: &Value, v: &Value) -> Result<(), String> {
    conforms_at(schema, v, "$")
}

fn conforms_at(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{at}: {what}"));
    if let Some(c) = schema.get("const") {
        return if c == v { Ok(()) } else { fail(format!("not the const {c}")) };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return if values.contains(v) { Ok(()) } else { fail(format!("{v} not in the enum")) };
    }
    if let Some(alts) = alternatives(schema) {
        return if alts.iter().any(|a| conforms_at(a, v, at).is_ok()) {
            Ok(())
        } else {
            fail(format!("{v} matches no alternative"))
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "string" => v.is_string(),
        "integer" => v.as_f64().is_some_and(|x| x.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        return fail(format!("{v} is not of type {types:?}"));
    }
    match v {
        Value::String(s) => {
            let (points, units) = lengths(s);
            if num(schema, "minLength").is_some_and(|m| (points as f64) < m) {
                return fail(format!("shorter than minLength ({points})"));
            }
            if num(schema, "maxLength").is_some_and(|m| (units as f64) > m) {
                return fail(format!("longer than maxLength ({units} UTF-16 units)"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let below = |k: &str| num(schema, k).is_some_and(|m| x < m);
            let above = |k: &str| num(schema, k).is_some_and(|m| x > m);
            let ex_low = num(schema, "exclusiveMinimum").is_some_and(|m| x <= m);
            let ex_high = num(schema, "exclusiveMaximum").is_some_and(|m| x >= m);
            if below("minimum") || above("maximum") || ex_low || ex_high {
                return fail(format!("{x} out of bounds"));
            }
        }
        Value::Array(items) => {
            let n = items.len() as f64;
            if num(schema, "minItems").is_some_and(|m| n < m) || num(schema, "maxItems").is_some_and(|m| n > m) {
                return fail(format!("{n} items out of bounds"));
            }
            if let Some(item) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    conforms_at(item, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        Value::Object(fields) => {
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = r.as_str().filter(|r| !fields.contains_key(*r)) {
                    return fail(format!("required field `{r}` missing"));
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, x) in fields {
                    if let Some(sub) = props.get(name) {
                        conforms_at(sub, x, &format!("{at}.{name}"))?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `schema_note` of `fixtures/plugin-packages/tool-schema`, as 1.18.34 advertises it.
    fn note() -> Value {
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {
                "body": {"type": "string"},
                "mode": {"type": "string", "enum": ["draft", "final"]},
                "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                "title": {"type": "string"}},
            "required": ["title", "priority", "mode"]})
    }

    #[test]
    fn the_fixed_profiles_reach_the_edges_of_a_schema() {
        let cs = cases(&note(), 1, 8);
        let by = |label: &str| cs.iter().find(|c| c.label == label).unwrap_or_else(|| panic!("{label}: {cs:?}")).arguments.clone();
        assert_eq!(by("typical"), json!({"body": TYPICAL, "mode": by("typical")["mode"], "priority": 3, "title": TYPICAL}));
        assert_eq!(by("required fields only").get("body"), None);
        let low = by("minimum values (empty strings)");
        assert_eq!((low["title"].as_str(), low["priority"].as_i64(), low["mode"].as_str()), (Some(""), Some(1), Some("draft")));
        let high = by("maximum values");
        assert_eq!((high["priority"].as_i64(), high["mode"].as_str()), (Some(5), Some("final")));
        assert_eq!(high["title"].as_str().unwrap().len(), LONG_STRING_CHARS);
        assert!(by("unicode strings")["title"].as_str().unwrap().contains('🚀'));
        assert_eq!(cs.len(), 8, "the rest are random cases: {cs:?}");
        assert!(cs.iter().all(|c| conforms(&note(), &c.arguments).is_ok()));
    }

    #[test]
    fn bounds_are_kept_in_both_units_and_exclusive_bounds_are_kept_out() {
        let s = json!({"type": "object", "required": ["u", "n", "x"], "properties": {
            "u": {"type": "string", "minLength": 2, "maxLength": 5},
            "n": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "x": {"type": "integer", "exclusiveMinimum": 0, "maximum": 2}}});
        for c in cases(&s, 9, 12) {
            conforms(&s, &c.arguments).unwrap_or_else(|e| panic!("{}: {e}", c.label));
        }
        // The emoji is two UTF-16 units: zod's max(5) counts those.
        assert_eq!(fit("ab🚀cd", 0, Some(3)), "ab");
        assert_eq!(fit("", 2, Some(5)), "aa");
        assert!(conforms(&json!({"type": "string", "maxLength": 1}), &json!("🚀")).is_err());
    }

    #[test]
    fn a_schema_with_one_value_has_one_case_and_an_empty_schema_one_too() {
        assert_eq!(cases(&json!({"type": "object", "properties": {}}), 1, 8).len(), 1);
        let one = json!({"type": "object", "properties": {"k": {"const": "v"}}, "required": ["k"]});
        assert_eq!(cases(&one, 1, 8), [ArgCase { label: "typical".into(), arguments: json!({"k": "v"}) }]);
    }

    #[test]
    fn the_validator_refuses_what_breaks_the_schema() {
        assert!(conforms(&note(), &json!({"title": "t", "priority": 6, "mode": "draft"})).is_err());
        assert!(conforms(&note(), &json!({"title": "t", "priority": 2, "mode": "other"})).is_err());
        assert!(conforms(&note(), &json!({"title": "t", "mode": "draft"})).is_err());
        assert!(conforms(&note(), &json!({"title": "t", "priority": 2.5, "mode": "draft"})).is_err());
        assert!(conforms(&note(), &json!({"title": "t", "priority": 2, "mode": "draft"})).is_ok());
    }

    /// Schemas of the subset, with consistent bounds, nested up to two levels.
    fn leaf() -> impl Strategy<Value = Value> {
        let bound = || proptest::option::of(-50i64..50);
        prop_oneof![
            (proptest::option::of(0usize..6), proptest::option::of(0usize..40)).prop_map(|(min, max)| {
                let mut s = json!({"type": "string"});
                if let Some(m) = min {
                    s["minLength"] = json!(m);
                }
                if let Some(m) = max {
                    s["maxLength"] = json!(m.max(min.unwrap_or(0)));
                }
                s
            }),
            (bound(), bound(), any::<bool>(), any::<bool>()).prop_map(|(a, b, int, exclusive)| {
                let mut s = json!({"type": if int { "integer" } else { "number" }});
                let (lo, hi) = match (a, b) {
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b) + 2)),
                    other => other,
                };
                let (kmin, kmax) = if exclusive { ("exclusiveMinimum", "exclusiveMaximum") } else { ("minimum", "maximum") };
                if let Some(l) = lo {
                    s[kmin] = json!(l);
                }
                if let Some(h) = hi {
                    s[kmax] = json!(h);
                }
                s
            }),
            Just(json!({"type": "boolean"})),
            proptest::collection::vec("[a-z]{1,6}", 1..4).prop_map(|v| json!({"type": "string", "enum": v})),
            Just(json!({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]})),
        ]
    }

    fn schema() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                (proptest::collection::btree_map("[a-z]{1,5}", inner.clone(), 0..5), any::<u8>()).prop_map(|(props, mask)| {
                    let required: Vec<&String> = props.keys().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, k)| k).collect();
                    json!({"type": "object", "properties": props, "required": required})
                }),
                (inner, 0usize..3, 0usize..3).prop_map(|(items, min, extra)| json!({"type": "array", "items": items, "minItems": min, "maxItems": min + extra})),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_case_conforms_is_distinct_and_deterministic(s in schema(), seed in any::<u64>(), max in 1usize..12) {
            let cs = cases(&s, seed, max);
            prop_assert!(!cs.is_empty() && cs.len() <= max);
            for c in &cs {
                prop_assert!(conforms(&s, &c.arguments).is_ok(), "{}: {} for {}: {:?}", c.label, c.arguments, s, conforms(&s, &c.arguments));
            }
            for (i, c) in cs.iter().enumerate() {
                prop_assert!(cs[..i].iter().all(|d| d.arguments != c.arguments));
            }
            prop_assert_eq!(cases(&s, seed, max), cs);
        }

        #[test]
        fn required_fields_are_always_there_and_optional_ones_left_out_once(s in schema(), seed in any::<u64>()) {
            let obj = json!({"type": "object", "properties": {"req": s.clone(), "opt": s}, "required": ["req"]});
            let cs = cases(&obj, seed, 8);
            prop_assert!(cs.iter().all(|c| c.arguments.get("req").is_some()));
            prop_assert!(cs.iter().any(|c| c.arguments.get("opt").is_none()), "{:?}", cs);
        }
    }
}
