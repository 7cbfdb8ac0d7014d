//! The shape of a value, as a client sees it: which JSON types, which object keys (and
//! whether each is always there), which values of an enum. Built from a document's JSON
//! Schema ([`Shape::from_schema`]) or inferred from values seen on the wire
//! ([`Shape::observed`]); both are diffed the same way (`crate::diff`).
//!
//! Named schemas stay [`Shape::Ref`]s here: the diff follows them through the document's
//! table, once per pair, so a schema used by fifty operations is compared once and a
//! recursive one ends.

use oas3::spec::{ObjectOrReference, ObjectSchema, Schema, SchemaType as Type, SchemaTypeSet as TypeSet};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A JSON type with no inner structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    Null,
    Boolean,
    Integer,
    Number,
    String,
}

impl Scalar {
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Boolean => "boolean",
            Scalar::Integer => "integer",
            Scalar::Number => "number",
            Scalar::String => "string",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    /// Anything (no schema, or one that says nothing a client could rely on).
    Any,
    Scalar { scalar: Scalar },
    /// One of these values (JSON text: `"busy"`, `1`); a `const` is a one-value enum.
    Enum { values: BTreeSet<String> },
    Array { items: Box<Shape> },
    Object(Object),
    /// One of these (`anyOf`/`oneOf`, a list of types, nullable).
    Union { variants: Vec<Shape> },
    /// A named schema of the document (`#/components/schemas/NAME`).
    Ref { name: String },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Object {
    pub properties: BTreeMap<String, Property>,
    /// `additionalProperties: false`: a key not listed is refused (in a request) or never sent.
    pub closed: bool,
    /// `additionalProperties: SCHEMA`: a map whose values have this shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Box<Shape>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Property {
    pub shape: Shape,
    pub required: bool,
}

/// The name a `$ref` points at, when it is a schema of the document's components.
pub fn ref_name(path: &str) -> Option<&str> {
    path.strip_prefix("#/components/schemas/")
}

impl Shape {
    pub fn scalar(scalar: Scalar) -> Shape {
        Shape::Scalar { scalar }
    }

    /// A union of `variants`, flattened; one variant is itself.
    pub fn union(variants: Vec<Shape>) -> Shape {
        let mut flat: Vec<Shape> = Vec::new();
        for v in variants {
            match v {
                Shape::Union { variants } => {
                    for inner in variants {
                        if !flat.contains(&inner) {
                            flat.push(inner);
                        }
                    }
                }
                v if !flat.contains(&v) => flat.push(v),
                _ => {}
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap_or(Shape::Any)
        } else {
            Shape::Union { variants: flat }
        }
    }

    /// Whether a named schema is somewhere inside.
    pub fn names_a_schema(&self) -> bool {
        match self {
            Shape::Ref { .. } => true,
            Shape::Any | Shape::Scalar { .. } | Shape::Enum { .. } => false,
            Shape::Array { items } => items.names_a_schema(),
            Shape::Object(o) => {
                o.properties.values().any(|p| p.shape.names_a_schema()) || o.values.as_ref().is_some_and(|v| v.names_a_schema())
            }
            Shape::Union { variants } => variants.iter().any(Shape::names_a_schema),
        }
    }

    /// The variants of a union, or this shape alone.
    pub fn variants(&self) -> Vec<&Shape> {
        match self {
            Shape::Union { variants } => variants.iter().collect(),
            s => vec![s],
        }
    }

    /// A short name of the kind, for messages: `string`, `object`, `enum`, `ref Session`.
    pub fn describe(&self) -> String {
        match self {
            Shape::Any => "any".into(),
            Shape::Scalar { scalar } => scalar.name().into(),
            Shape::Enum { values } => {
                let list: Vec<&str> = values.iter().map(String::as_str).take(6).collect();
                let more = if values.len() > 6 { ", ..." } else { "" };
                format!("enum [{}{more}]", list.join(", "))
            }
            Shape::Array { items } => format!("array of {}", items.describe()),
            Shape::Object(_) => "object".into(),
            Shape::Union { variants } => {
                let names: Vec<String> = variants.iter().map(Shape::describe).collect();
                names.join(" | ")
            }
            Shape::Ref { name } => format!("`{name}`"),
        }
    }

    /// The shape a schema of the document describes. `$ref`s to components stay refs;
    /// `allOf` parts are merged into one object (resolving their refs in `components`).
    pub fn from_schema(schema: &Schema, components: &BTreeMap<String, Schema>) -> Shape {
        match schema {
            Schema::Boolean(_) => Shape::Any,
            Schema::Object(o) => match o.as_ref() {
                ObjectOrReference::Ref { ref_path, .. } => match ref_name(ref_path) {
                    Some(name) => Shape::Ref { name: name.to_string() },
                    None => Shape::Any,
                },
                ObjectOrReference::Object(s) => Self::from_object_schema(s, components),
            },
        }
    }

    fn from_object_schema(s: &ObjectSchema, components: &BTreeMap<String, Schema>) -> Shape {
        let sub = |x: &Schema| Shape::from_schema(x, components);
        if let Some(c) = &s.const_value {
            return Shape::Enum {
                values: BTreeSet::from([c.to_string()]),
            };
        }
        if !s.enum_values.is_empty() {
            let values: BTreeSet<String> = s.enum_values.iter().filter(|v| !v.is_null()).map(Value::to_string).collect();
            let enum_shape = Shape::Enum { values };
            return if s.enum_values.iter().any(Value::is_null) {
                Shape::union(vec![enum_shape, Shape::scalar(Scalar::Null)])
            } else {
                enum_shape
            };
        }
        if !s.any_of.is_empty() || !s.one_of.is_empty() {
            return Shape::union(s.any_of.iter().chain(&s.one_of).map(sub).collect());
        }
        if !s.all_of.is_empty() {
            return merge_all_of(s.all_of.iter().map(|x| resolved(x, components)).collect());
        }
        let types: Vec<Type> = match &s.schema_type {
            Some(TypeSet::Single(t)) => vec![*t],
            Some(TypeSet::Multiple(ts)) => ts.clone(),
            None if !s.properties.is_empty() || s.additional_properties.is_some() => vec![Type::Object],
            None if s.items.is_some() => vec![Type::Array],
            None => return Shape::Any,
        };
        Shape::union(
            types
                .into_iter()
                .map(|t| match t {
                    Type::Null => Shape::scalar(Scalar::Null),
                    Type::Boolean => Shape::scalar(Scalar::Boolean),
                    Type::Integer => Shape::scalar(Scalar::Integer),
                    Type::Number => Shape::scalar(Scalar::Number),
                    Type::String => Shape::scalar(Scalar::String),
                    Type::Array => Shape::Array {
                        items: Box::new(s.items.as_deref().map(sub).unwrap_or(Shape::Any)),
                    },
                    Type::Object => {
                        let properties = s
                            .properties
                            .iter()
                            .map(|(k, v)| {
                                let p = Property {
                                    shape: sub(v),
                                    required: s.required.contains(k),
                                };
                                (k.clone(), p)
                            })
                            .collect();
                        let (closed, values) = match &s.additional_properties {
                            Some(Schema::Boolean(b)) => (!b.0, None),
                            Some(other) => (false, Some(Box::new(sub(other)))),
                            None => (false, None),
                        };
                        Shape::Object(Object {
                            properties,
                            closed,
                            values,
                        })
                    }
                })
                .collect(),
        )
    }

    /// The shape of one value seen on the wire: every key it has is required (merging
    /// several values with [`Shape::merge_observed`] relaxes that to the keys all had).
    pub fn observed(value: &Value) -> Shape {
        match value {
            Value::Null => Shape::scalar(Scalar::Null),
            Value::Bool(_) => Shape::scalar(Scalar::Boolean),
            Value::Number(n) if n.is_i64() || n.is_u64() => Shape::scalar(Scalar::Integer),
            Value::Number(_) => Shape::scalar(Scalar::Number),
            Value::String(_) => Shape::scalar(Scalar::String),
            Value::Array(items) => Shape::Array {
                items: Box::new(
                    items
                        .iter()
                        .map(Shape::observed)
                        .reduce(Shape::merge_observed)
                        .unwrap_or(Shape::Any),
                ),
            },
            Value::Object(map) => Shape::Object(Object {
                properties: map
                    .iter()
                    .map(|(k, v)| {
                        // A string `type` tells kinds of object apart (parts, states):
                        // kept as its value, so they stay apart (see `merge_observed`).
                        let shape = match v {
                            Value::String(_) if k == "type" => Shape::Enum {
                                values: BTreeSet::from([v.to_string()]),
                            },
                            v => Shape::observed(v),
                        };
                        let p = Property { shape, required: true };
                        (k.clone(), p)
                    })
                    .collect(),
                closed: false,
                values: None,
            }),
        }
    }

    /// Two observed shapes as one: a key missing from either is optional; an integer and
    /// a number are a number; an empty array's items take the other's; other differences
    /// become a union.
    pub fn merge_observed(self, other: Shape) -> Shape {
        match (self, other) {
            (a, b) if a == b => a,
            (Shape::Any, b) => b,
            (a, Shape::Any) => a,
            (Shape::Scalar { scalar: Scalar::Integer }, Shape::Scalar { scalar: Scalar::Number })
            | (Shape::Scalar { scalar: Scalar::Number }, Shape::Scalar { scalar: Scalar::Integer }) => {
                Shape::scalar(Scalar::Number)
            }
            (Shape::Array { items: a }, Shape::Array { items: b }) => Shape::Array {
                items: Box::new(a.merge_observed(*b)),
            },
            (Shape::Object(a), Shape::Object(b)) if type_tag(&a) != type_tag(&b) => {
                Shape::union(vec![Shape::Object(a), Shape::Object(b)])
            }
            (Shape::Object(a), Shape::Object(b)) => {
                let mut properties = BTreeMap::new();
                let keys: BTreeSet<&String> = a.properties.keys().chain(b.properties.keys()).collect();
                for k in keys {
                    let p = match (a.properties.get(k), b.properties.get(k)) {
                        (Some(x), Some(y)) => Property {
                            shape: x.shape.clone().merge_observed(y.shape.clone()),
                            required: x.required && y.required,
                        },
                        (Some(x), None) | (None, Some(x)) => Property {
                            shape: x.shape.clone(),
                            required: false,
                        },
                        (None, None) => continue,
                    };
                    properties.insert(k.clone(), p);
                }
                Shape::Object(Object {
                    properties,
                    closed: false,
                    values: None,
                })
            }
            (Shape::Union { variants }, b) | (b, Shape::Union { variants }) => {
                // Merge into the variant of the same kind, if there is one.
                let mut variants = variants;
                let fits = |v: &Shape| match (v, &b) {
                    (Shape::Object(x), Shape::Object(y)) => type_tag(x) == type_tag(y),
                    (v, b) => same_kind(v, b),
                };
                match variants.iter().position(fits) {
                    Some(i) => {
                        let v = variants.remove(i);
                        variants.insert(i, v.merge_observed(b));
                    }
                    None => variants.push(b),
                }
                Shape::union(variants)
            }
            (a, b) => Shape::union(vec![a, b]),
        }
    }
}

/// An observed object's `type` value, if it has one.
fn type_tag(o: &Object) -> Option<&BTreeSet<String>> {
    match o.properties.get("type").map(|p| &p.shape) {
        Some(Shape::Enum { values }) => Some(values),
        _ => None,
    }
}

/// Whether two shapes are the same JSON type (both objects, both arrays, the same scalar).
pub fn same_kind(a: &Shape, b: &Shape) -> bool {
    match (a, b) {
        (Shape::Scalar { scalar: x }, Shape::Scalar { scalar: y }) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// A schema with its top-level `$ref` followed (for `allOf`, whose parts are merged).
fn resolved(schema: &Schema, components: &BTreeMap<String, Schema>) -> Shape {
    let mut shape = Shape::from_schema(schema, components);
    let mut hops = 0;
    while let Shape::Ref { name } = &shape {
        match components.get(name) {
            Some(s) if hops < 16 => shape = Shape::from_schema(s, components),
            _ => break,
        }
        hops += 1;
    }
    shape
}

/// `allOf`: the objects' properties together; anything else keeps the first part.
fn merge_all_of(parts: Vec<Shape>) -> Shape {
    let mut merged = Object::default();
    let mut other = None;
    for part in parts {
        match part {
            Shape::Object(o) => {
                merged.closed |= o.closed;
                for (k, p) in o.properties {
                    let required = p.required || merged.properties.get(&k).is_some_and(|q| q.required);
                    merged.properties.insert(k, Property { shape: p.shape, required });
                }
            }
            s => {
                other.get_or_insert(s);
            }
        }
    }
    match other {
        Some(s) if merged.properties.is_empty() => s,
        _ => Shape::Object(merged),
    }
}
