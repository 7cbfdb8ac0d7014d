//! Fixtures the install tests share: hand-made cache entries, tarballs, a fake npm.

use super::cache::now_rfc3339;
use super::integrity::sha512_sri;
use super::{InstallRecord, Installer, NPM_PACKAGE};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes a cache entry by hand, as an install would leave it.
pub(crate) fn plant(installer: &Installer, version: &str, script: &str) {
    let bin = installer.binary_path(version);
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    write_exec(&bin, script);
    let record = InstallRecord {
        version: version.into(),
        package: NPM_PACKAGE.into(),
        integrity: sha512_sri(script.as_bytes()),
        size: script.len() as u64,
        installed_at: now_rfc3339(),
    };
    fs::write(
        installer.version_dir(version).join("install.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
}

pub(crate) fn write_exec(path: &Path, content: &str) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(path)
        .unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

pub(crate) fn no_npm(dir: &Path) -> Installer {
    Installer::new(dir).with_npm(dir.join("no-such-npm"))
}

pub(crate) fn tgz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (path, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

pub(crate) fn opencode_tgz(version: &str) -> Vec<u8> {
    let script = format!("#!/bin/sh\necho {version}\n");
    tgz(&[
        ("package/bin/opencode", script.as_bytes(), 0o755),
        (
            "package/package.json",
            br#"{"name":"opencode-linux-x64"}"#,
            0o644,
        ),
    ])
}

/// A stand-in npm: logs each call, answers `view` from `dists` and `versions`, and
/// `pack` by copying the fixture tarball of that version. `extra` runs first.
pub(crate) fn fake_npm(dir: &Path, versions: &[(&str, &[u8], &str)], extra: &str) -> PathBuf {
    let fixtures = dir.join("fixtures");
    fs::create_dir_all(&fixtures).unwrap();
    let mut view_cases = String::new();
    for (v, tarball, integrity) in versions {
        fs::write(fixtures.join(format!("{v}.tgz")), tarball).unwrap();
        view_cases += &format!(
            "    {NPM_PACKAGE}@{v}) printf '%s\\n' '{{\"integrity\":\"{integrity}\",\"shasum\":\"x\"}}'; exit 0;;\n"
        );
    }
    let list = versions
        .iter()
        .map(|(v, _, _)| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    let latest = versions.last().map(|v| v.0).unwrap_or("0.0.0");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> "{log}"
[ -f package.json ] || {{ echo "npm error not in its own cwd" >&2; exit 9; }}
[ "$npm_config_update_notifier" = false ] || exit 8
{extra}
case "$1" in
view)
  case "$2" in
{view_cases}    {NPM_PACKAGE})
  case "$3" in
    versions) echo '[{list},"not-semver"]'; exit 0;;
    version) echo '"{latest}"'; exit 0;;
  esac;;
  esac
  echo '{{"error":{{"code":"E404","summary":"No match found"}}}}'
  echo "npm error code E404" >&2
  exit 1;;
pack)
  v="${{2#{NPM_PACKAGE}@}}"
  [ -f "{fixtures}/$v.tgz" ] || {{ echo "npm error code E404" >&2; exit 1; }}
  sleep 0.3
  cp "{fixtures}/$v.tgz" "$4/{NPM_PACKAGE}-$v.tgz"
  echo "[{{\"filename\":\"{NPM_PACKAGE}-$v.tgz\"}}]"
  exit 0;;
esac
exit 3
"#,
        log = dir.join("npm.log").display(),
        fixtures = fixtures.display(),
    );
    let path = dir.join("fake-npm");
    write_exec(&path, &script);
    path
}

pub(crate) fn npm_calls(dir: &Path, verb: &str) -> usize {
    fs::read_to_string(dir.join("npm.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(verb))
        .count()
}

pub(crate) fn staging_is_empty(inst: &Installer) -> bool {
    fs::read_dir(inst.staging_root())
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}
