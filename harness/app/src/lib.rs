//! The application layer: between the command line (which parses arguments and maps one
//! typed error to an exit code) and the runner (which plays scenarios).
//!
//! - [`workspace`]: the project's settings, its scenario catalogue, the expectations, the
//!   installer and the report dir: what every driver starts from.
//! - [`drivers`]: one per job. Each emits one stream of events on a
//!   [`oc_conform_runner::report::Bus`] into the reporters the caller chose
//!   ([`reporters`]), and returns its typed result.
//! - [`interrupt`]: SIGINT/SIGTERM become an event on the bus; the reporters write what
//!   they have.
//!
//! To add a driver: a module in `drivers/` that takes a plan and a bus, and a subcommand in
//! the CLI that builds the plan.

pub mod drivers;
pub mod embedded;
pub mod error;
pub mod interrupt;
pub mod reporters;
pub mod selection;
pub mod workspace;

pub use error::AppError;
pub use oc_conform_runner::report::exit;
pub use workspace::Workspace;
