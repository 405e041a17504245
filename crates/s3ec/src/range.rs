//! Byte ranges, sans IO: parse the S3 `Range` forms, choose the ciphertext range to fetch, and map a fetched
//! ciphertext window back to the plaintext bytes to release.
//!
//! Legacy AES-CBC objects are planned by [`plan_cbc`]; see there for their byte rules.
//!
//! GCM and its CTR twin keep plaintext offset `n` at ciphertext offset `n`, and the 16-byte tag follows the last
//! content byte. So a plaintext range maps to the same ciphertext range, widened to whole AES blocks, and the plaintext
//! length of an object is its stored length minus the tag. The widening copies the reference client: one extra block
//! on each side, which also gives the CBC chaining block where one is needed.

use std::fmt;
use std::str::FromStr;

/// The AES block length: ranges are fetched in whole blocks.
pub const BLOCK: u64 = 16;

/// One range in the forms S3 accepts: `bytes=a-b`, `bytes=a-` and `bytes=-n`.
///
/// ```
/// use s3ec::range::RangeSpec;
/// assert_eq!("bytes=10-19".parse::<RangeSpec>().unwrap(), RangeSpec::FromTo { first: 10, last: 19 });
/// assert_eq!("bytes=-5".parse::<RangeSpec>().unwrap(), RangeSpec::Suffix { len: 5 });
/// assert!("bytes=5-1".parse::<RangeSpec>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last`, both inclusive.
    FromTo {
        /// First byte offset.
        first: u64,
        /// Last byte offset (inclusive); may lie past the end of the object.
        last: u64,
    },
    /// `bytes=first-`: from `first` to the end.
    From {
        /// First byte offset.
        first: u64,
    },
    /// `bytes=-len`: the last `len` bytes.
    Suffix {
        /// How many trailing bytes.
        len: u64,
    },
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The `Range` value is not one of `bytes=a-b`, `bytes=a-`, `bytes=-n` (S3 would silently ignore it and return
    /// the whole object; s3ec refuses instead).
    #[error("unsupported Range syntax {0:?}: use bytes=a-b, bytes=a- or bytes=-n")]
    Syntax(String),
    /// More than one range in one header; S3 does not serve multipart/byteranges.
    #[error("multiple ranges in one Range header are not supported")]
    MultipleRanges,
    /// The range selects no byte of the object: S3's 416 InvalidRange.
    #[error("the requested range is not satisfiable (416 InvalidRange); the object holds {object_size} bytes")]
    Unsatisfiable {
        /// Plaintext size of the object, when known (0 when not).
        object_size: u64,
    },
    /// A `Content-Range` response header that does not parse.
    #[error("malformed Content-Range header {0:?}")]
    BadContentRange(String),
    /// The server returned fewer bytes than the plan needs (a server that trimmed the range differently).
    #[error("the server returned bytes {first}-{last} which do not cover the requested range")]
    ShortResponse {
        /// First ciphertext byte returned.
        first: u64,
        /// Last ciphertext byte returned.
        last: u64,
    },
    /// A legacy CBC object whose stored length is not a positive whole number of 16-byte blocks.
    #[error("the stored AES-CBC object ({total} bytes) is not a positive whole number of 16-byte blocks")]
    NotWholeBlocks {
        /// Stored length.
        total: u64,
    },
    /// The stored object is shorter than its authentication tag.
    #[error("the stored object ({total} bytes) is shorter than the {tag_len}-byte tag")]
    ObjectTooShort {
        /// Stored length.
        total: u64,
        /// Tag length of the suite.
        tag_len: u64,
    },
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for RangeSpec {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::Syntax(s.chars().take(64).collect());
        let spec = s.trim().strip_prefix("bytes=").ok_or_else(bad)?.trim();
        if spec.contains(',') {
            return Err(RangeError::MultipleRanges);
        }
        let (a, b) = spec.split_once('-').ok_or_else(bad)?;
        match (a.is_empty(), b.is_empty()) {
            (true, true) => Err(bad()),
            (true, false) => Ok(RangeSpec::Suffix {
                len: digits(b).ok_or_else(bad)?,
            }),
            (false, true) => Ok(RangeSpec::From {
                first: digits(a).ok_or_else(bad)?,
            }),
            (false, false) => {
                let (first, last) = (digits(a).ok_or_else(bad)?, digits(b).ok_or_else(bad)?);
                if first > last {
                    return Err(bad());
                }
                Ok(RangeSpec::FromTo { first, last })
            }
        }
    }
}

impl fmt::Display for RangeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RangeSpec::FromTo { first, last } => write!(f, "bytes={first}-{last}"),
            RangeSpec::From { first } => write!(f, "bytes={first}-"),
            RangeSpec::Suffix { len } => write!(f, "bytes=-{len}"),
        }
    }
}

/// Widening for suffix ranges: the tag plus two blocks, so that the aligned block start (and the CBC chaining
/// block before it) is always inside the fetched window.
const SUFFIX_SLACK: u64 = 16 + 2 * BLOCK;

impl RangeSpec {
    /// The ciphertext range to ask S3 for, as a `Range` header value.
    pub fn ciphertext_request(&self) -> String {
        match *self {
            RangeSpec::FromTo { first, last } => {
                let upper = last
                    .checked_add(BLOCK - last % BLOCK)
                    .and_then(|u| u.checked_add(BLOCK))
                    .unwrap_or(u64::MAX);
                format!("bytes={}-{}", lower_fetch(first), upper)
            }
            RangeSpec::From { first } => format!("bytes={}-", lower_fetch(first)),
            RangeSpec::Suffix { len } => format!("bytes=-{}", len.saturating_add(SUFFIX_SLACK)),
        }
    }

    /// Whether this range can select the whole object for some object size; only such a range may be served
    /// without the legacy-unauthenticated option (and then only if it really covers the object).
    pub fn may_cover_whole_object(&self) -> bool {
        match *self {
            RangeSpec::FromTo { first, .. } | RangeSpec::From { first } => first == 0,
            RangeSpec::Suffix { len } => len > 0,
        }
    }

    /// The plaintext bytes `[start, end]` this range selects in an object of `size` bytes, or 416.
    pub fn resolve(&self, size: u64) -> Result<(u64, u64), RangeError> {
        let unsat = RangeError::Unsatisfiable { object_size: size };
        if size == 0 {
            return Err(unsat);
        }
        match *self {
            RangeSpec::FromTo { first, last } if first < size => Ok((first, last.min(size - 1))),
            RangeSpec::From { first } if first < size => Ok((first, size - 1)),
            RangeSpec::Suffix { len } if len > 0 => Ok((size.saturating_sub(len), size - 1)),
            _ => Err(unsat),
        }
    }
}

fn lower_fetch(first: u64) -> u64 {
    (first - first % BLOCK).saturating_sub(BLOCK)
}

/// A parsed `Content-Range: bytes first-last/total` response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte returned.
    pub first: u64,
    /// Last byte returned (inclusive).
    pub last: u64,
    /// Full stored length.
    pub total: u64,
}

impl FromStr for ContentRange {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::BadContentRange(s.chars().take(64).collect());
        let rest = s.trim().strip_prefix("bytes").ok_or_else(bad)?.trim_start();
        let (span, total) = rest.split_once('/').ok_or_else(bad)?;
        let (a, b) = span.split_once('-').ok_or_else(bad)?;
        let cr = ContentRange {
            first: digits(a.trim()).ok_or_else(bad)?,
            last: digits(b.trim()).ok_or_else(bad)?,
            total: digits(total.trim()).ok_or_else(bad)?,
        };
        if cr.first > cr.last || cr.last >= cr.total {
            return Err(bad());
        }
        Ok(cr)
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.first, self.last, self.total)
    }
}

/// What to do with a fetched ciphertext window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodePlan {
    /// The window is the whole stored object and the range selects all of its plaintext: decrypt and authenticate
    /// it as an ordinary get.
    Whole {
        /// Plaintext size.
        size: u64,
    },
    /// Part of the object: unauthenticated CTR (or CBC) decryption of a block-aligned slice.
    Partial(PartialPlan),
}

/// The slicing of a partial ranged get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialPlan {
    /// Fetched bytes to drop before the first block to decrypt.
    pub skip: u64,
    /// Index of the first block to decrypt (its ciphertext offset / 16).
    pub first_block: u64,
    /// Decrypted bytes to drop before the first byte released.
    pub discard: u64,
    /// Bytes to release.
    pub emit: u64,
    /// The `Content-Range` to report, in plaintext terms.
    pub content_range: ContentRange,
}

impl PartialPlan {
    /// Ciphertext bytes to decrypt after `skip`: whole blocks up to and including the last byte emitted.
    ///
    /// Saturates at `u64::MAX` when the block count times 16 would overflow: a server can claim any total in its
    /// `Content-Range`, and a range ending within the last 16 bytes of a `u64` must not panic (found by the
    /// `range_header` fuzz target).
    pub fn decrypt_len(&self) -> u64 {
        (self.discard + self.emit)
            .div_ceil(BLOCK)
            .saturating_mul(BLOCK)
    }
}

/// Maps a fetched window `fetched` of an object whose suite has a `tag_len`-byte tag to the bytes to release for
/// `spec`. Errors with [`RangeError::Unsatisfiable`] when the range selects nothing of the plaintext.
pub fn plan(
    spec: &RangeSpec,
    fetched: ContentRange,
    tag_len: u64,
) -> Result<DecodePlan, RangeError> {
    let total = fetched.total;
    let size = total
        .checked_sub(tag_len)
        .ok_or(RangeError::ObjectTooShort { total, tag_len })?;
    let (start, end) = spec.resolve(size)?;
    if start == 0 && end + 1 == size && fetched.first == 0 && fetched.last + 1 == total {
        return Ok(DecodePlan::Whole { size });
    }
    let aligned = start - start % BLOCK;
    let short = RangeError::ShortResponse {
        first: fetched.first,
        last: fetched.last,
    };
    if fetched.first > aligned || fetched.last < end {
        return Err(short);
    }
    let discard = start - aligned;
    let emit = end - start + 1;
    let plan = PartialPlan {
        skip: aligned - fetched.first,
        first_block: aligned / BLOCK,
        discard,
        emit,
        content_range: ContentRange {
            first: start,
            last: end,
            total: size,
        },
    };
    // The decrypted blocks may run into the tag (never past the fetched window); only `emit` bytes leave.
    let avail = fetched.last + 1 - aligned;
    if plan.decrypt_len().min(avail) < discard + emit {
        return Err(short);
    }
    Ok(DecodePlan::Partial(plan))
}

/// The next step of a ranged get of a legacy AES-CBC object (suite 0x0070), from [`plan_cbc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbcStep {
    /// The range selects every byte of the object whatever its padding, and the window is the whole object:
    /// serve it as an ordinary (whole-object) CBC get.
    Whole,
    /// Which bytes the range selects depends on the plaintext length, which only the padding of the last
    /// block tells: learn it (see [`CbcPlan::tail_request`]) and plan again with it.
    NeedsLength,
    /// Decrypt part of the window.
    Partial(CbcPlan),
}

/// The slicing of a partial ranged get of a CBC object.
///
/// Only whole blocks are decrypted, each with the ciphertext block before it as its chaining value (block 0 uses
/// the IV from the metadata), so the window must start one block before the first block holding a wanted byte.
/// Padding bytes are never emitted: when the range reaches the last block, `emit` was computed from a plaintext
/// length the padding check established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CbcPlan {
    /// Fetched bytes to drop before the chaining block (before block 0 when `first_block` is 0).
    pub skip: u64,
    /// Index of the first block to decrypt (its ciphertext offset / 16). When it is not 0, the 16 fetched bytes
    /// after `skip` are block `first_block - 1`, the chaining value.
    pub first_block: u64,
    /// Decrypted bytes to drop before the first byte released.
    pub discard: u64,
    /// Bytes to release.
    pub emit: u64,
    /// First plaintext byte released.
    pub first: u64,
    /// Last plaintext byte released (inclusive).
    pub last: u64,
    /// Plaintext length of the object, when it was needed (and so established) for this range.
    pub total: Option<u64>,
}

impl CbcPlan {
    /// Bytes to decrypt after the chaining block: whole blocks up to and including the last byte emitted.
    pub fn decrypt_len(&self) -> u64 {
        (self.discard + self.emit)
            .div_ceil(BLOCK)
            .saturating_mul(BLOCK)
    }

    /// The `Content-Range` to report, in plaintext terms; the complete length is `*` (RFC 9110) when the range
    /// ended before the last block, so the padding, and with it the plaintext length, was never read.
    pub fn content_range(&self) -> String {
        match self.total {
            Some(t) => format!("bytes {}-{}/{t}", self.first, self.last),
            None => format!("bytes {}-{}/*", self.first, self.last),
        }
    }

    /// The ciphertext range holding the last two blocks of a `total`-byte CBC object (the last one alone, with
    /// the IV from the metadata, when the object is one block): what decrypting the final block needs.
    pub fn tail_request(total: u64) -> String {
        format!(
            "bytes={}-{}",
            total.saturating_sub(2 * BLOCK),
            total.saturating_sub(1)
        )
    }
}

/// Plans a ranged get of a legacy AES-CBC object from the fetched window (whose `total` is the stored ciphertext
/// length) and, once known, the plaintext length `plain_len`.
///
/// Byte rules, checked against the reference client (Java `RangedGetUtils`, `AdjustedRangeSubscriber`,
/// `CipherSubscriber`):
/// - The request is [`RangeSpec::ciphertext_request`], as for GCM: from one block before the block of the first
///   byte (the CBC chaining value) to the block after the block of the last byte, and `-(n + 48)` for `-n`.
/// - A CBC object of `C` bytes (a positive multiple of 16) holds `C - 16 ..= C - 1` plaintext bytes; the PKCS#7
///   padding of the last block tells which. A range that ends before the last block (`a-b` with `b < C - 16`)
///   needs no length: it is planned at once, and its padding is never read, as Java never strips it there.
/// - A range starting at 0 whose bounds reach `C - 1` (`0-`, `0-b` with `b >= C - 1`, `-n` with `n >= C - 1`)
///   covers the object whatever its padding: [`CbcStep::Whole`] (unless `C` is 16: an empty object has no
///   satisfiable range).
/// - A range starting at or past `C` selects nothing: 416 ([`RangeError::Unsatisfiable`]).
/// - Every other range depends on the length: [`CbcStep::NeedsLength`]. With the length, the range resolves
///   exactly as S3 resolves it against the plaintext (416 included), and padding bytes are never emitted.
///   Unlike Java, which passes past-the-end ranges through as empty bodies and serves `-n` as the whole object.
pub fn plan_cbc(
    spec: &RangeSpec,
    fetched: ContentRange,
    plain_len: Option<u64>,
) -> Result<CbcStep, RangeError> {
    let total = fetched.total;
    if total == 0 || !total.is_multiple_of(BLOCK) {
        return Err(RangeError::NotWholeBlocks { total });
    }
    let min_len = total - BLOCK;
    let whole_window = fetched.first == 0 && fetched.last + 1 == total;
    let covers = match *spec {
        RangeSpec::FromTo { first, last } => first == 0 && last >= total - 1,
        RangeSpec::From { first } => first == 0,
        RangeSpec::Suffix { len } => len >= total - 1,
    };
    // A one-block object may be empty, and every range of an empty object is a 416: its length decides.
    if covers && whole_window && total > BLOCK {
        return Ok(CbcStep::Whole);
    }
    let (start, end) = match (plain_len, *spec) {
        (Some(p), _) => {
            if !(min_len..total).contains(&p) {
                return Err(RangeError::NotWholeBlocks { total });
            }
            spec.resolve(p)?
        }
        (None, RangeSpec::FromTo { first, last }) if last < min_len => (first, last),
        (None, RangeSpec::FromTo { first, .. } | RangeSpec::From { first }) if first >= total => {
            return Err(RangeError::Unsatisfiable { object_size: 0 })
        }
        (None, RangeSpec::Suffix { len: 0 }) => {
            return Err(RangeError::Unsatisfiable { object_size: 0 })
        }
        (None, _) => return Ok(CbcStep::NeedsLength),
    };
    let first_block = start / BLOCK;
    let chain_start = first_block.saturating_sub(1) * BLOCK;
    let needed_last = (end / BLOCK) * BLOCK + BLOCK - 1;
    if fetched.first > chain_start || fetched.last < needed_last {
        return Err(RangeError::ShortResponse {
            first: fetched.first,
            last: fetched.last,
        });
    }
    Ok(CbcStep::Partial(CbcPlan {
        skip: chain_start - fetched.first,
        first_block,
        discard: start - first_block * BLOCK,
        emit: end - start + 1,
        first: start,
        last: end,
        total: plain_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_three_forms_and_refuses_the_rest() {
        assert_eq!(
            "bytes=0-0".parse(),
            Ok(RangeSpec::FromTo { first: 0, last: 0 })
        );
        assert_eq!("bytes=7-".parse(), Ok(RangeSpec::From { first: 7 }));
        assert_eq!("bytes=-0".parse(), Ok(RangeSpec::Suffix { len: 0 }));
        for bad in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "items=0-1",
            "bytes=+1-2",
            "bytes=3-2",
            "0-1",
        ] {
            assert!(
                matches!(bad.parse::<RangeSpec>(), Err(RangeError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "bytes=0-1,3-4".parse::<RangeSpec>(),
            Err(RangeError::MultipleRanges)
        );
        assert!("bytes=99999999999999999999-".parse::<RangeSpec>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["bytes=1-2", "bytes=5-", "bytes=-9"] {
            assert_eq!(s.parse::<RangeSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn fetch_widening_matches_the_reference_formula() {
        // lower = a - a%16 - 16 clamped at 0; upper = b + (16 - b%16) + 16.
        assert_eq!(
            RangeSpec::FromTo { first: 0, last: 0 }.ciphertext_request(),
            "bytes=0-32"
        );
        assert_eq!(
            RangeSpec::FromTo {
                first: 17,
                last: 31
            }
            .ciphertext_request(),
            "bytes=0-48"
        );
        assert_eq!(
            RangeSpec::FromTo {
                first: 40,
                last: 47
            }
            .ciphertext_request(),
            "bytes=16-64"
        );
        assert_eq!(
            RangeSpec::FromTo {
                first: 0,
                last: u64::MAX - 3
            }
            .ciphertext_request(),
            format!("bytes=0-{}", u64::MAX)
        );
        assert_eq!(
            RangeSpec::From { first: 33 }.ciphertext_request(),
            "bytes=16-"
        );
        assert_eq!(
            RangeSpec::Suffix { len: 10 }.ciphertext_request(),
            "bytes=-58"
        );
    }

    #[test]
    fn content_range_parses_and_rejects() {
        assert_eq!(
            "bytes 0-9/10".parse(),
            Ok(ContentRange {
                first: 0,
                last: 9,
                total: 10
            })
        );
        for bad in [
            "bytes */10",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "0-1/2",
            "bytes 0-1/*",
        ] {
            assert!(bad.parse::<ContentRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unsatisfiable_ranges_are_416() {
        let unsat = |size| Err(RangeError::Unsatisfiable { object_size: size });
        assert_eq!(RangeSpec::From { first: 0 }.resolve(0), unsat(0));
        assert_eq!(RangeSpec::From { first: 10 }.resolve(10), unsat(10));
        assert_eq!(RangeSpec::Suffix { len: 0 }.resolve(10), unsat(10));
        assert_eq!(
            RangeSpec::FromTo {
                first: 10,
                last: 20
            }
            .resolve(10),
            unsat(10)
        );
        assert_eq!(RangeSpec::Suffix { len: 50 }.resolve(10), Ok((0, 9)));
    }

    /// What a server does with a `Range` header over `total` stored bytes (RFC 9110), written apart from the code
    /// under test: `None` is a 416.
    fn server(header: &str, total: u64) -> Option<ContentRange> {
        let spec = header.strip_prefix("bytes=").unwrap();
        let (a, b) = spec.split_once('-').unwrap();
        let (first, last) = if a.is_empty() {
            let n: u64 = b.parse().unwrap();
            (total.saturating_sub(n), total.checked_sub(1)?)
        } else {
            let a: u64 = a.parse().unwrap();
            let b: u64 = if b.is_empty() {
                u64::MAX
            } else {
                b.parse().unwrap()
            };
            (a, b.min(total.checked_sub(1)?))
        };
        (first <= last && first < total).then_some(ContentRange { first, last, total })
    }

    /// The bytes of `pt` a range selects, written from the RFC text: `None` is a 416.
    fn reference(spec: RangeSpec, pt: &[u8]) -> Option<&[u8]> {
        let n = pt.len();
        match spec {
            RangeSpec::FromTo { first, last } if (first as usize) < n => {
                Some(&pt[first as usize..=(last as usize).min(n - 1)])
            }
            RangeSpec::From { first } if (first as usize) < n => Some(&pt[first as usize..]),
            RangeSpec::Suffix { len } if len > 0 && n > 0 => {
                Some(&pt[n.saturating_sub(len as usize)..])
            }
            _ => None,
        }
    }

    /// Runs the plan over an identity "cipher" (ciphertext byte i = plaintext byte i, then a tag of 0xEE).
    fn simulate(spec: RangeSpec, pt: &[u8]) -> Result<Vec<u8>, RangeError> {
        let mut stored = pt.to_vec();
        stored.extend_from_slice(&[0xEE; 16]);
        let fetched = server(&spec.ciphertext_request(), stored.len() as u64).ok_or(
            RangeError::Unsatisfiable {
                object_size: pt.len() as u64,
            },
        )?;
        let window = &stored[fetched.first as usize..=fetched.last as usize];
        match plan(&spec, fetched, 16)? {
            DecodePlan::Whole { size } => {
                assert_eq!(window.len() as u64, size + 16);
                Ok(window[..size as usize].to_vec())
            }
            DecodePlan::Partial(p) => {
                let blocks = &window[p.skip as usize..];
                let blocks = &blocks[..(p.decrypt_len() as usize).min(blocks.len())];
                assert_eq!(p.first_block * 16, fetched.first + p.skip);
                Ok(blocks[p.discard as usize..(p.discard + p.emit) as usize].to_vec())
            }
        }
    }

    fn check(spec: RangeSpec, len: usize) {
        let pt: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        match (reference(spec, &pt), simulate(spec, &pt)) {
            (Some(want), Ok(got)) => assert_eq!(got, want, "{spec} over {len}"),
            (None, Err(RangeError::Unsatisfiable { .. })) => {}
            (want, got) => panic!("{spec} over {len}: want {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn every_block_edge_matches_the_reference() {
        let edges = |n: u64| {
            [
                0,
                1,
                15,
                16,
                17,
                31,
                32,
                33,
                n.saturating_sub(17),
                n.saturating_sub(16),
                n.saturating_sub(1),
                n,
                n + 1,
                n + 16,
            ]
        };
        for len in [0u64, 1, 15, 16, 17, 31, 32, 33, 100] {
            for a in edges(len) {
                check(RangeSpec::From { first: a }, len as usize);
                check(RangeSpec::Suffix { len: a }, len as usize);
                for b in edges(len) {
                    if a <= b {
                        check(RangeSpec::FromTo { first: a, last: b }, len as usize);
                    }
                }
            }
        }
    }

    #[test]
    fn whole_object_ranges_are_planned_as_whole() {
        let fetched =
            |total| server(&RangeSpec::From { first: 0 }.ciphertext_request(), total).unwrap();
        assert_eq!(
            plan(&RangeSpec::From { first: 0 }, fetched(116), 16),
            Ok(DecodePlan::Whole { size: 100 })
        );
        let spec = RangeSpec::FromTo { first: 0, last: 99 };
        let got = plan(&spec, server(&spec.ciphertext_request(), 116).unwrap(), 16);
        assert_eq!(got, Ok(DecodePlan::Whole { size: 100 }));
        let spec = RangeSpec::FromTo { first: 0, last: 98 };
        assert!(matches!(
            plan(&spec, server(&spec.ciphertext_request(), 116).unwrap(), 16),
            Ok(DecodePlan::Partial(_))
        ));
        let spec = RangeSpec::Suffix { len: 100 };
        let got = plan(&spec, server(&spec.ciphertext_request(), 116).unwrap(), 16);
        assert_eq!(got, Ok(DecodePlan::Whole { size: 100 }));
    }

    #[test]
    fn short_windows_are_refused() {
        let spec = RangeSpec::FromTo {
            first: 40,
            last: 50,
        };
        let got = plan(
            &spec,
            ContentRange {
                first: 48,
                last: 80,
                total: 200,
            },
            16,
        );
        assert!(matches!(got, Err(RangeError::ShortResponse { .. })));
        let got = plan(
            &spec,
            ContentRange {
                first: 32,
                last: 49,
                total: 200,
            },
            16,
        );
        assert!(matches!(got, Err(RangeError::ShortResponse { .. })));
        assert!(matches!(
            plan(
                &spec,
                ContentRange {
                    first: 0,
                    last: 9,
                    total: 10
                },
                16
            ),
            Err(RangeError::ObjectTooShort { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_range_matches_the_reference(len in 0usize..300, a in 0u64..340, b in 0u64..340, form in 0u8..3) {
            let spec = match form {
                0 => RangeSpec::FromTo { first: a.min(b), last: a.max(b) },
                1 => RangeSpec::From { first: a },
                _ => RangeSpec::Suffix { len: a },
            };
            check(spec, len);
        }

        #[test]
        fn range_parsing_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<RangeSpec>();
            let _ = s.parse::<ContentRange>();
        }
    }

    /// Regression (fuzz target `range_header`): a server claiming a total near `u64::MAX` made the block rounding
    /// of `decrypt_len` overflow.
    #[test]
    fn plan_near_u64_max_does_not_overflow() {
        let size = u64::MAX - 1;
        let fetched = ContentRange {
            first: 0,
            last: size - 1,
            total: size,
        };
        let spec = RangeSpec::From { first: 10 };
        let DecodePlan::Partial(p) = plan(&spec, fetched, 0).expect("the whole window was fetched")
        else {
            panic!("a range from byte 10 is partial");
        };
        assert_eq!((p.discard, p.emit), (10, size - 10));
        assert!(p.decrypt_len() >= p.discard + p.emit);
    }
}
