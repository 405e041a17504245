//! The parallel get ([`crate::read_plan::ReadPath::Parallel`]): a GCM object fetched as concurrent ranged GETs,
//! each range decrypted on a blocking thread by a [`SegmentDecryptor`], the ranges' GHASH values combined
//! into the object's tag by [`GcmObject::verify`]. Nothing is released before that returns [`Verified`].
//!
//! The first range is the head of the first response (a plain GET, already under way when the plan was made:
//! its body is read up to the part size, then dropped). Every later range is pinned to the first response's
//! ETag with `If-Match`, and its answer must carry that ETag and the `Content-Range` asked for: an object
//! replaced mid-download is [`ObjectError::Changed`], never a mix of two objects.
//!
//! Where plaintext waits for the tag (`read_plan::ParallelSink`):
//! - memory: each range decrypted in its own buffer, handed out in order once verified; for a get into the
//!   caller's `Vec` ([`into_buffer`]), those buffers are disjoint pieces of that `Vec`'s own memory, joined
//!   back without a copy once verified;
//! - file: each range decrypted and written at its offset into a temporary file beside the destination
//!   (0600), renamed into place once verified; on any failure, or if the future is dropped, the
//!   file is truncated and removed;
//! - spool: each range's ciphertext written at its offset into an anonymous file (its GHASH computed on a
//!   wiped copy), decrypted from the file once verified, as the single-stream spooled get does.

use std::fs::File;
use std::sync::Arc;

use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use s3ec_crypto::segment::{GcmObject, SegmentDecryptor, SegmentGhash, Verified};
use s3ec_crypto::{ContentDecryptor, TAG_LEN};
use zeroize::Zeroize;

use crate::body::channel;
use crate::error::{DecryptFailure, Error, ObjectError};
use crate::partial_file::PartialFile;
use crate::range::{ContentRange, RangeError};
use crate::read_plan::{self, Fetch, StoredParts};

/// One parallel get, as planned.
pub(crate) struct Job {
    /// The request of the first response (bucket, key, version, SSE-C ...), repeated for each range.
    pub request: GetObjectFluentBuilder,
    /// The body of the first response: the whole stored object, of which the first part is read.
    pub first: ByteStream,
    /// The first response's ETag; every later range must match it.
    pub etag: String,
    /// The stored length: content then the 16-byte tag.
    pub stored_len: u64,
    /// Bytes per range.
    pub part_size: u64,
    /// Ranges in flight.
    pub concurrency: usize,
    /// The object's segment engine (after the key commitment check).
    pub object: Arc<GcmObject>,
}

/// Bytes `[start, end)` of the stored object, of which `[start, content_end)` are content.
#[derive(Debug, Clone, Copy)]
struct Part {
    start: u64,
    end: u64,
    content_end: u64,
}

impl Part {
    fn content_len(&self) -> usize {
        (self.content_end - self.start) as usize
    }
}

/// Splits a stored object into ranges of `part_size` bytes (the last holds the rest, tag included).
fn parts(stored_len: u64, part_size: u64) -> Vec<Part> {
    let content = stored_len - TAG_LEN as u64;
    (0..stored_len.div_ceil(part_size))
        .map(|i| {
            let start = i * part_size;
            let end = (start + part_size).min(stored_len);
            Part {
                start,
                end,
                content_end: end.min(content).max(start),
            }
        })
        .collect()
}

/// A range's bytes: content (unverified plaintext once decrypted, wiped on drop) and any tag bytes.
struct Fetched {
    part: Part,
    content: BytesMut,
    tag: Vec<u8>,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        self.content.as_mut().zeroize();
    }
}

/// Reads the bytes of one range from a response body, split into content and tag, and checks their count.
struct Cursor {
    part: Part,
    /// A range answer must hold exactly the range; the first response goes on past it.
    exact: bool,
    got: usize,
}

impl Cursor {
    fn new(part: Part, exact: bool) -> Self {
        Self {
            part,
            exact,
            got: 0,
        }
    }

    fn want(&self) -> usize {
        (self.part.end - self.part.start) as usize
    }

    /// The next piece of the range as `(content, tag bytes)`, or `None` at its end (or the body's).
    async fn next(&mut self, body: &mut ByteStream) -> Result<Option<(Bytes, Bytes)>, Error> {
        let want = self.want();
        if self.got >= want {
            return Ok(None);
        }
        let Some(chunk) = body.try_next().await.map_err(Error::io)? else {
            return Ok(None);
        };
        let take = chunk.len().min(want - self.got);
        let c = take.min(self.part.content_len().saturating_sub(self.got));
        let piece = (chunk.slice(..c), chunk.slice(c..take));
        self.got += take;
        if self.exact {
            // Bytes past the range count against it.
            self.got += chunk.len() - take;
        }
        Ok(Some(piece))
    }

    /// Checks that exactly the range arrived: more is as wrong as less.
    async fn finish(mut self, body: &mut ByteStream) -> Result<(), Error> {
        let want = self.want();
        if self.exact && self.got == want {
            if let Some(more) = body.try_next().await.map_err(Error::io)? {
                self.got += more.len();
            }
        }
        if self.got != want {
            return Err(ObjectError::BodyLength {
                declared: want as u64,
                actual: self.got as u64,
            }
            .into());
        }
        Ok(())
    }
}

/// Reads the bytes of `part` from `body` into a [`Fetched`] (the memory target) whose content goes to `dest`,
/// empty with room for the part's content (which never makes it grow: the cursor stops at the part's end).
async fn read_part(
    body: &mut ByteStream,
    part: Part,
    exact: bool,
    dest: BytesMut,
) -> Result<Fetched, Error> {
    let mut f = Fetched {
        part,
        content: dest,
        tag: Vec::new(),
    };
    let mut cursor = Cursor::new(part, exact);
    while let Some((content, tag)) = cursor.next(body).await? {
        f.content.extend_from_slice(&content);
        f.tag.extend_from_slice(&tag);
    }
    cursor.finish(body).await?;
    Ok(f)
}

/// A file target's range goes to the blocking worker in batches of this size: memory per range in flight
/// stays near it, not at the part size.
const BATCH: usize = 1 << 20;

/// Streams the bytes of `part` from `body` to a file target: each batch is decrypted (and, with the
/// ciphertext or plaintext, written at its offset) on a blocking thread while the next one arrives.
async fn stream_part(
    body: &mut ByteStream,
    part: Part,
    exact: bool,
    object: &GcmObject,
    target: &Target,
) -> Result<Processed, Error> {
    let cap = BATCH.min(part.content_len());
    let mut seg = Some(object.segment_decryptor(part.start)?);
    let mut batch = Batch(Vec::with_capacity(cap));
    let mut spare: Option<Batch> = None;
    let mut offset = part.start;
    let mut tag = Vec::new();
    let mut cursor = Cursor::new(part, exact);
    // One batch at the worker at a time (the segment's GHASH runs in order), the next filling meanwhile.
    let mut pending: Option<tokio::task::JoinHandle<Result<(SegmentDecryptor, Batch), Error>>> =
        None;
    loop {
        let next = cursor.next(body).await?;
        let done = next.is_none();
        if let Some((content, t)) = next {
            batch.0.extend_from_slice(&content);
            tag.extend_from_slice(&t);
        }
        if batch.0.len() >= BATCH || (done && !batch.0.is_empty()) {
            let s = match pending.take() {
                Some(h) => {
                    let (s, b) = h.await.map_err(Error::io)??;
                    spare = Some(b);
                    s
                }
                None => seg.take().expect("held between batches"),
            };
            let fresh = spare
                .take()
                .unwrap_or_else(|| Batch(Vec::with_capacity(cap)));
            let full = std::mem::replace(&mut batch, fresh);
            let n = full.0.len() as u64;
            pending = Some(spawn_batch(s, full, offset, target.clone()));
            offset += n;
        }
        if done {
            break;
        }
    }
    if let Some(h) = pending.take() {
        let (s, _) = h.await.map_err(Error::io)??;
        seg = Some(s);
    }
    cursor.finish(body).await?;
    let ghash = seg.expect("held after the last batch").finish()?;
    Ok((ghash, tag, None))
}

/// Bytes of a range on their way to a file target; wiped on drop (after decryption they are plaintext).
struct Batch(Vec<u8>);

impl Drop for Batch {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn spawn_batch(
    mut seg: SegmentDecryptor,
    mut batch: Batch,
    offset: u64,
    target: Target,
) -> tokio::task::JoinHandle<Result<(SegmentDecryptor, Batch), Error>> {
    tokio::task::spawn_blocking(move || {
        match &target {
            Target::Spool(file) => {
                write_at(file, &batch.0, offset)?;
                seg.decrypt_in_place_unverified(&mut batch.0)?;
            }
            Target::File(file) => {
                seg.decrypt_in_place_unverified(&mut batch.0)?;
                write_at(file, &batch.0, offset)?;
            }
            Target::Memory => return Err(Error::internal("memory target streamed")),
        }
        batch.0.zeroize();
        batch.0.clear();
        Ok((seg, batch))
    })
}

/// Requests a later range, pinned to `etag`; returns its body once the answer's headers check out.
async fn open_part(
    request: GetObjectFluentBuilder,
    etag: &str,
    part: Part,
    stored_len: u64,
) -> Result<ByteStream, Error> {
    let changed = |found: String| {
        Error::from(ObjectError::Changed {
            expected: etag.to_string(),
            found,
        })
    };
    let out = match request
        .range(format!("bytes={}-{}", part.start, part.end - 1))
        .if_match(etag)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let err = Error::s3("GetObject", e);
            return Err(match err.http_status() {
                Some(412) => changed("412 Precondition Failed".into()),
                _ => err,
            });
        }
    };
    match out.e_tag.as_deref() {
        Some(t) if t == etag => {}
        other => return Err(changed(other.unwrap_or("none").to_string())),
    }
    let want = ContentRange {
        first: part.start,
        last: part.end - 1,
        total: stored_len,
    };
    let cr = out
        .content_range
        .as_deref()
        .ok_or_else(|| RangeError::BadContentRange("none".into()))?;
    if cr.parse::<ContentRange>()? != want {
        return Err(RangeError::BadContentRange(format!("{cr} for {want}")).into());
    }
    Ok(out.body)
}

/// The body of a partial range's first response as [`Fetch`] says: as it is, or its window (`fetched`) cut
/// into ranges, the first read from `first` and the others fetched `concurrency` at a time, each pinned to
/// `etag` like a parallel get's, and yielded in order. The bytes are ciphertext of an unauthenticated range:
/// the legacy executors read them exactly as they would read the one response.
pub(crate) fn window(
    first: ByteStream,
    fetch: Fetch,
    request: &GetObjectFluentBuilder,
    etag: Option<&str>,
    fetched: ContentRange,
) -> ByteStream {
    let (
        Fetch::Parallel {
            part_size,
            concurrency,
        },
        Some(etag),
    ) = (fetch, etag)
    else {
        return first;
    };
    let len = fetched.last - fetched.first + 1;
    if len <= part_size {
        return first;
    }
    let parts: Vec<Part> = (0..len.div_ceil(part_size))
        .map(|i| {
            let start = fetched.first + i * part_size;
            let end = (start + part_size).min(fetched.last + 1);
            Part {
                start,
                end,
                content_end: end,
            }
        })
        .collect();
    let (request, etag) = (request.clone(), etag.to_string());
    let (sink, stream) = channel(Some(len));
    tokio::spawn(async move {
        let mut first = Some(first);
        let mut ranges = stream::iter(parts)
            .map(|part| {
                let (head, request, etag) = (first.take(), request.clone(), etag.clone());
                async move {
                    let (mut body, exact) = match head {
                        Some(body) => (body, false),
                        None => (open_part(request, &etag, part, fetched.total).await?, true),
                    };
                    let mut cursor = Cursor::new(part, exact);
                    let mut chunks = Vec::new();
                    while let Some((chunk, _)) = cursor.next(&mut body).await? {
                        chunks.push(chunk);
                    }
                    cursor.finish(&mut body).await?;
                    Ok::<_, Error>(chunks)
                }
            })
            .buffered(concurrency);
        while let Some(range) = ranges.next().await {
            let chunks = match range {
                Ok(chunks) => chunks,
                Err(e) => {
                    let _ = sink.send(Err(e)).await;
                    return;
                }
            };
            for chunk in chunks {
                // The reader went away (it has all it needs): the ranges still in flight are dropped.
                if sink.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        }
        sink.finish();
    });
    stream
}

/// Asks the store for the layout of the object behind `request` (HEAD with `partNumber=1`), when `etag` says
/// it may have parts, for [`read_plan::split_size`]. `None` when the ETag is a single PUT's or the store does not say (no part
/// numbers, any error): the configured split is used then, and a replaced object is still caught by the
/// ranges' own pins.
pub(crate) async fn stored_parts(
    s3: &aws_sdk_s3::Client,
    request: &GetObjectFluentBuilder,
    etag: &str,
) -> Option<StoredParts> {
    if !read_plan::may_be_multipart(etag) {
        return None;
    }
    let out = s3
        .head_object()
        .set_bucket(request.get_bucket().clone())
        .set_key(request.get_key().clone())
        .set_version_id(request.get_version_id().clone())
        .set_sse_customer_algorithm(request.get_sse_customer_algorithm().clone())
        .set_sse_customer_key(request.get_sse_customer_key().clone())
        .set_sse_customer_key_md5(request.get_sse_customer_key_md5().clone())
        .set_expected_bucket_owner(request.get_expected_bucket_owner().clone())
        .set_request_payer(request.get_request_payer().clone())
        .part_number(1)
        .send()
        .await
        .ok()?;
    // Neither pinned with If-Match nor compared by ETag: S3 answers with the object's ETag, but moto with the
    // part's own (and so fails an If-Match on the object's). Nothing rides on the layout but where ranges are
    // cut: every range is pinned by If-Match, the tag covers the whole object, and `split_size` ignores a
    // layout that does not fit the stored length.
    Some(StoredParts {
        first_len: u64::try_from(out.content_length?).ok()?,
        count: u64::try_from(out.parts_count?).ok()?,
    })
}

/// Where decrypted (or spooled) ranges go, shared by the blocking workers.
#[derive(Clone)]
enum Target {
    Memory,
    File(Arc<File>),
    Spool(Arc<File>),
}

/// A processed range: its GHASH, its tag bytes (if any) and, for memory, the decrypted range.
type Processed = (SegmentGhash, Vec<u8>, Option<Fetched>);

/// Decrypts a range of the memory target on a blocking thread.
async fn process(object: Arc<GcmObject>, mut f: Fetched) -> Result<Processed, Error> {
    tokio::task::spawn_blocking(move || -> Result<Processed, Error> {
        let tag = std::mem::take(&mut f.tag);
        let mut seg = object.segment_decryptor(f.part.start)?;
        seg.decrypt_in_place_unverified(&mut f.content[..])?;
        Ok((seg.finish()?, tag, Some(f)))
    })
    .await
    .map_err(Error::io)?
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset)? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Fetches every range (`concurrency` at a time, the first from the first response), processes each on a
/// blocking thread, and verifies the combined tag. On success returns the proof and, for memory, the
/// decrypted ranges in order. A memory target's ranges take their buffers off the front of `whole` (sized to
/// the content) when given, otherwise fresh ones.
async fn run(
    job: Job,
    target: Target,
    mut whole: Option<BytesMut>,
) -> Result<(Verified, Vec<Fetched>), Error> {
    let Job {
        request,
        first,
        etag,
        stored_len,
        part_size,
        concurrency,
        object,
    } = job;
    let content_len = stored_len
        .checked_sub(TAG_LEN as u64)
        .ok_or(Error::Decrypt(DecryptFailure::Authentication))?;
    let mut first = Some(first);
    let results: Vec<Processed> = stream::iter(parts(stored_len, part_size))
        .map(|part| {
            let head = first.take();
            let dest = match (&target, whole.as_mut()) {
                (Target::Memory, Some(w)) => {
                    let mut d = w.split_to(part.content_len().min(w.len()));
                    d.clear();
                    d
                }
                (Target::Memory, None) => BytesMut::with_capacity(part.content_len()),
                _ => BytesMut::new(),
            };
            let (object, target, request, etag) = (
                object.clone(),
                target.clone(),
                request.clone(),
                etag.clone(),
            );
            async move {
                // The rest of the first response is not needed: dropping it closes that connection.
                let (mut body, exact) = match head {
                    Some(body) => (body, false),
                    None => (open_part(request, &etag, part, stored_len).await?, true),
                };
                match target {
                    Target::Memory => {
                        let f = read_part(&mut body, part, exact, dest).await?;
                        process(object, f).await
                    }
                    _ => stream_part(&mut body, part, exact, &object, &target).await,
                }
            }
        })
        // Unordered: a slow range does not hold back the start of the next ones (order is restored below).
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut results = results;
    results.sort_unstable_by_key(|(g, _, _)| g.offset());
    let mut tag = Vec::with_capacity(TAG_LEN);
    let mut ghashes = Vec::with_capacity(results.len());
    let mut ranges = Vec::new();
    for (g, t, f) in results {
        if !g.is_empty() {
            ghashes.push(g);
        }
        tag.extend_from_slice(&t);
        ranges.extend(f);
    }
    let verified = object.verify(ghashes, content_len, &tag)?;
    Ok((verified, ranges))
}

/// Runs `job` into memory: the plaintext ranges in order, released only once the tag verified.
pub(crate) async fn to_memory(job: Job) -> Result<Vec<Vec<u8>>, Error> {
    let (_verified, mut ranges) = run(job, Target::Memory, None).await?;
    Ok(ranges
        .iter_mut()
        .map(|f| Vec::from(std::mem::take(&mut f.content)))
        .filter(|c| !c.is_empty())
        .collect())
}

/// Runs `job` into `buf` (the caller's `Vec` of `send_into`, taken empty) and returns it holding the
/// plaintext, released only once the tag verified; on an error it is zeroed and dropped.
///
/// Each range is decrypted in a piece of `buf`'s own memory, and the pieces are joined back without a copy:
/// for a reused buffer no fresh memory is touched, and the plaintext is written once (the ranges were
/// separate buffers before, copied into `buf` and wiped: two more passes over the object and a page fault
/// per fresh page). That sizes `buf` to the length the server declared before the bytes arrive, so only when
/// `buf` already has the room or it is within `limit` (the client's buffer size, as the single-stream get
/// reserves); beyond both, the ranges go to fresh buffers and are copied in as they were.
pub(crate) async fn into_buffer(job: Job, mut buf: Vec<u8>, limit: u64) -> Result<Vec<u8>, Error> {
    let content_len = job.stored_len.saturating_sub(TAG_LEN as u64);
    buf.clear();
    if content_len > (buf.capacity() as u64).max(limit) {
        let ranges = to_memory(job).await?;
        buf.try_reserve_exact(content_len as usize)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        for mut r in ranges {
            buf.extend_from_slice(&r);
            r.zeroize();
        }
        return Ok(buf);
    }
    let content_len = content_len as usize;
    if buf.capacity() < content_len {
        buf.try_reserve_exact(content_len)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    }
    // A `Vec` becomes a `BytesMut` over the same memory (through `Bytes`, the only way `bytes` offers).
    let mut whole = BytesMut::from(Bytes::from(buf));
    whole.resize(content_len, 0);
    let (_verified, mut ranges) = run(job, Target::Memory, Some(whole)).await?;
    let mut joined = BytesMut::new();
    for f in &mut ranges {
        // Contiguous pieces of one allocation: `unsplit` joins them in place.
        joined.unsplit(std::mem::take(&mut f.content));
    }
    // The pieces were the only other owners of the memory, so this hands the `Vec` back without a copy.
    Ok(Vec::from(joined))
}

/// Runs `job` into `file` (a [`PartialFile`] beside the destination); returns the plaintext length. The
/// caller renames the file into place after this returns `Ok`.
pub(crate) async fn to_file(job: Job, file: &PartialFile) -> Result<u64, Error> {
    // Not preallocated to the declared length: a server can declare any length, and only bytes that arrive
    // may cost disk (the positional writes extend the file as ranges land).
    let len = job.stored_len - TAG_LEN.min(job.stored_len as usize) as u64;
    let (_verified, _) = run(job, Target::File(file.shared()?), None).await?;
    Ok(len)
}

/// Runs `job` into an anonymous spool of ciphertext; once the tag verified, returns the stream that decrypts
/// it with `keystream` (an unused decryptor of the same content) as it is read.
pub(crate) async fn to_spool(job: Job, keystream: ContentDecryptor) -> Result<ByteStream, Error> {
    let len = job.stored_len - TAG_LEN.min(job.stored_len as usize) as u64;
    // Not preallocated, for the reason given in `to_file`.
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(Error::io)??;
    let file = Arc::new(file);
    let (_verified, _) = run(job, Target::Spool(file.clone()), None).await?;
    let file = Arc::try_unwrap(file).map_err(|_| Error::internal("spool still shared"))?;
    let (sink, stream) = channel(Some(len));
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        match std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)) {
            Ok(_) => crate::spooled_get::release(file, keystream, sink, len),
            Err(e) => {
                let _ = sink.blocking_send(Err(e.into()));
            }
        }
    });
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_tile_the_object_and_keep_the_tag_apart() {
        for stored in [16u64, 17, 31, 32, 100, 1000, 1024, 1040, 1041] {
            for part_size in [16u64, 17, 100, 1000] {
                let ps = parts(stored, part_size);
                assert_eq!(ps[0].start, 0);
                assert_eq!(ps.last().unwrap().end, stored);
                let mut content = 0;
                for w in ps.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                for p in &ps {
                    assert!(p.start <= p.content_end && p.content_end <= p.end);
                    content += p.content_len() as u64;
                }
                assert_eq!(content, stored - 16, "{stored} {part_size}");
            }
        }
    }
}
