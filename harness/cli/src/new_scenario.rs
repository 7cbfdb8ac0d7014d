//! `oc-conform new scenario NAME [--dir DIR]`: writes a commented scenario skeleton that
//! runs as it is (one short turn, judged by three checks), for the author to change.

use oc_conform_app::{exit, workspace, Workspace};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug, Clone)]
pub enum NewCommand {
    /// A scenario skeleton: `<DIR>/<NAME>.toml`.
    Scenario(NewScenarioArgs),
}

#[derive(Args, Debug, Clone)]
pub struct NewScenarioArgs {
    /// The scenario's name: lower-case letters, digits and dashes (e.g. `my-plugin-blocks-env`).
    pub name: String,
    /// Where to write it. Default: the project's scenarios directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn new(cmd: NewCommand) -> u8 {
    match cmd {
        NewCommand::Scenario(args) => match new_scenario(&args) {
            Ok(path) => {
                println!("{}", path.display());
                let dir = path.parent().unwrap_or(Path::new("."));
                eprintln!(
                    "wrote {}; run it with: oc-conform run --scenarios {} --scenario {}",
                    path.display(),
                    dir.display(),
                    args.name
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::USAGE
            }
        },
    }
}

/// Why `name` cannot name a scenario, if it cannot.
pub fn invalid_name(name: &str) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty() {
        Some("the name is empty".into())
    } else if !ok_chars {
        Some(format!(
            "`{name}` is not a scenario name: use lower-case letters, digits and dashes (it names the file, reports and expectations)"
        ))
    } else if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        Some(format!("`{name}` is not a scenario name: dashes go between words"))
    } else if name.len() > 64 {
        Some(format!("`{name}` is too long (64 characters at most)"))
    } else {
        None
    }
}

fn new_scenario(args: &NewScenarioArgs) -> Result<PathBuf, String> {
    if let Some(why) = invalid_name(&args.name) {
        return Err(why);
    }
    let project = Workspace::load().ok();
    let dir = match (&args.dir, &project) {
        (Some(d), _) => d.clone(),
        // The embedded scenarios are the binary's, not a place to write into.
        (None, Some(ws)) if ws.origin == workspace::Origin::Project && ws.config.scenarios_dir.starts_with(&ws.root) => {
            ws.config.scenarios_dir.clone()
        }
        _ => return Err("no --dir and no oc-conform project found: pass --dir DIR".into()),
    };
    // A second scenario of the same name would make `run` refuse both.
    if let Some(ws) = &project {
        if let Ok(all) = oc_conform_scenario::load_dir(&ws.config.scenarios_dir) {
            if let Some((path, _)) = all.iter().find(|(_, s)| s.name == args.name) {
                return Err(format!(
                    "a scenario named `{}` already exists: {}",
                    args.name,
                    path.display()
                ));
            }
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.toml", args.name));
    let text = skeleton(&args.name);
    // `create_new`: refuse to overwrite, even if the file appears meanwhile.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!("{} already exists; not overwriting it", path.display()),
            _ => format!("cannot write {}: {e}", path.display()),
        })?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The skeleton for `name`: valid as written, and it passes on the default opencode.
pub fn skeleton(name: &str) -> String {
    SKELETON.replace("__NAME__", name)
}

const SKELETON: &str = r#"# __NAME__: say here, in a line or two, what this scenario proves.
# Run it:      oc-conform run --scenarios <this directory> --scenario __NAME__
# Your plugin: oc-conform check-plugin path/to/plugin.js --scenarios <this directory>
# The format (every key, step, condition and check): scenarios/README.md
format_version = 1
name = "__NAME__"                   # = the file's name; lower-case, digits, dashes
description = """
One short turn: a prompt, a text answer from the fake model; the session goes busy, then
idle once, and stores both messages. Replace this with what your scenario checks."""
# upstream = ["https://github.com/sst/opencode/issues/..."]   # where it comes from
deadline_ms = 30000                  # past this the scenario is ERROR (no verdict)

# Plugins to load: a file next to this one, a file under fixtures/plugins/, or an absolute
# path. They report to oc-conform by appending JSON lines ({"event": "..."}) to the file
# named by $OC_CONFORM_PLUGIN_LOG (see the tutorial in scenarios/README.md).
# plugins = ["my-plugin.js"]
# env = { MY_PLUGIN_MODE = "strict" }   # extra environment for the server and its plugins

# Merged into the sandbox's opencode.json:
# [opencode_config]
# permission = { bash = "ask" }

# The fake model. Each request that carries tools takes the next turn, in order; a request
# past the last turn is answered with an error and fails the run.
[[model.turns]]
text = "Hello from the fake model."
# A turn that calls a tool instead (the next turn then answers the tool's result):
# tool_calls = [{ name = "bash", arguments = { command = "echo hi", description = "Say hi" } }]

# The steps, played in order.
[[steps]]
do = "prompt"
text = "Say hello."

[[steps]]
do = "wait"
until = { event = "session.idle" }   # also: status, process, tool_state, plugin, model_requests, ...
timeout_ms = 20000

# An observation window: whatever happens late still lands on the timeline before the checks.
[[steps]]
do = "wait"
until = { quiet_ms = 500 }
timeout_ms = 8000

# The checks that judge the recorded timeline.
[[checks]]
check = "status-reaches-idle"

[[checks]]
check = "one-idle-per-busy"

[[checks]]
check = "messages-stored"
min = 2

# Your plugin wrote a record with this event (and no `error` field):
# [[checks]]
# check = "plugin-reported"
# event = "my-event"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(invalid_name("my-plugin-2").is_none());
        for bad in ["", "My", "a_b", "a b", "-a", "a-", "a--b", "../x", "a.toml"] {
            assert!(invalid_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn the_skeleton_is_a_valid_scenario() {
        let s = oc_conform_scenario::parse_str(&skeleton("hello-turn"), Path::new("hello-turn.toml")).unwrap();
        assert_eq!(s.name, "hello-turn");
        assert_eq!(s.checks.len(), 3);
    }
}
