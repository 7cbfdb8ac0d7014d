//! Two surfaces compared: every change, classified by what it does to the consumer that
//! reads or writes that part of the interface. The rules are in one place, [`classify`].
//!
//! Direction decides most of it: a value the server sends (a response, an event payload)
//! may grow (a new key, a key now always there) but not shrink or loosen without someone
//! reading it breaking; a value the client sends (a parameter, a request body) may loosen
//! but not tighten. Named schemas are compared once per pair of names and direction; the
//! change is reported at the schema, with the first place it was reached from.

use crate::shape::{Object, Scalar, Shape};
use crate::surface::{Operation, Surface};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How much a change can break a consumer. Ordered: `Additive < PossiblyBreaking < Breaking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Compatible: something new, a request loosened, a response narrowed.
    Additive,
    /// Compatible with a careful consumer, not with every one: a response that may now
    /// carry a new enum value or miss an optional key, a request key now ignored.
    PossiblyBreaking,
    /// A consumer written against A fails against B: an operation, property or event
    /// type removed, a new required parameter, a changed type.
    Breaking,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Additive => "additive",
            Severity::PossiblyBreaking => "possibly-breaking",
            Severity::Breaking => "breaking",
        }
    }
}

/// Which part of the interface a change is in; it decides who is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// The document's operations (what an HTTP or SDK client calls).
    Operations,
    /// The document's `Event` union.
    Events,
    /// Event payloads as the releases were seen to publish them (`--runs`).
    ObservedEvents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consumer {
    /// Calls the HTTP API, by hand or through the generated SDK.
    HttpClient,
    /// Reads `/event` or `/global/event`.
    EventSubscriber,
    /// A plugin: gets the SDK client in its input and every event in its `event` hook.
    PluginAuthor,
}

impl Consumer {
    pub const ALL: [Consumer; 3] = [Consumer::HttpClient, Consumer::EventSubscriber, Consumer::PluginAuthor];

    pub fn as_str(self) -> &'static str {
        match self {
            Consumer::HttpClient => "HTTP/SDK client",
            Consumer::EventSubscriber => "event subscriber",
            Consumer::PluginAuthor => "plugin author",
        }
    }
}

impl Area {
    pub fn consumers(self) -> &'static [Consumer] {
        match self {
            Area::Operations => &[Consumer::HttpClient, Consumer::PluginAuthor],
            Area::Events | Area::ObservedEvents => &[Consumer::EventSubscriber, Consumer::PluginAuthor],
        }
    }
}

/// Who sends the value a change is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    /// The client: parameters and request bodies.
    Request,
    /// The server: responses and event payloads.
    Response,
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    OperationRemoved,
    OperationAdded,
    PathParameterRenamed,
    ParameterRemoved,
    ParameterAdded { required: bool },
    /// Now required (`true`) or now optional (`false`); a property or a parameter.
    RequiredChanged { now_required: bool },
    BodyRemoved,
    BodyAdded { required: bool },
    MediaTypeChanged,
    ResponseRemoved { success: bool },
    ResponseAdded { success: bool },
    PropertyRemoved { was_required: bool, now_closed: bool },
    PropertyAdded { required: bool },
    TypeChanged,
    /// Integer to number (`true`) or number to integer.
    NumberWidened { widened: bool },
    EnumValuesAdded,
    EnumValuesRemoved,
    /// A fixed set of values became any value of its type (`true`), or the reverse.
    EnumOpened { opened: bool },
    /// A schema that said nothing now says something (`false`), or the reverse.
    AnyChanged { now_any: bool },
    /// `tagged`: the variant is told apart by a fixed value (`type`), as event unions are.
    VariantAdded { tagged: bool },
    /// `tagged`: as for [`Kind::VariantAdded`]; a tagged variant gone is a kind of
    /// message (an event type) no longer sent.
    VariantRemoved { tagged: bool },
    EventTypeRemoved,
    EventTypeAdded,
    /// Seen on A's runs, not on B's (a type never seen proves nothing; one that stops
    /// appearing in the same scenarios is worth a look).
    EventTypeNoLongerSeen,
    EventTypeNewlySeen,
}

/// The rules: what a change does to the consumer, given who sends the value.
pub fn classify(kind: Kind, flow: Flow) -> Severity {
    use Severity::*;
    let by_flow = |request: Severity, response: Severity| match flow {
        Flow::Request => request,
        Flow::Response => response,
    };
    match kind {
        Kind::OperationRemoved | Kind::EventTypeRemoved | Kind::TypeChanged | Kind::MediaTypeChanged => Breaking,
        Kind::OperationAdded | Kind::EventTypeAdded | Kind::EventTypeNewlySeen => Additive,
        Kind::EventTypeNoLongerSeen | Kind::PathParameterRenamed | Kind::BodyRemoved => PossiblyBreaking,
        Kind::ParameterRemoved => PossiblyBreaking,
        Kind::ParameterAdded { required } | Kind::BodyAdded { required } => {
            if required {
                Breaking
            } else {
                Additive
            }
        }
        Kind::ResponseRemoved { success } => {
            if success {
                Breaking
            } else {
                Additive
            }
        }
        Kind::ResponseAdded { success } => {
            if success {
                PossiblyBreaking
            } else {
                Additive
            }
        }
        Kind::RequiredChanged { now_required } => match (flow, now_required) {
            (Flow::Request, true) => Breaking,
            (Flow::Request, false) => Additive,
            (Flow::Response, true) => Additive,
            (Flow::Response, false) => PossiblyBreaking,
        },
        Kind::PropertyRemoved { was_required, now_closed } => match flow {
            Flow::Request if now_closed => Breaking,
            Flow::Request => PossiblyBreaking,
            Flow::Response if was_required => Breaking,
            Flow::Response => PossiblyBreaking,
        },
        Kind::PropertyAdded { required } => match flow {
            Flow::Request if required => Breaking,
            Flow::Request | Flow::Response => Additive,
        },
        Kind::NumberWidened { widened } => match widened {
            true => by_flow(Additive, PossiblyBreaking),
            false => by_flow(Breaking, Additive),
        },
        Kind::EnumValuesAdded | Kind::VariantAdded { tagged: false } => by_flow(Additive, PossiblyBreaking),
        // A new member of a discriminated union: like a new event type, a consumer
        // dispatching on the tag skips what it does not know.
        Kind::VariantAdded { tagged: true } => Additive,
        Kind::EnumValuesRemoved | Kind::VariantRemoved { tagged: false } => by_flow(Breaking, Additive),
        Kind::VariantRemoved { tagged: true } => Breaking,
        Kind::EnumOpened { opened } => match opened {
            true => by_flow(Additive, PossiblyBreaking),
            false => by_flow(Breaking, Additive),
        },
        Kind::AnyChanged { now_any } => match now_any {
            true => by_flow(Additive, PossiblyBreaking),
            false => by_flow(PossiblyBreaking, Additive),
        },
    }
}

/// One change between A and B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub severity: Severity,
    pub area: Area,
    pub consumers: Vec<Consumer>,
    pub kind: Kind,
    /// `GET /session/{sessionID} -> 200`, `event session.status`, `schema Session`.
    pub location: String,
    /// Where inside the value: `.time.updated`, `.parts[]`; empty for the whole.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// For people: what it was and what it is.
    pub detail: String,
    /// For a change inside a named schema: the first place the diff reached it from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_from: Option<String>,
}

impl Change {
    /// `event session.status at .status.type`, `POST /session`.
    pub fn place(&self) -> String {
        if self.path.is_empty() {
            self.location.clone()
        } else {
            format!("{} at {}", self.location, self.path)
        }
    }

    /// `  [via schema Provider.models[*]]`, for a change inside a named schema.
    pub fn via(&self) -> String {
        self.reached_from.as_deref().map(|r| format!("  [via {r}]")).unwrap_or_default()
    }
}

/// Where the diff is.
#[derive(Clone)]
struct Here {
    location: String,
    path: String,
    reached_from: Option<String>,
    flow: Flow,
    /// Error responses: no change in them is more than possibly breaking.
    cap: Severity,
}

impl Here {
    fn at(&self, suffix: &str) -> Here {
        Here {
            path: format!("{}{suffix}", self.path),
            ..self.clone()
        }
    }

    fn new(location: String, flow: Flow) -> Here {
        Here {
            location,
            path: String::new(),
            reached_from: None,
            flow,
            cap: Severity::Breaking,
        }
    }
}

struct Differ<'a> {
    old: &'a Surface,
    new: &'a Surface,
    area: Area,
    /// Named schemas already compared: (A's name, B's name, direction, cap).
    compared: BTreeSet<(String, String, Flow, Severity)>,
    out: Vec<Change>,
}

/// The document changes from `old` to `new`: operations, then event types.
pub fn diff_documents(old: &Surface, new: &Surface) -> Vec<Change> {
    let mut d = Differ::new(old, new, Area::Operations);
    d.operations();
    let mut changes = d.out;
    let mut d = Differ::new(old, new, Area::Events);
    d.events(&old.events, &new.events, Kind::EventTypeRemoved, Kind::EventTypeAdded);
    changes.extend(d.out);
    sort(&mut changes);
    changes
}

/// The observed payload changes: `old` and `new` event type -> inferred shape.
pub fn diff_observed(old: &BTreeMap<String, Shape>, new: &BTreeMap<String, Shape>) -> Vec<Change> {
    let empty = Surface::default();
    let mut d = Differ::new(&empty, &empty, Area::ObservedEvents);
    d.events(old, new, Kind::EventTypeNoLongerSeen, Kind::EventTypeNewlySeen);
    let mut changes = d.out;
    sort(&mut changes);
    changes
}

/// Most severe first, then by place.
pub fn sort(changes: &mut [Change]) {
    changes.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.area.cmp(&b.area))
            .then(a.location.cmp(&b.location))
            .then(a.path.cmp(&b.path))
    });
}

impl<'a> Differ<'a> {
    fn new(old: &'a Surface, new: &'a Surface, area: Area) -> Self {
        Differ {
            old,
            new,
            area,
            compared: BTreeSet::new(),
            out: Vec::new(),
        }
    }

    fn report(&mut self, here: &Here, kind: Kind, detail: String) {
        let mut severity = classify(kind, here.flow).min(here.cap);
        if self.area == Area::ObservedEvents && kind == (Kind::VariantRemoved { tagged: true }) {
            // A kind of object not seen on B's runs: not seeing proves nothing.
            severity = severity.min(Severity::PossiblyBreaking);
        }
        self.out.push(Change {
            severity,
            area: self.area,
            consumers: self.area.consumers().to_vec(),
            kind,
            location: here.location.clone(),
            path: here.path.clone(),
            detail,
            reached_from: here.reached_from.clone(),
        });
    }

    fn operations(&mut self) {
        let (old, new) = (self.old, self.new);
        for (key, a) in &old.operations {
            let here = Here::new(format!("{} {}", a.method, a.path), Flow::Request);
            match new.operations.get(key) {
                None => self.report(&here, Kind::OperationRemoved, "operation removed".into()),
                Some(b) => self.operation(a, b),
            }
        }
        for (key, b) in &new.operations {
            if !old.operations.contains_key(key) {
                let here = Here::new(format!("{} {}", b.method, b.path), Flow::Request);
                self.report(&here, Kind::OperationAdded, "operation added".into());
            }
        }
    }

    fn operation(&mut self, a: &Operation, b: &Operation) {
        let place = format!("{} {}", b.method, b.path);
        for (key, p) in &a.parameters {
            let here = Here::new(format!("{place} {key} ({})", p.name), Flow::Request);
            match b.parameters.get(key) {
                None => self.report(&here, Kind::ParameterRemoved, format!("parameter `{}` removed", p.name)),
                Some(q) => {
                    if p.name != q.name {
                        let detail = format!("path parameter `{}` renamed `{}` (same URL; SDK arguments follow the name)", p.name, q.name);
                        self.report(&here, Kind::PathParameterRenamed, detail);
                    }
                    if p.required != q.required {
                        let detail = if q.required { "now required" } else { "now optional" };
                        self.report(&here, Kind::RequiredChanged { now_required: q.required }, detail.into());
                    }
                    self.shape(&p.shape, &q.shape, &here);
                }
            }
        }
        for (key, q) in &b.parameters {
            if !a.parameters.contains_key(key) {
                let here = Here::new(format!("{place} {key}"), Flow::Request);
                let what = if q.required { "required" } else { "optional" };
                self.report(&here, Kind::ParameterAdded { required: q.required }, format!("{what} parameter `{}` added", q.name));
            }
        }
        let here = Here::new(format!("{place} request body"), Flow::Request);
        match (&a.body, &b.body) {
            (None, None) => {}
            (Some(_), None) => self.report(&here, Kind::BodyRemoved, "request body no longer documented".into()),
            (None, Some(q)) => {
                let what = if q.required { "required" } else { "optional" };
                self.report(&here, Kind::BodyAdded { required: q.required }, format!("{what} request body added"));
            }
            (Some(p), Some(q)) => {
                if p.media_type != q.media_type {
                    self.report(&here, Kind::MediaTypeChanged, format!("{} -> {}", p.media_type, q.media_type));
                } else {
                    if p.required != q.required {
                        let detail = if q.required { "body now required" } else { "body now optional" };
                        self.report(&here, Kind::RequiredChanged { now_required: q.required }, detail.into());
                    }
                    self.shape(&p.shape, &q.shape, &here);
                }
            }
        }
        for (status, r) in &a.responses {
            let success = status.starts_with('2');
            let mut here = Here::new(format!("{place} -> {status}"), Flow::Response);
            if !success {
                here.cap = Severity::PossiblyBreaking;
            }
            match b.responses.get(status) {
                None => self.report(&here, Kind::ResponseRemoved { success }, format!("response {status} no longer documented")),
                Some(s) if r.media_type != s.media_type => {
                    let show = |m: &Option<String>| m.clone().unwrap_or_else(|| "no body".into());
                    let detail = format!("{} -> {}", show(&r.media_type), show(&s.media_type));
                    self.report(&here, Kind::MediaTypeChanged, detail);
                }
                Some(s) => self.shape(&r.shape, &s.shape, &here),
            }
        }
        for status in b.responses.keys() {
            if !a.responses.contains_key(status) {
                let success = status.starts_with('2');
                let here = Here::new(format!("{place} -> {status}"), Flow::Response);
                self.report(&here, Kind::ResponseAdded { success }, format!("response {status} added"));
            }
        }
    }

    fn events(&mut self, old: &BTreeMap<String, Shape>, new: &BTreeMap<String, Shape>, gone: Kind, came: Kind) {
        for (name, a) in old {
            let here = Here::new(format!("event {name}"), Flow::Response);
            match new.get(name) {
                None => {
                    let hint = renamed_hint(name, old, new);
                    self.report(&here, gone, format!("event type `{name}` {}{hint}", gone_word(gone)));
                }
                Some(b) => self.shape(a, b, &here),
            }
        }
        for name in new.keys().filter(|n| !old.contains_key(*n)) {
            let here = Here::new(format!("event {name}"), Flow::Response);
            self.report(&here, came, format!("event type `{name}` {}", came_word(came)));
        }
    }

    fn shape(&mut self, a: &Shape, b: &Shape, here: &Here) {
        // Equal shapes still differ where they name a schema: what is behind the name.
        if a == b && !a.names_a_schema() {
            return;
        }
        match (a, b) {
            (Shape::Ref { name: x }, Shape::Ref { name: y }) => self.named(x, y, here),
            (Shape::Ref { .. }, _) | (_, Shape::Ref { .. }) => {
                let (ra, rb) = (self.old.resolve(a), self.new.resolve(b));
                if matches!(ra, Shape::Ref { .. }) || matches!(rb, Shape::Ref { .. }) {
                    // A ref to a schema the document lacks: only its name can be compared.
                    if ra != rb {
                        self.report(here, Kind::TypeChanged, format!("{} -> {}", ra.describe(), rb.describe()));
                    }
                    return;
                }
                self.shape(ra, rb, here)
            }
            (Shape::Union { .. }, _) | (_, Shape::Union { .. }) => self.union(a, b, here),
            (Shape::Any, _) => self.report(here, Kind::AnyChanged { now_any: false }, format!("any -> {}", b.describe())),
            (_, Shape::Any) => self.report(here, Kind::AnyChanged { now_any: true }, format!("{} -> any", a.describe())),
            (Shape::Scalar { scalar: x }, Shape::Scalar { scalar: y }) => match (x, y) {
                (Scalar::Integer, Scalar::Number) => self.report(here, Kind::NumberWidened { widened: true }, "integer -> number".into()),
                (Scalar::Number, Scalar::Integer) => self.report(here, Kind::NumberWidened { widened: false }, "number -> integer".into()),
                _ => self.report(here, Kind::TypeChanged, format!("{} -> {}", x.name(), y.name())),
            },
            (Shape::Enum { values: x }, Shape::Enum { values: y }) => {
                let gone: Vec<&str> = x.difference(y).map(String::as_str).collect();
                let came: Vec<&str> = y.difference(x).map(String::as_str).collect();
                if !gone.is_empty() {
                    self.report(here, Kind::EnumValuesRemoved, format!("values removed: {}", gone.join(", ")));
                }
                if !came.is_empty() {
                    self.report(here, Kind::EnumValuesAdded, format!("values added: {}", came.join(", ")));
                }
            }
            (Shape::Enum { values }, Shape::Scalar { scalar }) if enum_scalar(values) == Some(*scalar) => {
                self.report(here, Kind::EnumOpened { opened: true }, format!("{} -> any {}", a.describe(), scalar.name()))
            }
            (Shape::Scalar { scalar }, Shape::Enum { values }) if enum_scalar(values) == Some(*scalar) => {
                self.report(here, Kind::EnumOpened { opened: false }, format!("any {} -> {}", scalar.name(), b.describe()))
            }
            (Shape::Array { items: x }, Shape::Array { items: y }) => self.shape(x, y, &here.at("[]")),
            (Shape::Object(x), Shape::Object(y)) => self.object(x, y, here),
            _ => self.report(here, Kind::TypeChanged, format!("{} -> {}", a.describe(), b.describe())),
        }
    }

    /// A named schema on each side: compared once per pair, reported at the schema.
    fn named(&mut self, x: &str, y: &str, here: &Here) {
        if !self.compared.insert((x.to_string(), y.to_string(), here.flow, here.cap)) {
            return;
        }
        let (ra, rb) = (self.old.resolve_name(x), self.new.resolve_name(y));
        let (Some(ra), Some(rb)) = (ra, rb) else {
            if x != y {
                self.report(here, Kind::TypeChanged, format!("`{x}` -> `{y}`"));
            }
            return;
        };
        let location = if x == y { format!("schema {y}") } else { format!("schema {x} -> {y}") };
        let inside = Here {
            location,
            path: String::new(),
            reached_from: Some(format!("{}{}", here.location, here.path)),
            flow: here.flow,
            cap: here.cap,
        };
        self.shape(ra, rb, &inside)
    }

    fn object(&mut self, x: &Object, y: &Object, here: &Here) {
        for (key, p) in &x.properties {
            let at = here.at(&format!(".{key}"));
            match y.properties.get(key) {
                None => {
                    let kind = Kind::PropertyRemoved {
                        was_required: p.required,
                        now_closed: y.closed,
                    };
                    let what = if p.required { "required" } else { "optional" };
                    self.report(&at, kind, format!("{what} property `{key}` removed"));
                }
                Some(q) => {
                    if p.required != q.required {
                        let detail = if q.required { "now always present/required" } else { "now optional" };
                        self.report(&at, Kind::RequiredChanged { now_required: q.required }, detail.into());
                    }
                    self.shape(&p.shape, &q.shape, &at);
                }
            }
        }
        for (key, q) in &y.properties {
            if !x.properties.contains_key(key) {
                let what = if q.required { "required" } else { "optional" };
                let detail = format!("{what} property `{key}` added ({})", q.shape.describe());
                self.report(&here.at(&format!(".{key}")), Kind::PropertyAdded { required: q.required }, detail);
            }
        }
        if let (Some(a), Some(b)) = (&x.values, &y.values) {
            self.shape(a, b, &here.at("[*]"));
        }
    }

    /// Unions (or a union and a plain shape): variants matched by their tag (the values
    /// an object variant fixes, or its JSON type), first whole, then by the first fixed
    /// value alone, then compared pairwise.
    fn union(&mut self, a: &Shape, b: &Shape, here: &Here) {
        let tag_a: Vec<Tag> = a.variants().into_iter().map(|v| self.tag(v, true)).collect();
        let tag_b: Vec<Tag> = b.variants().into_iter().map(|v| self.tag(v, false)).collect();
        let (va, vb) = (a.variants(), b.variants());
        let mut pair_of: Vec<Option<usize>> = vec![None; va.len()];
        let mut used = vec![false; vb.len()];
        // An enum that became `enum | any string of that type` is compared with the open
        // variant: every old value is still taken, and a reader may now see any value.
        // Paired with the new enum it would read as values removed, which they are not.
        for i in 0..va.len() {
            let Shape::Enum { values } = self.old.resolve(va[i]) else { continue };
            let Some(scalar) = enum_scalar(values) else { continue };
            let open = (0..vb.len()).find(|&j| {
                !used[j] && matches!(self.new.resolve(vb[j]), Shape::Scalar { scalar: s } if *s == scalar)
            });
            if let Some(j) = open {
                used[j] = true;
                pair_of[i] = Some(j);
            }
        }
        for (i, t) in tag_a.iter().enumerate() {
            if pair_of[i].is_some() {
                continue;
            }
            if let Some(j) = (0..vb.len()).find(|&j| !used[j] && &tag_b[j] == t) {
                used[j] = true;
                pair_of[i] = Some(j);
            }
        }
        // Then by the first fixed value alone, where it leaves no choice: `{type=x}` that
        // gained a fixed key. Where several share it (`type=sync`, told apart by their
        // `syncEvent.type`), an unmatched one is a kind of message gone or new.
        for i in 0..va.len() {
            if pair_of[i].is_some() {
                continue;
            }
            let first = tag_a[i].first();
            let unmatched_a = (0..va.len()).filter(|&k| pair_of[k].is_none() && tag_a[k].first() == first).count();
            let candidates: Vec<usize> = (0..vb.len()).filter(|&j| !used[j] && tag_b[j].first() == first).collect();
            if let ([j], 1) = (candidates.as_slice(), unmatched_a) {
                used[*j] = true;
                pair_of[i] = Some(*j);
            }
        }
        let several = va.len() > 1 || vb.len() > 1;
        let gone: Vec<usize> = (0..va.len()).filter(|&i| pair_of[i].is_none()).collect();
        let came: Vec<usize> = (0..vb.len()).filter(|&j| !used[j]).collect();
        for (i, j) in pair_of.iter().enumerate().filter_map(|(i, j)| j.map(|j| (i, j))) {
            let at = match tag_b[j].fixed.first() {
                Some(t) if several => here.at(&format!("<{t}>")),
                _ => here.clone(),
            };
            self.shape(va[i], vb[j], &at);
        }
        match (gone.as_slice(), came.as_slice()) {
            ([], []) => {}
            ([i], [j]) if !several => self.report(here, Kind::TypeChanged, format!("{} -> {}", va[*i].describe(), vb[*j].describe())),
            _ => {
                for i in gone {
                    let tagged = !tag_a[i].fixed.is_empty();
                    self.report(here, Kind::VariantRemoved { tagged }, format!("variant {} removed", tag_a[i].describe(va[i])));
                }
                for j in came {
                    let tagged = !tag_b[j].fixed.is_empty();
                    self.report(here, Kind::VariantAdded { tagged }, format!("variant {} added", tag_b[j].describe(vb[j])));
                }
            }
        }
    }

    /// What tells a variant apart: the values its object fixes (`type=sync`,
    /// `syncEvent.type=...`, two levels deep), or its JSON type (an enum counts as its
    /// values' type; integer and number are alike).
    fn tag(&self, v: &Shape, old: bool) -> Tag {
        let surface = if old { self.old } else { self.new };
        match surface.resolve(v) {
            Shape::Object(o) => {
                let mut fixed = Vec::new();
                fixed_values(surface, o, "", 2, &mut fixed);
                Tag { kind: "object", fixed }
            }
            Shape::Enum { values } => Tag::kind(enum_scalar(values).map_or("enum", number_alike)),
            Shape::Scalar { scalar } => Tag::kind(number_alike(*scalar)),
            Shape::Array { .. } => Tag::kind("array"),
            Shape::Any => Tag::kind("any"),
            Shape::Union { .. } => Tag::kind("union"),
            Shape::Ref { .. } => Tag::kind("missing schema"),
        }
    }
}

/// What tells a union's variant apart (see `Differ::tag`).
#[derive(Debug, PartialEq, Eq)]
struct Tag {
    kind: &'static str,
    /// `type="sync"`, `syncEvent.type="session.next.revert.cleared"`, in key order.
    fixed: Vec<String>,
}

impl Tag {
    fn kind(kind: &'static str) -> Tag {
        Tag { kind, fixed: vec![] }
    }

    fn first(&self) -> (&'static str, Option<&String>) {
        (self.kind, self.fixed.first())
    }

    fn describe(&self, v: &Shape) -> String {
        match self.fixed.first() {
            Some(_) => format!("{} {{{}}}", v.describe(), self.fixed.join(", ")),
            None => v.describe(),
        }
    }
}

/// The properties of `o` fixed to one value, its own first, then those of its objects
/// (`depth` levels down).
fn fixed_values(surface: &Surface, o: &Object, prefix: &str, depth: usize, out: &mut Vec<String>) {
    for (k, p) in &o.properties {
        if let Shape::Enum { values } = surface.resolve(&p.shape) {
            if values.len() == 1 {
                out.push(format!("{prefix}{k}={}", values.iter().next().map(String::as_str).unwrap_or_default()));
            }
        }
    }
    for (k, p) in &o.properties {
        if let Shape::Object(inner) = surface.resolve(&p.shape) {
            if depth > 1 {
                fixed_values(surface, inner, &format!("{prefix}{k}."), depth - 1, out);
            }
        }
    }
}

fn number_alike(s: Scalar) -> &'static str {
    match s {
        Scalar::Integer | Scalar::Number => "number",
        s => s.name(),
    }
}

/// The JSON type of an enum's values (JSON text), when they share one.
fn enum_scalar(values: &BTreeSet<String>) -> Option<Scalar> {
    let kinds: BTreeSet<Scalar> = values
        .iter()
        .filter_map(|v| match serde_json::from_str::<serde_json::Value>(v).ok()? {
            serde_json::Value::String(_) => Some(Scalar::String),
            serde_json::Value::Bool(_) => Some(Scalar::Boolean),
            serde_json::Value::Number(n) if n.is_f64() => Some(Scalar::Number),
            serde_json::Value::Number(_) => Some(Scalar::Integer),
            _ => None,
        })
        .collect();
    match kinds.len() {
        1 => kinds.into_iter().next(),
        _ => None,
    }
}

fn gone_word(kind: Kind) -> &'static str {
    match kind {
        Kind::EventTypeNoLongerSeen => "seen on A's runs, not on B's",
        _ => "removed",
    }
}

fn came_word(kind: Kind) -> &'static str {
    match kind {
        Kind::EventTypeNewlySeen => "seen on B's runs, not on A's",
        _ => "added",
    }
}

/// ` (B has X, new, with the same first word)`: an event type that went away while one
/// of the same family (`permission.updated` -> `permission.asked`) came.
fn renamed_hint(name: &str, old: &BTreeMap<String, Shape>, new: &BTreeMap<String, Shape>) -> String {
    let family = name.split('.').next().unwrap_or(name);
    let came: Vec<&str> = new
        .keys()
        .filter(|n| !old.contains_key(*n) && n.split('.').next() == Some(family))
        .map(String::as_str)
        .collect();
    if came.is_empty() {
        String::new()
    } else {
        format!(" (B adds {} in the same family)", came.join(", "))
    }
}
