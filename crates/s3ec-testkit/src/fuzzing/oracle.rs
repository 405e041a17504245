//! What a get may and may not produce.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Whether the served envelope could make the client read CBC (unauthenticated) content: a V1 key, a CBC
/// content algorithm, or a value hidden behind RFC 2047 encoding.
pub(crate) fn may_read_as_cbc(g: &Genuine, s: &Served) -> bool {
    let suspicious = |k: &str, v: &str| {
        k == "x-amz-key"
            || v.contains("CBC")
            || v.contains("=?")
            || v.contains('\\')
            || (k == "x-amz-c" && !v.contains("115"))
    };
    g.cbc
        || s.metadata
            .iter()
            .chain(s.instruction.iter().flatten())
            .any(|(k, v)| suspicious(&k.to_ascii_lowercase(), v))
        || s.instruction_raw.as_ref().is_some_and(|raw| {
            let t = String::from_utf8_lossy(raw);
            t.contains("CBC") || t.contains("x-amz-key\"") || t.contains('\\') || t.contains("=?")
        })
}

/// What the get produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `send` failed: nothing released.
    Refused(String),
    /// `send` succeeded; `released` is every body byte read, `error` how the body ended.
    Read {
        released: Vec<u8>,
        error: Option<String>,
        content_length: Option<i64>,
    },
}

pub(crate) struct Checked<'a> {
    pub(crate) policy: CommitmentPolicy,
    pub(crate) legacy_wrapping: bool,
    pub(crate) legacy_unauth: bool,
    pub(crate) delayed: bool,
    pub(crate) context_genuine: bool,
    pub(crate) range: Option<&'a RangeReq>,
}

pub(crate) fn check(g: &Genuine, s: &Served, c: &Checked<'_>, outcome: Outcome) {
    let name = g.name;
    let plain = &g.plaintext[..];
    let expected: Option<&[u8]> = match c.range.map(|r| r.slice) {
        None => Some(plain),
        Some(Some(Some((a, b)))) => Some(&plain[a..b]),
        Some(Some(None)) => Some(&[]),
        Some(None) => None,
    };
    // Tampering an unauthenticated mode can reach: success with other bytes is that mode working as designed.
    let cbc = c.legacy_unauth && may_read_as_cbc(g, s);
    let ranged_ctr = c.legacy_unauth && c.range.is_some();
    let tampered = s.body_tampered || s.envelope_tampered;
    let unauthenticated = cbc || ranged_ctr;
    let strict_success = !(unauthenticated && tampered);
    // Modes that stream before authenticating: on error, bytes may have been released.
    let streams = c.delayed || cbc || ranged_ctr;

    match outcome {
        Outcome::Refused(err) => {
            let untouched = !tampered && s.fail_after.is_none();
            let admitted = match c.policy {
                CommitmentPolicy::RequireEncryptRequireDecrypt => !g.non_committing,
                _ => true,
            };
            if untouched
                && admitted
                && c.legacy_wrapping
                && c.legacy_unauth
                && c.context_genuine
                && c.range.is_none()
            {
                panic!("{name}: untouched object refused with every option on: {err}");
            }
        }
        Outcome::Read {
            released,
            error: None,
            content_length,
        } => {
            if strict_success {
                match expected {
                    Some(e) => assert!(
                        released == e || pasted_from_other(g, c.range, &released),
                        "{name}: get succeeded with {} bytes that are not the genuine {} bytes",
                        released.len(),
                        e.len()
                    ),
                    None => assert!(
                        released.is_empty()
                            || plain.windows(released.len()).any(|w| w == released),
                        "{name}: get with an odd range returned bytes that are no slice of the plaintext"
                    ),
                }
                if let Some(n) = content_length {
                    assert_eq!(
                        n,
                        released.len() as i64,
                        "{name}: Content-Length does not match the plaintext released"
                    );
                }
            }
        }
        Outcome::Read {
            released,
            error: Some(err),
            ..
        } => {
            if !streams {
                assert!(
                    released.is_empty(),
                    "{name}: {} bytes released before the error {err}",
                    released.len()
                );
            } else if !tampered {
                let e = expected.unwrap_or(plain);
                let prefix_ok = released.len() <= e.len() && e[..released.len()] == released[..]
                    || expected.is_none() && plain.windows(released.len()).any(|w| w == released);
                assert!(
                    prefix_ok || released.is_empty(),
                    "{name}: bytes released before the error {err} are not genuine plaintext"
                );
            }
        }
    }
}

/// Whether `released` is what the same request gives on another genuine object: a whole envelope and body pasted
/// from another object under the same key authenticate (the format binds neither the S3 key nor the object's
/// identity), so a get then returns that object's plaintext, or the slice the range selects of it.
pub(crate) fn pasted_from_other(g: &Genuine, range: Option<&RangeReq>, released: &[u8]) -> bool {
    world().objects.iter().any(|o| {
        !std::ptr::eq(o, g)
            && match range {
                None => o.plaintext == released,
                Some(r) => range_slice(&r.header, o.plaintext.len())
                    .is_some_and(|(start, end)| o.plaintext[start..end] == *released),
            }
    })
}

/// The `[start, end)` slice a well-formed `bytes=` range selects of a `len`-byte object, if it is satisfiable.
fn range_slice(header: &str, len: usize) -> Option<(usize, usize)> {
    let spec = header.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let slice = match (a.parse::<usize>().ok(), b.parse::<usize>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, (b + 1).min(len)),
        (Some(a), None) if b.is_empty() => (a, len),
        (None, Some(n)) if a.is_empty() && n > 0 => (len - n.min(len), len),
        _ => return None,
    };
    (slice.0 < slice.1).then_some(slice)
}
