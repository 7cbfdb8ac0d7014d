//! `check-plugin`'s exercise of a plugin's custom tools: the tools and their argument
//! schemas as the server lists them (`GET /experimental/tool`, asked during the plugin's
//! `plugin-loads` run), arguments generated from each schema (`args`), one scenario that
//! has the fake model call every tool with every case under a deadline (`compile`), and
//! what each call came to (`outcome`). Pure: the driver plays the scenario.

pub mod args;
pub mod compile;
pub mod outcome;

pub use compile::{compile, plan, ToolCase, ToolSettings, SCENARIO};
pub use outcome::{outcomes, CallOutcome, ToolCall};

/// The request that lists the tools with their JSON-schema parameters, for the harness's
/// fake provider and model (the sandbox's config: `fake/fake-model`).
pub const TOOL_LIST_PATH: &str = "/experimental/tool?provider=fake&model=fake-model";
