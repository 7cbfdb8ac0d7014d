//! Checking a tarball against the integrity the registry gives for it.

use serde::Deserialize;
use sha2::Digest;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The registry's `dist` object (only the fields that matter here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Dist {
    /// Subresource-integrity string, e.g. `sha512-<base64>`.
    pub integrity: Option<String>,
    /// Legacy sha1, hex.
    pub shasum: Option<String>,
}

/// The SRI string (`sha512-<base64>`) of `bytes`.
pub fn sha512_sri(bytes: &[u8]) -> String {
    sri("sha512", &sha2::Sha512::digest(bytes))
}

fn sri(algo: &str, digest: &[u8]) -> String {
    use base64::Engine;
    format!(
        "{algo}-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The sha512 digests an SRI string lists (it may list several, with `?options`).
fn sri_sha512_digests(integrity: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    integrity
        .split_whitespace()
        .filter_map(|token| token.split('?').next()?.strip_prefix("sha512-"))
        .filter_map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
                .ok()
        })
        .collect()
}

/// Whether `actual` (an SRI string, as [`sha512_sri`] gives) satisfies `expected` (the
/// registry's integrity): one of `expected`'s sha512 digests must equal `actual`'s.
pub fn integrity_matches(expected: &str, actual: &str) -> bool {
    let want = sri_sha512_digests(expected);
    let have = sri_sha512_digests(actual);
    !want.is_empty() && have.iter().any(|h| want.contains(h))
}

#[derive(Debug)]
pub(crate) enum VerifyError {
    Mismatch { expected: String, actual: String },
    NoIntegrity,
    Io(io::Error),
}

/// Hashes the tarball and checks it against the registry's `dist`; returns the verified
/// integrity (SRI). sha512 when the registry gives one, else the legacy sha1 shasum.
pub(crate) fn verify_tarball(path: &Path, dist: &Dist) -> Result<String, VerifyError> {
    let expected_sri = dist
        .integrity
        .as_deref()
        .filter(|i| !sri_sha512_digests(i).is_empty());
    if let Some(expected) = expected_sri {
        let digest = hash_file::<sha2::Sha512>(path).map_err(VerifyError::Io)?;
        let actual = sri("sha512", &digest);
        return if integrity_matches(expected, &actual) {
            Ok(actual)
        } else {
            Err(VerifyError::Mismatch {
                expected: expected.to_string(),
                actual,
            })
        };
    }
    if let Some(shasum) = dist
        .shasum
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let digest = hash_file::<sha1::Sha1>(path).map_err(VerifyError::Io)?;
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        return if hex.eq_ignore_ascii_case(shasum) {
            Ok(sri("sha1", &digest))
        } else {
            Err(VerifyError::Mismatch {
                expected: format!("sha1 {shasum}"),
                actual: format!("sha1 {hex}"),
            })
        };
    }
    Err(VerifyError::NoIntegrity)
}

fn hash_file<D: Digest>(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_verification() {
        assert_eq!(
            sha512_sri(b""),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
        assert_eq!(
            sha512_sri(b"abc"),
            "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        );
        let good = sha512_sri(b"tarball bytes");
        let bad = sha512_sri(b"tarball bytez");
        assert!(integrity_matches(&good, &good));
        assert!(!integrity_matches(&good, &bad));
        // Several hashes and options, as SRI allows.
        assert!(integrity_matches(
            &format!("sha1-AAAA {bad} {good}?opt"),
            &good
        ));
        // Unpadded base64 is the same digest.
        assert!(integrity_matches(good.trim_end_matches('='), &good));
        // Nothing to compare with is never a match.
        assert!(!integrity_matches("", &good));
        assert!(!integrity_matches(
            "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
            &good
        ));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.tgz");
        fs::write(&file, b"tarball bytes").unwrap();
        let ok = Dist {
            integrity: Some(good.clone()),
            shasum: None,
        };
        assert_eq!(verify_tarball(&file, &ok).unwrap(), good);
        let wrong = Dist {
            integrity: Some(bad.clone()),
            shasum: None,
        };
        match verify_tarball(&file, &wrong) {
            Err(VerifyError::Mismatch { expected, actual }) => {
                assert_eq!(expected, bad);
                assert_eq!(actual, good);
            }
            other => panic!("{other:?}"),
        }
        // Legacy sha1 when there is no sha512 integrity.
        let sha1_hex: String = sha1::Sha1::digest(b"tarball bytes")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let legacy = Dist {
            integrity: None,
            shasum: Some(sha1_hex.to_uppercase()),
        };
        assert!(verify_tarball(&file, &legacy).unwrap().starts_with("sha1-"));
        let legacy_bad = Dist {
            integrity: None,
            shasum: Some("00".repeat(20)),
        };
        assert!(matches!(
            verify_tarball(&file, &legacy_bad),
            Err(VerifyError::Mismatch { .. })
        ));
        assert!(matches!(
            verify_tarball(&file, &Dist::default()),
            Err(VerifyError::NoIntegrity)
        ));
    }
}
