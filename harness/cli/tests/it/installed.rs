//! An installed binary works from any directory: with no `oc-conform.toml` above the
//! working directory (and no OC_CONFORM_ROOT), the scenarios, fixtures and default config
//! come from the copy compiled into the binary, extracted into the cache; a user's
//! `oc-conform.toml` there still wins. (The `cargo install` into a temporary root with the
//! source tree hidden is in README.md's "Install" section and the branch's note: it
//! rebuilds the binary, too slow for the suite.)

use assert_cmd::Command;

fn installed_elsewhere(cwd: &std::path::Path, cache: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("oc-conform").unwrap();
    c.env_remove("OC_CONFORM_ROOT").env("OC_CONFORM_CACHE", cache).current_dir(cwd);
    c
}

#[test]
fn list_works_from_an_unrelated_directory_through_the_embedded_project() {
    let cwd = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = installed_elsewhere(cwd.path(), cache.path()).arg("list").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for core in ["plugin-loads", "abort-http", "event-stream-complete"] {
        assert!(stdout.lines().any(|l| l.starts_with(core)), "{core} missing:\n{stdout}");
    }
    // Extracted once, under the cache, content-addressed.
    let extracted: Vec<_> = std::fs::read_dir(cache.path().join("harness")).unwrap().flatten().collect();
    assert_eq!(extracted.len(), 1, "{extracted:?}");
    let root = extracted[0].path();
    assert!(root.join("scenarios/plugin-loads.toml").is_file());
    assert!(root.join("fixtures/plugins/good-citizen.js").is_file());
    assert!(root.join("oc-conform.toml").is_file());
    // `new` has nowhere of the user's to write without --dir.
    let out = installed_elsewhere(cwd.path(), cache.path())
        .args(["new", "scenario", "mine"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dir"), "{out:?}");
}

#[test]
fn a_users_config_and_scenarios_take_precedence_over_the_embedded_ones() {
    let cwd = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("oc-conform.toml"), "scenarios_dir = \"mine\"\n").unwrap();
    std::fs::create_dir(cwd.path().join("mine")).unwrap();
    let seed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/plugin-loads.toml")).unwrap();
    std::fs::write(
        cwd.path().join("mine/my-own.toml"),
        seed.replace("name = \"plugin-loads\"", "name = \"my-own\""),
    )
    .unwrap();
    let out = installed_elsewhere(cwd.path(), cache.path()).arg("list").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<&str> = stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["my-own"], "{stdout}");
}
