//! The hook names opencode looks up on what a plugin returns: the keys of the `Hooks`
//! interface of `@opencode-ai/plugin`. Any other key a plugin returns is never called.
//!
//! Read from the package's `dist/index.d.ts` at 1.0.65, 1.14.48, 1.15.13 and 1.18.33
//! (2026-12-01); the version is the first of those that declares the name. A name added by
//! a later release goes here with the first version that declares it.

/// (hook name, first `@opencode-ai/plugin` version read that declares it).
pub const HOOK_NAMES: &[(&str, &str)] = &[
    ("event", "1.0.65"),
    ("config", "1.0.65"),
    ("tool", "1.0.65"),
    ("auth", "1.0.65"),
    ("chat.message", "1.0.65"),
    ("chat.params", "1.0.65"),
    ("permission.ask", "1.0.65"),
    ("tool.execute.before", "1.0.65"),
    ("tool.execute.after", "1.0.65"),
    ("provider", "1.14.48"),
    ("chat.headers", "1.14.48"),
    ("command.execute.before", "1.14.48"),
    ("shell.env", "1.14.48"),
    ("experimental.chat.messages.transform", "1.14.48"),
    ("experimental.chat.system.transform", "1.14.48"),
    ("experimental.session.compacting", "1.14.48"),
    ("experimental.compaction.autocontinue", "1.14.48"),
    ("experimental.text.complete", "1.14.48"),
    ("tool.definition", "1.14.48"),
    ("dispose", "1.15.13"),
    ("experimental.provider.small_model", "1.18.33"),
];

/// Whether `key`, registered by a plugin (custom tools as `tool:<name>`), is a hook some
/// release calls by that name.
pub fn is_hook_name(key: &str) -> bool {
    key.starts_with("tool:") || HOOK_NAMES.iter().any(|(name, _)| *name == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_and_custom_tools_are_hook_names_and_other_keys_are_not() {
        for yes in ["event", "chat.params", "dispose", "experimental.session.compacting", "tool:compress"] {
            assert!(is_hook_name(yes), "{yes}");
        }
        // What a helper export called with the plugin context returns (the context itself).
        for no in ["$", "client", "directory", "serverUrl", "chat", "tool.execute", ""] {
            assert!(!is_hook_name(no), "{no}");
        }
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<&str> = HOOK_NAMES.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), HOOK_NAMES.len());
    }
}
