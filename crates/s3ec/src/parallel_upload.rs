//! The parallel upload of a body of known length: every part is one segment of the object's GCM stream,
//! encrypted on a blocking thread at its own offset, so parts are encrypted on all cores and uploaded
//! concurrently; the segments' GHASH values combine into the object's tag, appended to the last part.
//!
//! The bytes stored are exactly those of the in-order upload for the same data key and nonce (the segment
//! engine's guarantee, tested here byte for byte), so every reader of today's multipart objects reads them.
//! The plan (which bytes make which part) is a pure function, [`plan_parts`]; [`run`] executes it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::types::CompletedPart;
use bytes::{Bytes, BytesMut};
use s3ec_crypto::segment::{GcmObject, SegmentEncryptor, SegmentGhash};
use s3ec_crypto::TAG_LEN;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::body_checksum::{encrypt_summed, BodyChecksum, PIECE};
use crate::buffer_pool::BufferPool;
use crate::error::{Error, MultipartError};
use crate::upload_part::PartTarget;

/// S3's largest part number.
const MAX_PARTS: u64 = 10_000;

/// One part of the plan: its number and the plaintext bytes `[offset, offset + len)` it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartPlan {
    pub(crate) number: i32,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// Cuts `total` plaintext bytes into parts of `part_size` (the last one shorter; an empty body is one empty
/// part, which carries the tag). More than 10 000 parts is [`MultipartError::TooManyParts`].
pub(crate) fn plan_parts(total: u64, part_size: u64) -> Result<Vec<PartPlan>, MultipartError> {
    let part_size = part_size.max(1);
    let count = total.div_ceil(part_size).max(1);
    if count > MAX_PARTS {
        return Err(MultipartError::TooManyParts { parts: count });
    }
    Ok((0..count)
        .map(|i| {
            let offset = i * part_size;
            PartPlan {
                // `count <= 10 000`, so the number fits.
                number: i as i32 + 1,
                offset,
                len: part_size.min(total - offset),
            }
        })
        .collect())
}

/// A plaintext that can be read at any offset, from any thread.
#[derive(Clone)]
pub(crate) enum Source {
    /// The caller's bytes, shared with the caller: each part is copied into a buffer of its own.
    Memory(Bytes),
    /// The caller's bytes, handed over (a `ByteStream` made from a `Vec` or a `Bytes` nobody else holds): each
    /// part is encrypted where it lies, and no copy is made. Parts are cut off the front in plan order.
    Owned(Arc<Mutex<OwnedRest>>),
    /// A file, opened again for every part (its length was taken when the upload started).
    File(Arc<PathBuf>),
}

/// What is left of an owned plaintext: the bytes from `offset` on.
pub(crate) struct OwnedRest {
    offset: u64,
    rest: BytesMut,
}

// The caller's plaintext never reaches Debug output: only its length.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Memory(bytes) => write!(f, "Memory({} bytes)", bytes.len()),
            Source::Owned(rest) => {
                let rest = rest.lock().unwrap_or_else(|p| p.into_inner());
                write!(f, "Owned({} bytes left)", rest.rest.len())
            }
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The buffer a part is encrypted in: one from the pool (the plaintext is read into it), or the part's own
/// bytes of an owned plaintext.
pub(crate) enum PartBuffer {
    Pooled(Vec<u8>),
    Owned(BytesMut),
}

impl PartBuffer {
    /// Appends the tag (the last part).
    fn append(&mut self, bytes: &[u8]) {
        match self {
            PartBuffer::Pooled(v) => v.extend_from_slice(bytes),
            PartBuffer::Owned(b) => b.extend_from_slice(bytes),
        }
    }

    /// The part's ciphertext for the request body, without a copy (a pooled buffer goes back to `pool` once
    /// the SDK drops it).
    fn into_bytes(self, pool: &BufferPool) -> Bytes {
        match self {
            PartBuffer::Pooled(v) => pool.lend(v),
            PartBuffer::Owned(b) => b.freeze(),
        }
    }
}

impl Source {
    /// `bytes` as a source: owned when nobody else holds them, else shared.
    pub(crate) fn memory(bytes: Bytes) -> Source {
        match bytes.try_into_mut() {
            Ok(rest) => Source::Owned(Arc::new(Mutex::new(OwnedRest { offset: 0, rest }))),
            Err(shared) => Source::Memory(shared),
        }
    }

    /// The buffer `part` is encrypted in. Called in plan order, on the task that plans (cheap: an owned
    /// plaintext gives its next bytes, any other source a pooled buffer of `capacity` bytes).
    fn buffer(
        &self,
        part: PartPlan,
        pool: &BufferPool,
        capacity: usize,
    ) -> Result<PartBuffer, Error> {
        let Source::Owned(rest) = self else {
            return Ok(PartBuffer::Pooled(pool.take(capacity)));
        };
        let mut rest = rest.lock().unwrap_or_else(|p| p.into_inner());
        let len = usize::try_from(part.len).map_err(std::io::Error::other)?;
        if rest.offset != part.offset || rest.rest.len() < len {
            return Err(Error::internal("owned parts are taken in plan order"));
        }
        rest.offset += part.len;
        Ok(PartBuffer::Owned(rest.rest.split_to(len)))
    }

    /// The ciphertext of `part` in `buf` (emptied first, given room for the tag), [`PIECE`] bytes at a time,
    /// each encrypted by `segment` and summed while it is in cache: one pass over memory rather than a copy,
    /// then an encryption, then a checksum. Shared bytes are encrypted from where they lie straight into `buf`;
    /// a file's are read into `buf` and encrypted there.
    fn encrypt_pieces(
        &self,
        part: PartPlan,
        mut buf: Vec<u8>,
        segment: &mut SegmentEncryptor,
        checksum: &mut BodyChecksum,
    ) -> Result<Vec<u8>, Error> {
        let len = usize::try_from(part.len).map_err(std::io::Error::other)?;
        buf.clear();
        buf.reserve(len + TAG_LEN);
        match self {
            Self::Owned(_) => return Err(Error::internal("an owned part is encrypted in place")),
            Self::Memory(b) => {
                let start = usize::try_from(part.offset).map_err(std::io::Error::other)?;
                let plain = b
                    .get(start..start + len)
                    .ok_or_else(|| std::io::Error::other("body shorter than its length"))?;
                for piece in plain.chunks(PIECE) {
                    let at = buf.len();
                    segment.encrypt_append(piece, &mut buf)?;
                    checksum.update(&buf[at..]);
                }
            }
            Self::File(path) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(path.as_path())?;
                f.seek(SeekFrom::Start(part.offset))?;
                while buf.len() < len {
                    let at = buf.len();
                    buf.resize(at + (len - at).min(PIECE), 0);
                    // A file that shrank since the upload started fails here (UnexpectedEof).
                    f.read_exact(&mut buf[at..])?;
                    segment.encrypt_in_place(&mut buf[at..])?;
                    checksum.update(&buf[at..]);
                }
            }
        }
        Ok(buf)
    }
}

/// Reads and encrypts one part as the segment at its offset, its checksum taken in the same pass (blocking:
/// run on a blocking thread).
fn encrypt_part(
    object: &GcmObject,
    source: &Source,
    part: PartPlan,
    buffer: PartBuffer,
    mut checksum: BodyChecksum,
) -> Result<(PartBuffer, SegmentGhash, BodyChecksum), Error> {
    let mut segment = object.segment_encryptor(part.offset)?;
    let data = match buffer {
        PartBuffer::Pooled(buf) => {
            PartBuffer::Pooled(source.encrypt_pieces(part, buf, &mut segment, &mut checksum)?)
        }
        PartBuffer::Owned(mut own) => {
            encrypt_summed(&mut own, &mut checksum, |p| segment.encrypt_in_place(p))?;
            PartBuffer::Owned(own)
        }
    };
    Ok((data, segment.finish()?, checksum))
}

async fn encrypt_blocking(
    object: Arc<GcmObject>,
    source: Source,
    part: PartPlan,
    buf: PartBuffer,
    checksum: BodyChecksum,
) -> Result<(PartBuffer, SegmentGhash, BodyChecksum), Error> {
    tokio::task::spawn_blocking(move || encrypt_part(&object, &source, part, buf, checksum))
        .await
        .map_err(|e| Error::Io(Arc::new(std::io::Error::other(e))))?
}

/// Encrypts and uploads the parts of `plan` with at most `concurrency` parts in memory at once (each holds its
/// permit from read to uploaded). Every part but the last is uploaded as soon as it is encrypted; the last waits
/// for every segment's GHASH, gets the tag and goes last. Returns the parts in order; the first failure stops
/// the rest (in-flight tasks are dropped) and is returned, for the caller to abort the upload. Parts are
/// encrypted into buffers from `pool` (the client's) unless the plaintext was handed over.
pub(crate) async fn run(
    target: &PartTarget,
    object: GcmObject,
    source: Source,
    plan: &[PartPlan],
    total: u64,
    concurrency: usize,
    pool: BufferPool,
) -> Result<Vec<CompletedPart>, Error> {
    let Some((&last, rest)) = plan.split_last() else {
        return Err(Error::internal("an upload plan has at least one part"));
    };
    let object = Arc::new(object);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let largest = plan.iter().map(|p| p.len).max().unwrap_or(0);
    let capacity =
        usize::try_from(largest).map_err(|_| Error::internal("a part fits in memory"))? + TAG_LEN;
    let (tx, mut rx) = mpsc::unbounded_channel::<SegmentGhash>();
    let mut tasks: JoinSet<Result<CompletedPart, Error>> = JoinSet::new();
    let mut done = Vec::with_capacity(plan.len());
    for &part in rest {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Cancelled)?;
        while let Some(finished) = tasks.try_join_next() {
            done.push(joined(finished)?);
        }
        let buf = source.buffer(part, &pool, capacity)?;
        let (object, source, target, tx, pool) = (
            object.clone(),
            source.clone(),
            target.clone(),
            tx.clone(),
            pool.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let checksum = target.checksum();
            let (data, ghash, checksum) =
                encrypt_blocking(object, source, part, buf, checksum).await?;
            // The receiver lives until every GHASH is in; a send error means the upload already failed.
            let _ = tx.send(ghash);
            target
                .upload(part.number, data.into_bytes(&pool), checksum)
                .await
        });
    }
    drop(tx);
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::Cancelled)?;
    let buf = source.buffer(last, &pool, capacity)?;
    let (mut last_data, last_ghash, mut last_checksum) =
        encrypt_blocking(object.clone(), source, last, buf, target.checksum()).await?;
    let mut ghashes = Vec::with_capacity(plan.len());
    ghashes.push(last_ghash);
    while ghashes.len() < plan.len() {
        tokio::select! {
            Some(g) = rx.recv() => ghashes.push(g),
            Some(finished) = tasks.join_next() => done.push(joined(finished)?),
            else => return Err(Error::internal("a part ended without its segment")),
        }
    }
    let tag = object.tag(ghashes, total)?;
    last_data.append(&tag);
    last_checksum.update(&tag);
    let t = target.clone();
    tasks.spawn(async move {
        let _permit = permit;
        t.upload(last.number, last_data.into_bytes(&pool), last_checksum)
            .await
    });
    while let Some(finished) = tasks.join_next().await {
        done.push(joined(finished)?);
    }
    done.sort_by_key(|p| p.part_number);
    Ok(done)
}

fn joined(
    finished: Result<Result<CompletedPart, Error>, tokio::task::JoinError>,
) -> Result<CompletedPart, Error> {
    finished.map_err(|e| Error::Io(Arc::new(std::io::Error::other(e))))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_crypto::testing::{encryptor_with_nonce, gcm_object_with_nonce};
    use s3ec_crypto::DataKey;
    use s3ec_format::AlgorithmSuite;

    #[test]
    fn plans_tile_the_body() {
        assert_eq!(
            plan_parts(0, 16).unwrap(),
            [PartPlan {
                number: 1,
                offset: 0,
                len: 0
            }]
        );
        assert_eq!(
            plan_parts(40, 16).unwrap(),
            [
                PartPlan {
                    number: 1,
                    offset: 0,
                    len: 16
                },
                PartPlan {
                    number: 2,
                    offset: 16,
                    len: 16
                },
                PartPlan {
                    number: 3,
                    offset: 32,
                    len: 8
                },
            ]
        );
        assert_eq!(plan_parts(32, 16).unwrap().len(), 2);
        assert_eq!(plan_parts(10_000 * 16, 16).unwrap().len(), 10_000);
        assert_eq!(
            plan_parts(10_000 * 16 + 1, 16),
            Err(MultipartError::TooManyParts { parts: 10_001 })
        );
    }

    fn crc32() -> BodyChecksum {
        BodyChecksum::for_config(
            &aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        )
    }

    /// Parts encrypted as segments (in any order) plus the combined tag are byte for byte what the sequential
    /// encryptor writes for the same data key and nonce, across part and block edges.
    #[test]
    fn parts_equal_the_sequential_stream() {
        for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
            let key = DataKey::generate().unwrap();
            let (_, nonce) = GcmObject::for_encrypt(suite, &key).unwrap();
            // The last pair has parts of several of the pieces encrypted between two checksum reads.
            let cases = [
                (0usize, 32u64),
                (1, 32),
                (64, 32),
                (100, 32),
                (1000, 48),
                (1_300_000, 614_400),
            ];
            for (total, part_size) in cases {
                let plain: Vec<u8> = (0..total).map(|i| (i * 7 + 3) as u8).collect();
                let mut sequential = plain.clone();
                let mut enc = encryptor_with_nonce(suite, &key, &nonce).unwrap();
                enc.encrypt_in_place(&mut sequential).unwrap();
                sequential.extend_from_slice(&enc.finish().unwrap());

                let object = gcm_object_with_nonce(suite, &key, &nonce).unwrap();
                let shared = Bytes::from(plain.clone());
                // Kept by the caller: encrypted from where it lies into pooled buffers. Handed over: encrypted
                // in place.
                let sources = [
                    Source::memory(shared.clone()),
                    Source::memory(Bytes::from(plain.clone())),
                ];
                assert!(matches!(sources[0], Source::Memory(_)));
                // (Empty bytes are a static, shared by nature.)
                assert!(total == 0 || matches!(sources[1], Source::Owned(_)));
                let pool = BufferPool::new(0);
                let plan = plan_parts(total as u64, part_size).unwrap();
                for source in &sources {
                    // Buffers in plan order (as `run` takes them), encrypted in reverse.
                    let buffers: Vec<_> = plan
                        .iter()
                        .map(|&p| (p, source.buffer(p, &pool, 0).unwrap()))
                        .collect();
                    let mut pieces: Vec<_> = buffers
                        .into_iter()
                        .rev()
                        .map(|(p, buf)| {
                            (p, encrypt_part(&object, source, p, buf, crc32()).unwrap())
                        })
                        .collect();
                    pieces.sort_by_key(|(p, _)| p.number);
                    let mut stored = Vec::new();
                    let mut ghashes = Vec::new();
                    for (_, (data, g, checksum)) in pieces {
                        let data = data.into_bytes(&pool);
                        let mut whole = crc32();
                        whole.update(&data);
                        assert_eq!(checksum.value(), whole.value());
                        stored.extend_from_slice(&data);
                        ghashes.push(g);
                    }
                    stored.extend_from_slice(&object.tag(ghashes, total as u64).unwrap());
                    assert!(
                        stored == sequential,
                        "{suite:?} {total}/{part_size} {source:?}"
                    );
                }
                // The caller's shared bytes are untouched.
                assert!(shared == plain);
            }
        }
    }

    /// A part from memory (encrypted from where it lies) and from a file (read, then encrypted in place) is
    /// the part's segment of the stream, summed whole, in a used buffer emptied and given room for the tag.
    #[test]
    fn sources_encrypt_and_sum_each_part_in_one_pass() {
        let plain: Vec<u8> = (0..2 * PIECE + 70_000).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &plain).unwrap();
        let part = PartPlan {
            number: 1,
            offset: 50_000,
            len: (PIECE + 100_000) as u64,
        };
        let range = 50_000..50_000 + PIECE + 100_000;
        let key = DataKey::generate().unwrap();
        let (object, _) = GcmObject::for_encrypt(AlgorithmSuite::AesGcmCommitKey, &key).unwrap();
        let mut want = plain[range].to_vec();
        object
            .segment_encryptor(part.offset)
            .unwrap()
            .encrypt_in_place(&mut want)
            .unwrap();
        let sources = [
            Source::Memory(Bytes::from(plain.clone())),
            Source::File(Arc::new(path)),
        ];
        for source in sources {
            let mut segment = object.segment_encryptor(part.offset).unwrap();
            let mut sum = crc32();
            // A used buffer, too small: emptied and grown.
            let got = source
                .encrypt_pieces(part, vec![7; 10], &mut segment, &mut sum)
                .unwrap();
            assert!(got == want, "{source:?}");
            assert!(got.capacity() >= got.len() + TAG_LEN);
            let mut whole = crc32();
            whole.update(&want);
            assert_eq!(sum.value(), whole.value(), "{source:?}");
        }
    }

    #[test]
    fn owned_parts_are_cut_in_plan_order_only() {
        let source = Source::memory(Bytes::from(vec![1u8; 100]));
        let pool = BufferPool::new(0);
        let plan = plan_parts(100, 32).unwrap();
        assert!(matches!(
            source.buffer(plan[1], &pool, 0),
            Err(Error::Internal(_))
        ));
        for p in &plan {
            let PartBuffer::Owned(b) = source.buffer(*p, &pool, 0).unwrap() else {
                panic!("an owned source gives its own bytes");
            };
            assert_eq!(b.len() as u64, p.len);
        }
        assert!(matches!(
            source.buffer(plan[0], &pool, 0),
            Err(Error::Internal(_))
        ));
        assert_eq!(format!("{source:?}"), "Owned(0 bytes left)");
    }

    #[test]
    fn a_file_source_reads_each_part_and_refuses_a_shrunk_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let source = Source::File(Arc::new(path.clone()));
        let part = PartPlan {
            number: 2,
            offset: 4,
            len: 6,
        };
        let key = DataKey::generate().unwrap();
        let (object, _) = GcmObject::for_encrypt(AlgorithmSuite::AesGcm, &key).unwrap();
        let read = |part: PartPlan| {
            let mut segment = object.segment_encryptor(part.offset).unwrap();
            source.encrypt_pieces(part, Vec::new(), &mut segment, &mut BodyChecksum::none())
        };
        let mut want = b"456789".to_vec();
        object
            .segment_encryptor(4)
            .unwrap()
            .encrypt_in_place(&mut want)
            .unwrap();
        assert_eq!(read(part).unwrap(), want);
        std::fs::write(&path, b"01234").unwrap();
        assert!(matches!(read(part), Err(Error::Io(e)) if e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof)));
    }
}
