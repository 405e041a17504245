//! Which read path a get takes, as a value: [`plan_read`] is a pure function of the object (suite, stored
//! length, ETag), the client's options, the requested range and where the plaintext goes. `GetObject` runs
//! one small executor per [`ReadPath`]. The legacy gates of a read (unauthenticated ranges) live here and
//! nowhere else; the policy gates on the envelope itself (legacy content, wrapping, commitment) run in the
//! materials step, before any key is used.
//!
//! | path | when | releases |
//! |---|---|---|
//! | [`ReadPath::CtrRange`] | GCM, partial range (legacy option) | decrypted bytes as they arrive, never authenticated |
//! | [`ReadPath::CbcRange`] | CBC, partial range (legacy option) | as they arrive, after the padding check when the range needs the length |
//!
//! A partial range whose fetched window is above the parallel threshold is fetched as concurrent ranges
//! ([`Fetch::Parallel`]) read in order, and decrypted as the one response would be.
//! | [`ReadPath::Cbc`] | CBC whole object (legacy option) | buffered: after the padding check; else streamed |
//! | [`ReadPath::Gcm`] `Buffered` | GCM, within the buffer size | after the tag, from memory |
//! | [`ReadPath::Gcm`] `Spooled` | GCM, beyond the buffer size | after the tag, ciphertext spooled to an anonymous file |
//! | [`ReadPath::Gcm`] `Delayed` | delayed authentication on | as it arrives; the stream ends in an error on a bad tag |
//! | [`ReadPath::Gcm`] `Into` | `send_into` | into the caller's buffer after the tag (wiped on failure) |
//! | [`ReadPath::Parallel`] | GCM above the parallel threshold, no range, an ETag | after the combined tag: memory, spool or file |

use s3ec_format::AlgorithmSuite;
use s3ec_materials::PolicyError;

use crate::error::Error;
use crate::options::{Options, ParallelGet, MIN_GET_PART_SIZE};
use crate::range::{self, CbcStep, ContentRange, DecodePlan, PartialPlan, RangeError, RangeSpec};

/// Where the plaintext of a get goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A `ByteStream` in the returned output (`send`).
    Stream,
    /// The caller's buffer (`send_into`).
    Buffer,
    /// A file renamed into place after verification (`send_to_path`).
    Path,
}

/// What [`plan_read`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadInputs<'a> {
    /// The object's content suite (from its envelope).
    pub suite: AlgorithmSuite,
    /// The client's options.
    pub options: &'a Options,
    /// Parallel-get settings in force for this call.
    pub parallel: ParallelGet,
    /// The requested range and the ciphertext window the first response holds.
    pub range: Option<(RangeSpec, ContentRange)>,
    /// Bytes in the first response (the whole stored object when no range was asked).
    pub stored_len: u64,
    /// Whether the first response carried an ETag (needed to pin later ranges).
    pub etag: bool,
    /// Where the plaintext goes.
    pub destination: Destination,
}

/// How a whole GCM object is read with one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GcmRead {
    /// Into the caller's buffer, authenticated before return.
    Into,
    /// Released as it arrives (delayed authentication).
    Delayed,
    /// Held in memory until the tag verifies.
    Buffered,
    /// Ciphertext spooled to an anonymous file until the tag verifies.
    Spooled,
}

/// Where a parallel get puts the plaintext before it is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParallelSink {
    /// Decrypted in memory, part by part.
    Memory,
    /// Ciphertext written by offset into an anonymous file, decrypted after the tag as the reader reads.
    Spool,
    /// Plaintext written by offset into a temporary file beside the destination, renamed after the tag.
    File,
}

/// How the ciphertext window of a partial range is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// The first response alone.
    One,
    /// The first response's window cut into ranges, all but the first fetched concurrently and pinned to
    /// its ETag, read in order.
    Parallel {
        /// Bytes per range.
        part_size: u64,
        /// Ranges in flight.
        concurrency: usize,
    },
}

/// The read path of one get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadPath {
    /// A partial range of a CBC object (`cbc_range`); `None` when the stored body is not whole blocks (the
    /// executor reports it as the one CBC error, after the materials' policy gates).
    CbcRange(Option<CbcStep>, Fetch),
    /// A partial range of a GCM object, decrypted with CTR and not authenticated.
    CtrRange(PartialPlan, Fetch),
    /// A whole CBC object.
    Cbc {
        /// Decrypted in memory and released after the padding check.
        buffered: bool,
    },
    /// A whole GCM object with one stream.
    Gcm {
        /// How.
        how: GcmRead,
        /// The plaintext size when a range covering the whole object was asked (for `Content-Range`).
        whole_range: Option<u64>,
    },
    /// A whole GCM object as concurrent ranged GETs.
    Parallel {
        /// Bytes per range as configured; [`split_size`] aligns it to the stored parts once they are known.
        part_size: u64,
        /// Ranges in flight.
        concurrency: usize,
        /// Where the plaintext waits for the tag.
        sink: ParallelSink,
    },
}

/// Refuses, before any request, a range that cannot cover the whole object unless unauthenticated ranges are
/// enabled.
pub(crate) fn admit_range(spec: Option<&RangeSpec>, options: &Options) -> Result<(), Error> {
    match spec {
        Some(s) if !options.legacy_unauthenticated_modes && !s.may_cover_whole_object() => {
            Err(Error::Policy(PolicyError::UnauthenticatedRange))
        }
        _ => Ok(()),
    }
}

/// Chooses the read path (see the module table).
pub(crate) fn plan_read(i: &ReadInputs<'_>) -> Result<ReadPath, Error> {
    let o = i.options;
    let unauthenticated = || {
        if o.legacy_unauthenticated_modes {
            Ok(())
        } else {
            Err(Error::Policy(PolicyError::UnauthenticatedRange))
        }
    };
    let cbc = i.suite == AlgorithmSuite::AesCbc;
    // Unauthenticated, so no tag to combine: only the fetch is split, when the window is worth it.
    let fetch = if i.etag && i.stored_len > i.parallel.threshold {
        Fetch::Parallel {
            part_size: i.parallel.part_size,
            concurrency: i.parallel.concurrency,
        }
    } else {
        Fetch::One
    };
    let mut whole_range = None;
    if let Some((spec, fetched)) = &i.range {
        if cbc {
            // A 416 needs no option (as for GCM); a body that is not whole blocks is left to the executor.
            match range::plan_cbc(spec, *fetched, None) {
                Ok(CbcStep::Whole) => {}
                Ok(step) => {
                    unauthenticated()?;
                    return Ok(ReadPath::CbcRange(Some(step), fetch));
                }
                Err(RangeError::NotWholeBlocks { .. }) => {
                    unauthenticated()?;
                    return Ok(ReadPath::CbcRange(None, fetch));
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            match range::plan(spec, *fetched, i.suite.tag_len() as u64)? {
                DecodePlan::Partial(p) => {
                    unauthenticated()?;
                    return Ok(ReadPath::CtrRange(p, fetch));
                }
                DecodePlan::Whole { size } => whole_range = Some(size),
            }
        }
    }
    let in_memory = i.stored_len <= o.buffer_size;
    if cbc {
        let buffered =
            i.destination != Destination::Buffer && !o.delayed_authentication && in_memory;
        return Ok(ReadPath::Cbc { buffered });
    }
    let gcm = matches!(
        i.suite,
        AlgorithmSuite::AesGcm | AlgorithmSuite::AesGcmCommitKey
    );
    // Delayed authentication asks for bytes as they arrive, which one stream gives soonest; a range (even one
    // covering the object) keeps the response the caller asked for.
    let streaming_early = o.delayed_authentication && i.destination == Destination::Stream;
    if gcm && i.range.is_none() && i.etag && !streaming_early && i.stored_len > i.parallel.threshold
    {
        let sink = match i.destination {
            Destination::Path => ParallelSink::File,
            Destination::Buffer => ParallelSink::Memory,
            Destination::Stream if in_memory => ParallelSink::Memory,
            Destination::Stream => ParallelSink::Spool,
        };
        return Ok(ReadPath::Parallel {
            part_size: i.parallel.part_size,
            concurrency: i.parallel.concurrency,
            sink,
        });
    }
    let how = match i.destination {
        Destination::Buffer => GcmRead::Into,
        _ if o.delayed_authentication => GcmRead::Delayed,
        _ if in_memory => GcmRead::Buffered,
        _ => GcmRead::Spooled,
    };
    Ok(ReadPath::Gcm { how, whole_range })
}

/// The layout of a stored multipart object, as a `partNumber=1` request reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredParts {
    /// Bytes in the first part.
    pub first_len: u64,
    /// Parts in the object (`x-amz-mp-parts-count`).
    pub count: u64,
}

/// Whether an ETag may belong to a multipart object, so that asking for its layout may pay off: S3 (and the
/// stores that copy it) give a single PUT the quoted MD5 of its body (32 hex digits), a multipart object
/// `"<hex>-<parts>"`.
pub(crate) fn may_be_multipart(etag: &str) -> bool {
    let inner = etag.trim_matches('"');
    !(inner.len() == 32 && inner.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Bytes per ranged GET of a parallel get: ranges that fall on the stored object's own part boundaries when
/// its layout is known and regular (S3 serves those fastest), else the configured size. Never more than
/// `configured` (the memory per range in flight) nor less than [`MIN_GET_PART_SIZE`].
///
/// Parts no larger than `configured` are grouped (as many whole parts as fit); larger ones are cut into the
/// fewest equal pieces that fit, when some count up to twice that minimum divides them exactly.
pub(crate) fn split_size(configured: u64, stored_len: u64, parts: Option<StoredParts>) -> u64 {
    let Some(StoredParts { first_len, count }) = parts else {
        return configured;
    };
    // Equal parts but the last are the only layout the first part's length describes.
    let regular = count >= 2
        && first_len >= MIN_GET_PART_SIZE
        && first_len < stored_len
        && stored_len.div_ceil(first_len) == count;
    if !regular {
        return configured;
    }
    if first_len <= configured {
        return configured / first_len * first_len;
    }
    let fewest = first_len.div_ceil(configured);
    (fewest..=2 * fewest)
        .find(|k| first_len % k == 0)
        .map(|k| first_len / k)
        .filter(|&s| s >= MIN_GET_PART_SIZE)
        .unwrap_or(configured)
}

#[cfg(test)]
mod tests {
    use s3ec_materials::CommitmentPolicy;

    use super::*;
    use crate::options::MetadataOverflow;

    const MIB: u64 = 1 << 20;

    fn options() -> Options {
        Options {
            commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            encryption_algorithm: AlgorithmSuite::AesGcmCommitKey,
            legacy_wrapping_algorithms: false,
            legacy_unauthenticated_modes: false,
            delayed_authentication: false,
            buffer_size: 64 * MIB,
            instruction_file_put: false,
            metadata_overflow: MetadataOverflow::Error,
            part_size: 8 * MIB,
            upload_concurrency: 4,
            parallel_get: ParallelGet::default(),
            buffer_pool_size: 64 * MIB,
        }
    }

    fn inputs(o: &Options, suite: AlgorithmSuite, stored_len: u64) -> ReadInputs<'_> {
        ReadInputs {
            suite,
            options: o,
            parallel: o.parallel_get,
            range: None,
            stored_len,
            etag: true,
            destination: Destination::Stream,
        }
    }

    fn ranged(spec: &str, stored_len: u64) -> Option<(RangeSpec, ContentRange)> {
        let spec: RangeSpec = spec.parse().unwrap();
        // What S3 answers to the widened request, clamped to the object.
        let req = spec.ciphertext_request();
        let (a, b) = req.trim_start_matches("bytes=").split_once('-').unwrap();
        let first = a.parse::<u64>().unwrap_or(0).min(stored_len - 1);
        let last = b
            .parse::<u64>()
            .map_or(stored_len - 1, |b| b.min(stored_len - 1));
        Some((
            spec,
            ContentRange {
                first,
                last,
                total: stored_len,
            },
        ))
    }

    const GCM: AlgorithmSuite = AlgorithmSuite::AesGcmCommitKey;

    #[test]
    fn whole_gcm_objects_by_size_destination_and_options() {
        let o = options();
        let parallel = |sink| ReadPath::Parallel {
            part_size: 8 * MIB,
            concurrency: 8,
            sink,
        };
        let gcm = |how| ReadPath::Gcm {
            how,
            whole_range: None,
        };
        let table = [
            (Destination::Stream, 100, gcm(GcmRead::Buffered)),
            (Destination::Stream, 16 * MIB, gcm(GcmRead::Buffered)),
            (
                Destination::Stream,
                16 * MIB + 1,
                parallel(ParallelSink::Memory),
            ),
            (
                Destination::Stream,
                64 * MIB,
                parallel(ParallelSink::Memory),
            ),
            (
                Destination::Stream,
                64 * MIB + 1,
                parallel(ParallelSink::Spool),
            ),
            (Destination::Buffer, 100, gcm(GcmRead::Into)),
            (
                Destination::Buffer,
                100 * MIB,
                parallel(ParallelSink::Memory),
            ),
            (Destination::Path, 100, gcm(GcmRead::Buffered)),
            (Destination::Path, 100 * MIB, parallel(ParallelSink::File)),
        ];
        for (destination, len, want) in table {
            for suite in [AlgorithmSuite::AesGcm, GCM] {
                let i = ReadInputs {
                    destination,
                    ..inputs(&o, suite, len)
                };
                assert_eq!(
                    plan_read(&i).unwrap(),
                    want,
                    "{destination:?} {len} {suite:?}"
                );
            }
        }
        // Beyond the buffer with parallel gets off: the spool.
        let off = ReadInputs {
            parallel: ParallelGet::OFF,
            ..inputs(&o, GCM, 100 * MIB)
        };
        assert_eq!(plan_read(&off).unwrap(), gcm(GcmRead::Spooled));
        // No ETag to pin the ranges to: one stream.
        let no_etag = ReadInputs {
            etag: false,
            ..inputs(&o, GCM, 100 * MIB)
        };
        assert_eq!(plan_read(&no_etag).unwrap(), gcm(GcmRead::Spooled));
    }

    #[test]
    fn delayed_authentication_streams_but_files_and_buffers_stay_parallel() {
        let o = Options {
            delayed_authentication: true,
            ..options()
        };
        let big = 100 * MIB;
        assert_eq!(
            plan_read(&inputs(&o, GCM, big)).unwrap(),
            ReadPath::Gcm {
                how: GcmRead::Delayed,
                whole_range: None
            }
        );
        let to_file = ReadInputs {
            destination: Destination::Path,
            ..inputs(&o, GCM, big)
        };
        assert!(matches!(
            plan_read(&to_file).unwrap(),
            ReadPath::Parallel {
                sink: ParallelSink::File,
                ..
            }
        ));
        let small = ReadInputs {
            destination: Destination::Path,
            ..inputs(&o, GCM, 10)
        };
        assert_eq!(
            plan_read(&small).unwrap(),
            ReadPath::Gcm {
                how: GcmRead::Delayed,
                whole_range: None
            }
        );
    }

    #[test]
    fn cbc_objects_never_go_parallel() {
        let o = options();
        for (destination, len, buffered) in [
            (Destination::Stream, 32, true),
            (Destination::Stream, 100 * MIB, false),
            (Destination::Buffer, 32, false),
            (Destination::Path, 32, true),
            (Destination::Path, 100 * MIB, false),
        ] {
            let i = ReadInputs {
                destination,
                ..inputs(&o, AlgorithmSuite::AesCbc, len)
            };
            assert_eq!(plan_read(&i).unwrap(), ReadPath::Cbc { buffered });
        }
    }

    #[test]
    fn partial_ranges_need_the_legacy_option_and_small_ones_take_one_stream() {
        let closed = options();
        let open = Options {
            legacy_unauthenticated_modes: true,
            ..options()
        };
        let len = 100 * MIB;
        for suite in [GCM, AlgorithmSuite::AesCbc] {
            let i = ReadInputs {
                range: ranged("bytes=100-200", len),
                ..inputs(&closed, suite, len)
            };
            assert!(matches!(
                plan_read(&i),
                Err(Error::Policy(PolicyError::UnauthenticatedRange))
            ));
            let range = ranged("bytes=100-200", len);
            let window = range.map(|(_, f)| f.last - f.first + 1).unwrap();
            let i = ReadInputs {
                range,
                stored_len: window,
                ..inputs(&open, suite, len)
            };
            let path = plan_read(&i).unwrap();
            assert!(
                matches!(
                    path,
                    ReadPath::CtrRange(_, Fetch::One) | ReadPath::CbcRange(Some(_), Fetch::One)
                ),
                "{path:?}"
            );
        }
        // A range covering the whole object is an authenticated get without the option, on one stream.
        let i = ReadInputs {
            range: ranged("bytes=0-", len),
            ..inputs(&closed, GCM, len)
        };
        assert_eq!(
            plan_read(&i).unwrap(),
            ReadPath::Gcm {
                how: GcmRead::Spooled,
                whole_range: Some(len - 16)
            }
        );
        assert!(admit_range(Some(&"bytes=0-".parse().unwrap()), &closed).is_ok());
        assert!(admit_range(Some(&"bytes=1-".parse().unwrap()), &closed).is_err());
        assert!(admit_range(Some(&"bytes=1-".parse().unwrap()), &open).is_ok());
        assert!(admit_range(None, &closed).is_ok());
    }

    #[test]
    fn a_partial_range_is_fetched_in_parallel_only_above_the_threshold_with_an_etag() {
        let o = Options {
            legacy_unauthenticated_modes: true,
            ..options()
        };
        let parallel = Fetch::Parallel {
            part_size: 8 * MIB,
            concurrency: 8,
        };
        let threshold = o.parallel_get.threshold;
        for suite in [GCM, AlgorithmSuite::AesCbc] {
            for (len, etag, want) in [
                (100 * MIB, true, parallel),
                (threshold + 1, true, parallel),
                (threshold, true, Fetch::One),
                (100 * MIB, false, Fetch::One),
            ] {
                // The window is the first response: all that `stored_len` says for a range.
                let i = ReadInputs {
                    range: ranged(&format!("bytes=16-{}", len + 15), len + 64),
                    stored_len: len,
                    etag,
                    ..inputs(&o, suite, len)
                };
                let got = match plan_read(&i).unwrap() {
                    ReadPath::CtrRange(_, f) | ReadPath::CbcRange(_, f) => f,
                    other => panic!("{other:?}"),
                };
                assert_eq!(got, want, "{suite:?} {len} {etag}");
            }
        }
        let off = ReadInputs {
            parallel: ParallelGet::OFF,
            range: ranged("bytes=16-", 100 * MIB),
            ..inputs(&o, GCM, 100 * MIB)
        };
        assert!(matches!(
            plan_read(&off).unwrap(),
            ReadPath::CtrRange(_, Fetch::One)
        ));
    }

    #[test]
    fn a_range_outside_the_object_is_416_before_the_policy() {
        let o = options();
        let i = ReadInputs {
            range: Some((
                "bytes=500-".parse().unwrap(),
                ContentRange {
                    first: 0,
                    last: 99,
                    total: 100,
                },
            )),
            ..inputs(&o, GCM, 100)
        };
        assert!(matches!(
            plan_read(&i),
            Err(Error::Usage(crate::UsageError::Range(
                RangeError::Unsatisfiable { .. }
            ))) | Err(Error::Object(crate::ObjectError::Range(
                RangeError::Unsatisfiable { .. }
            )))
        ));
    }
    #[test]
    fn the_split_follows_the_stored_parts_when_they_are_regular() {
        let parts = |first_len, count| Some(StoredParts { first_len, count });
        let eight = 8 * MIB;
        let cases = [
            // Unknown, single-part or irregular layouts: the configured size.
            (100 * MIB, None, eight),
            (100 * MIB, parts(100 * MIB, 1), eight),
            (100 * MIB, parts(5 * MIB, 3), eight),
            (100 * MIB, parts(32 * 1024, 3200), eight),
            (100 * MIB, parts(100 * MIB, 2), eight),
            // Parts up to the configured size: as many whole parts as fit.
            (100 * MIB, parts(eight, 13), eight),
            (100 * MIB, parts(5 * MIB, 20), 5 * MIB),
            (100 * MIB, parts(MIB, 100), eight),
            (100 * MIB, parts(3 * MIB, 34), 6 * MIB),
            (17 * MIB + 5 + 16, parts(eight, 3), eight),
            // Larger parts: cut into equal pieces that fit.
            (100 * MIB, parts(16 * MIB, 7), eight),
            (100 * MIB, parts(15 * MIB, 7), 15 * MIB / 2),
            (100 * MIB, parts(20 * MIB, 5), 5 * MIB),
        ];
        for (stored, layout, want) in cases {
            let got = split_size(eight, stored, layout);
            assert_eq!(got, want, "{stored} {layout:?}");
            assert!((MIN_GET_PART_SIZE..=eight).contains(&got));
            if let Some(StoredParts { first_len, count }) = layout {
                if got != eight && count > 1 {
                    assert!(
                        first_len.is_multiple_of(got) || got.is_multiple_of(first_len),
                        "aligned"
                    );
                }
            }
        }
        // A part whose pieces would not divide it evenly: the configured size.
        assert_eq!(split_size(eight, 100 * MIB, parts(8 * MIB + 3, 13)), eight);
    }

    #[test]
    fn only_an_md5_etag_rules_out_a_multipart_object() {
        assert!(!may_be_multipart("\"0123456789abcdef0123456789ABCDEF\""));
        assert!(may_be_multipart("\"0123456789abcdef0123456789abcdef-3\""));
        assert!(may_be_multipart("\"0123456789abcdef\""));
        assert!(may_be_multipart(""));
    }
}
