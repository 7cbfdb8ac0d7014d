//! `oc-conform api-diff`'s pure part: what changed in opencode's interface between two
//! releases, kept apart from behaviour.
//!
//! - [`surface`]: one release's OpenAPI document (`GET /doc`, read with `oas3`) as what it
//!   offers: operations and the event types of its `Event` union, as [`shape::Shape`]s.
//! - [`observed`]: event payloads as a release was seen to publish them (stored
//!   timelines), and where they differ from its own document.
//! - [`diff`]: two surfaces (or two observations) compared; every change classified per
//!   consumer by one table of rules ([`diff::classify`]).
//! - [`report`]: the report, rendered for a terminal, as markdown or as JSON.
//!
//! No I/O: the driver (`oc-conform-app`'s `drivers::api_diff`) fetches and caches the
//! documents and reads the runs.

pub mod diff;
pub mod observed;
pub mod report;
pub mod shape;
pub mod surface;

pub use diff::{Area, Change, Consumer, Kind, Severity};
pub use observed::{Mismatch, Observed};
pub use report::{compare, Report, Side};
pub use surface::{DocError, Surface};
