//! Bad input gets a clear error naming what to fix: unknown versions, npm missing, a
//! corrupted cache, a report dir that cannot be written.

use crate::support::{oc_conform, one_real_run_at_a_time, repo_root};
use predicates::prelude::*;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[test]
fn an_unknown_version_lists_the_nearest_available() {
    let cache = tempfile::tempdir().unwrap();
    oc_conform()
        .env("OC_CONFORM_CACHE", cache.path())
        .args(["install", "1.18.999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1.18.999"))
        .stderr(predicate::str::contains("1.18.34"));
}

#[test]
fn an_unwritable_report_dir_is_a_usage_error() {
    oc_conform()
        .args(["run", "--scenario", "abort-http", "--report-dir", "/proc/oc-conform-cannot-write-here"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("cannot create the report dir"))
        .stderr(predicate::str::contains("--report-dir"));
}

/// A PATH with what a scenario's tools need (a shell, sleep, echo) but no npm or node.
fn path_without_npm() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["sh", "bash", "sleep", "echo", "cat", "env", "ls"] {
        for base in ["/usr/bin", "/bin"] {
            let p = Path::new(base).join(tool);
            if p.exists() {
                symlink(&p, dir.path().join(tool)).unwrap();
                break;
            }
        }
    }
    dir
}

fn default_cache() -> PathBuf {
    std::env::var("OC_CONFORM_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        std::env::var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"))
            .join("oc-conform")
    })
}

#[test]
fn without_npm_an_install_says_so_and_cached_versions_still_run() {
    let _one = one_real_run_at_a_time();
    // Make sure the default version is cached first (with npm).
    oc_conform().args(["install", "1.18.34"]).env("OC_CONFORM_CACHE", default_cache()).assert().success();
    let path = path_without_npm();
    let empty_cache = tempfile::tempdir().unwrap();
    oc_conform()
        .env("PATH", path.path())
        .env("OC_CONFORM_CACHE", empty_cache.path())
        .args(["install", "1.18.33"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("npm"));

    let report = tempfile::tempdir().unwrap();
    oc_conform()
        .env("PATH", path.path())
        .env("OC_CONFORM_CACHE", default_cache())
        .env("OC_CONFORM_ROOT", repo_root())
        .args(["run", "--opencode", "1.18.34", "--scenario", "server-requires-auth", "--report-dir"])
        .arg(report.path())
        .assert()
        .code(0);
}

#[test]
fn a_corrupted_cache_entry_is_detected_and_fetched_again() {
    let _one = one_real_run_at_a_time();
    let cache = tempfile::tempdir().unwrap();
    let install = || oc_conform().env("OC_CONFORM_CACHE", cache.path()).args(["install", "1.18.34"]).output().unwrap();
    assert!(install().status.success());
    let binary = cache.path().join("opencode/1.18.34/bin/opencode");
    let size = std::fs::metadata(&binary).unwrap().len();
    // Truncate it, as a full disk or an interrupted copy would.
    std::fs::write(&binary, b"#!/bin/sh\nexit 1\n").unwrap();
    let again = install();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::metadata(&binary).unwrap().len(), size, "the binary was not fetched again");
}
