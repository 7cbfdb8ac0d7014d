//! What one release's OpenAPI document (`GET /doc`) offers its consumers: the operations
//! (parameters, request body, responses) and the event types of its `Event` union, each
//! as [`Shape`]s, with the named schemas they refer to.

use crate::shape::Shape;
use oas3::spec::{ObjectOrReference, ParameterIn, Schema};
use serde::Serialize;
use std::collections::BTreeMap;

/// Fewer operations than this and the document is a stub: some 1.14 releases publish
/// only a handful of routes (1.14.41: `/auth/{providerID}` and `/log`) while serving all
/// of them. Real documents have 80 or more.
pub const STUB_OPERATIONS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the document is not an OpenAPI 3.1 document oas3 can read: {0}")]
    Parse(String),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Surface {
    /// `openapi` (`3.1.0`).
    pub openapi: String,
    /// By `METHOD /path/{}` (path parameters unnamed: renaming one changes no URL).
    pub operations: BTreeMap<String, Operation>,
    /// Event type (`session.status`) -> the shape of its `properties`.
    pub events: BTreeMap<String, Shape>,
    /// `#/components/schemas`, by name.
    pub schemas: BTreeMap<String, Shape>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub method: String,
    /// As the document writes it (`/session/{sessionID}`).
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// By `query directory`, `header x`, or `path #1` (path parameters by position).
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// By status code (`200`, `default`).
    pub responses: BTreeMap<String, Response>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub name: String,
    pub required: bool,
    pub shape: Shape,
}

#[derive(Debug, Clone, Serialize)]
pub struct Body {
    pub required: bool,
    pub media_type: String,
    pub shape: Shape,
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// None for a response without a body (204).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub shape: Shape,
}

impl Surface {
    /// Reads a document's JSON text.
    pub fn from_json(text: &str) -> Result<Surface, DocError> {
        let spec = oas3::from_json(text).map_err(|e| DocError::Parse(e.to_string()))?;
        let components: BTreeMap<String, Schema> = spec
            .components
            .as_ref()
            .map(|c| c.schemas.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let shape_of = |s: &Schema| Shape::from_schema(s, &components);
        let schemas: BTreeMap<String, Shape> = components.iter().map(|(k, v)| (k.clone(), shape_of(v))).collect();

        let mut operations = BTreeMap::new();
        for (path, item) in spec.paths.iter().flatten() {
            for (method, op) in item.methods() {
                let method = method.as_str().to_string();
                let mut parameters = BTreeMap::new();
                let all = item.parameters.iter().chain(&op.parameters);
                for p in all.filter_map(|p| p.resolve(&spec).ok()) {
                    let key = match p.location {
                        ParameterIn::Path => format!("path #{}", path_position(path, &p.name)),
                        ParameterIn::Query => format!("query {}", p.name),
                        ParameterIn::Header => format!("header {}", p.name.to_ascii_lowercase()),
                        ParameterIn::Cookie => format!("cookie {}", p.name),
                    };
                    let shape = p.schema.as_ref().map(shape_of).unwrap_or(Shape::Any);
                    let required = p.required.unwrap_or(false) || p.location == ParameterIn::Path;
                    parameters.insert(
                        key,
                        Parameter {
                            name: p.name.clone(),
                            required,
                            shape,
                        },
                    );
                }
                let body = op
                    .request_body
                    .as_ref()
                    .and_then(|b| b.resolve(&spec).ok())
                    .and_then(|b| {
                        let (media, m) = preferred_media(b.content.iter())?;
                        Some(Body {
                            required: b.required.unwrap_or(false),
                            media_type: media.clone(),
                            shape: m.schema.as_ref().map(shape_of).unwrap_or(Shape::Any),
                        })
                    });
                let mut responses = BTreeMap::new();
                for (status, r) in op.responses.iter().flatten() {
                    let r = match r {
                        ObjectOrReference::Object(r) => r.clone(),
                        ObjectOrReference::Ref { .. } => match r.resolve(&spec) {
                            Ok(r) => r,
                            Err(_) => continue,
                        },
                    };
                    let response = match preferred_media(r.content.iter()) {
                        Some((media, m)) => Response {
                            media_type: Some(media.clone()),
                            shape: m.schema.as_ref().map(shape_of).unwrap_or(Shape::Any),
                        },
                        None => Response {
                            media_type: None,
                            shape: Shape::Any,
                        },
                    };
                    responses.insert(status.clone(), response);
                }
                let key = format!("{method} {}", normalized_path(path));
                operations.insert(
                    key,
                    Operation {
                        method,
                        path: path.clone(),
                        operation_id: op.operation_id.clone(),
                        parameters,
                        body,
                        responses,
                    },
                );
            }
        }
        let events = event_types(&schemas);
        Ok(Surface {
            openapi: spec.openapi.clone(),
            operations,
            events,
            schemas,
        })
    }

    /// Whether the document is a stub (see [`STUB_OPERATIONS`]).
    pub fn is_stub(&self) -> bool {
        self.operations.len() < STUB_OPERATIONS
    }

    /// The schema named `name`, refs followed; None when the document lacks it.
    pub fn resolve_name(&self, name: &str) -> Option<&Shape> {
        let s = self.resolve(self.schemas.get(name)?);
        (!matches!(s, Shape::Ref { .. })).then_some(s)
    }

    /// A named schema's shape, refs followed (a bounded number of hops).
    pub fn resolve<'a>(&'a self, shape: &'a Shape) -> &'a Shape {
        let mut s = shape;
        for _ in 0..16 {
            match s {
                Shape::Ref { name } => match self.schemas.get(name) {
                    Some(next) => s = next,
                    None => return s,
                },
                _ => return s,
            }
        }
        s
    }
}

/// `/session/{sessionID}/message` -> `/session/{}/message`: the scenario format's route
/// shape, so a probed route and a diffed operation name a path alike.
pub fn normalized_path(path: &str) -> String {
    oc_conform_scenario::route_shape(path)
}

/// Which path parameter (1-based) `name` is in `path`.
fn path_position(path: &str, name: &str) -> usize {
    let wanted = format!("{{{name}}}");
    path.split('/')
        .filter(|seg| seg.starts_with('{'))
        .position(|seg| seg == wanted)
        .map_or(0, |i| i + 1)
}

/// The media type a client reads: JSON first, then an event stream, then whatever is first.
fn preferred_media<'a, M>(mut content: impl Iterator<Item = (&'a String, &'a M)> + Clone) -> Option<(&'a String, &'a M)> {
    content
        .clone()
        .find(|(k, _)| k.contains("json"))
        .or_else(|| content.clone().find(|(k, _)| k.contains("event-stream")))
        .or_else(|| content.next())
}

/// The event types of the `Event` union (or, without one, of `GlobalEvent.payload`):
/// each variant's `type` (a `const` or a one-value `enum`) and its `properties`' shape.
fn event_types(schemas: &BTreeMap<String, Shape>) -> BTreeMap<String, Shape> {
    let follow = |s: &Shape| -> Shape {
        let mut s = s.clone();
        for _ in 0..16 {
            match &s {
                Shape::Ref { name } => match schemas.get(name) {
                    Some(next) => s = next.clone(),
                    None => break,
                },
                _ => break,
            }
        }
        s
    };
    let union = match schemas.get("Event") {
        Some(e) => follow(e),
        None => match schemas.get("GlobalEvent").map(&follow) {
            Some(Shape::Object(o)) => o.properties.get("payload").map(|p| follow(&p.shape)).unwrap_or(Shape::Any),
            _ => Shape::Any,
        },
    };
    let mut events = BTreeMap::new();
    for variant in union.variants() {
        let Shape::Object(o) = follow(variant) else { continue };
        let Some(Shape::Enum { values }) = o.properties.get("type").map(|p| follow(&p.shape)) else {
            continue;
        };
        let payload = o.properties.get("properties").map(|p| p.shape.clone()).unwrap_or(Shape::Any);
        for v in &values {
            let name = serde_json::from_str::<String>(v).unwrap_or_else(|_| v.clone());
            events.insert(name, payload.clone());
        }
    }
    events
}
