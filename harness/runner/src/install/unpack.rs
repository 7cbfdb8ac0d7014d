//! The one unpacker of gzipped tarballs: one member of an npm tarball (the opencode
//! binary), or a whole tarball (a plugin package).

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tarball has no usable content of the kind wanted, or cannot be read as a
    /// gzipped tarball; the text says what it holds instead.
    #[error("{0}")]
    Unusable(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

type Archive = tar::Archive<flate2::read::GzDecoder<io::BufReader<fs::File>>>;

fn open(tarball: &Path) -> Result<Archive, UnpackError> {
    let file = fs::File::open(tarball)?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(
        io::BufReader::new(file),
    )))
}

/// Read errors that mean the bytes are not a gzipped tarball (as opposed to the disk).
fn unreadable(e: io::Error) -> UnpackError {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => {
            UnpackError::Unusable(format!("the tarball is unreadable: {e}"))
        }
        _ => UnpackError::Io(e),
    }
}

/// Extracts the regular file `member` (e.g. `package/bin/opencode`) of a `.tgz` into
/// `dest` (created, mode 755, synced); returns its size. Nothing else of the tarball is
/// written anywhere.
pub fn unpack_executable(tarball: &Path, member: &str, dest: &Path) -> Result<u64, UnpackError> {
    let mut archive = open(tarball)?;
    let mut seen: Vec<String> = Vec::new();
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_string();
        if name != member {
            if seen.len() < 10 {
                seen.push(name);
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(UnpackError::Unusable(format!(
                "{name} is a {kind:?} entry, not a regular file"
            )));
        }
        let expected = entry.header().size().map_err(unreadable)?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(dest)?;
        let written = io::copy(&mut entry, &mut out).map_err(unreadable)?;
        if written != expected || written == 0 {
            return Err(UnpackError::Unusable(format!(
                "{name} holds {written} bytes, its header says {expected}"
            )));
        }
        // The umask may have cut the mode given at creation.
        out.set_permissions(fs::Permissions::from_mode(0o755))?;
        out.sync_all()?;
        return Ok(written);
    }
    let listing = if seen.is_empty() {
        "it is empty".to_string()
    } else {
        format!("it holds {}", seen.join(", "))
    };
    Err(UnpackError::Unusable(listing))
}

/// Unpacks a whole `.tgz` into `dest`, with the modes the umask gives (not the
/// tarball's). Entries that would land outside `dest` (`..`, absolute paths) are refused.
pub fn unpack_all(tarball: &Path, dest: &Path) -> Result<(), UnpackError> {
    let mut archive = open(tarball)?;
    archive.set_preserve_permissions(false);
    archive
        .unpack(dest)
        .map_err(|e| UnpackError::Unusable(format!("cannot unpack it as a gzipped tarball: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::test_support::{opencode_tgz, tgz};
    use crate::install::BINARY_IN_TARBALL;

    fn unpack_binary(tarball: &Path, dest: &Path) -> Result<u64, UnpackError> {
        unpack_executable(tarball, BINARY_IN_TARBALL, dest)
    }

    #[test]
    fn unpacks_the_binary_from_a_synthetic_tarball() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("ok.tgz");
        fs::write(&t, opencode_tgz("1.2.3")).unwrap();
        let dest = tmp.path().join("opencode");
        let n = unpack_binary(&t, &dest).unwrap();
        assert_eq!(
            fs::read_to_string(&dest).unwrap(),
            "#!/bin/sh\necho 1.2.3\n"
        );
        assert_eq!(n, fs::metadata(&dest).unwrap().len());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // Only the binary is written.
        assert!(!tmp.path().join("package").exists());

        let none = tmp.path().join("none.tgz");
        fs::write(&none, tgz(&[("package/package.json", b"{}", 0o644)])).unwrap();
        match unpack_binary(&none, &tmp.path().join("x")) {
            Err(UnpackError::Unusable(d)) => assert!(d.contains("package/package.json"), "{d}"),
            other => panic!("{other:?}"),
        }
        assert!(!tmp.path().join("x").exists());

        let junk = tmp.path().join("junk.tgz");
        fs::write(&junk, b"not a tarball at all").unwrap();
        assert!(matches!(
            unpack_binary(&junk, &tmp.path().join("y")),
            Err(UnpackError::Unusable(_))
        ));

        // A symlink where the binary should be is refused.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "package/bin/opencode", "/bin/sh")
            .unwrap();
        let link = tmp.path().join("link.tgz");
        fs::write(&link, b.into_inner().unwrap().finish().unwrap()).unwrap();
        assert!(matches!(
            unpack_binary(&link, &tmp.path().join("z")),
            Err(UnpackError::Unusable(_))
        ));
    }

    // -- installs against a fake npm ----------------------------------------------------

    /// A stand-in npm: logs each call, answers `view` from `dists` and `versions`, and

    #[test]
    fn a_whole_tarball_unpacks_inside_its_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("pkg.tgz");
        fs::write(
            &t,
            tgz(&[
                ("package/package.json", b"{}", 0o600),
                ("package/lib/a.js", b"x", 0o644),
            ]),
        )
        .unwrap();
        let dest = tmp.path().join("out");
        unpack_all(&t, &dest).unwrap();
        assert_eq!(fs::read(dest.join("package/lib/a.js")).unwrap(), b"x");
        assert!(dest.join("package/package.json").is_file());

        let junk = tmp.path().join("junk.tgz");
        fs::write(&junk, b"not a tarball").unwrap();
        match unpack_all(&junk, &tmp.path().join("j")) {
            Err(UnpackError::Unusable(m)) => {
                assert!(m.contains("cannot unpack it as a gzipped tarball"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            unpack_all(&tmp.path().join("none.tgz"), &dest),
            Err(UnpackError::Io(_))
        ));
    }
}
