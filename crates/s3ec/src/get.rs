//! GetObject: fetch, authenticate, then release plaintext.

use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use s3ec_crypto::{CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, DataKey, TAG_LEN};
use s3ec_format::{AlgorithmSuite, ContentNonce, StringMap};
use zeroize::Zeroize;

use crate::body::channel;
use crate::client::Client;
use crate::error::{required, DecryptFailure, Error, ObjectError, UsageError};
use crate::options::ParallelGet;
use crate::output::{clear_checksums, drain_into, in_order, write_file};
use crate::parallel_get;
use crate::partial_file::PartialFile;
use crate::plain_buf::{Grow, PlainBuf, Wipe};
use crate::range::{ContentRange, PartialPlan, RangeError, RangeSpec};
use crate::read_plan::{self, Destination, GcmRead, ParallelSink, ReadInputs, ReadPath};
use crate::spooled_get::spooled;
use crate::stored_body::TagSplitter;
use s3ec_crypto::segment::GcmObject;
use std::path::Path;
use std::sync::Arc;

/// Fluent builder for a decrypting GetObject; mirrors aws-sdk-s3's `GetObjectFluentBuilder`.
///
/// [`GetObject::send`] returns aws-sdk-s3's own `GetObjectOutput` whose `body` holds plaintext (read it as a
/// `ByteStream`, or as `AsyncRead` with `body.into_async_read()`), whose `content_length` and `content_range` are
/// in plaintext terms, and whose checksum fields (which describe the ciphertext) are cleared.
///
/// Unless delayed authentication is on, nothing is released before the tag verifies: objects up to the buffer
/// size are authenticated in memory, larger ones are spooled to an anonymous temporary file first.
#[must_use]
pub struct GetObject {
    client: Client,
    inner: GetObjectFluentBuilder,
    range: Option<String>,
    suffix: Option<String>,
    context: StringMap,
    parallel: Option<ParallelGet>,
}

impl Client {
    /// Starts a decrypting GetObject.
    pub fn get_object(&self) -> GetObject {
        GetObject {
            client: self.clone(),
            inner: self.s3().get_object(),
            range: None,
            suffix: None,
            context: StringMap::new(),
            parallel: None,
        }
    }
}

impl GetObject {
    /// The bucket.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.inner = self.inner.bucket(bucket);
        self
    }

    /// The object key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.inner = self.inner.key(key);
        self
    }

    /// A version of the object (the instruction file, which is not versioned with it, is read without one).
    pub fn version_id(mut self, version: impl Into<String>) -> Self {
        self.inner = self.inner.version_id(version);
        self
    }

    /// A plaintext byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`. A range that does not cover the whole object
    /// is decrypted without authentication and needs the legacy-unauthenticated option; a range that selects no
    /// byte is S3's 416 ([`crate::range::RangeError::Unsatisfiable`]).
    ///
    /// GCM objects are read through AES-CTR from the blocks the range needs. Legacy AES-CBC objects are read
    /// from one block before the first needed block (its chaining value) to the last needed block; when the
    /// range reaches into the last block, or is `a-` or `-n`, a second 32-byte GetObject of the last two blocks
    /// (pinned to the same ETag) first checks the padding and gives the plaintext length, so that
    /// `Content-Length` and `Content-Range` are exact, padding bytes are never released, and a bad padding is
    /// the one CBC error with nothing released. A CBC range that ends before the last block does not read the
    /// padding and reports `Content-Range: bytes a-b/*`. A range covering the whole object, whatever its
    /// padding (`bytes=0-`), is an ordinary whole-object get.
    pub fn range(mut self, range: impl Into<String>) -> Self {
        self.range = Some(range.into());
        self
    }

    /// Reads the envelope from `<key><suffix>` (for example `.partner-instruction`) instead of `.instruction`.
    pub fn instruction_file_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// The encryption context the object must have been written with (KMS objects).
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// Sets any other GetObject field on the wrapped aws-sdk-s3 builder (conditions, SSE-C, ...). Range and
    /// part number set here are refused; use [`GetObject::range`].
    pub fn customize_request(
        mut self,
        f: impl FnOnce(GetObjectFluentBuilder) -> GetObjectFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Fetches and decrypts.
    pub async fn send(self) -> Result<GetObjectOutput, Error> {
        self.fetch(Dest::Stream).await
    }

    /// Fetches and decrypts into the file at `path`, which appears only once every byte is authenticated.
    ///
    /// The plaintext is written to a temporary file beside `path` (same folder, mode 0600 on Unix), renamed
    /// over `path` after the tag verifies. On any error, and if the future is dropped, the temporary file is
    /// truncated and removed, and nothing appears at `path` (an existing file there is left as it was). A
    /// large GCM object is fetched as concurrent ranges decrypted straight into the file (see
    /// [`ParallelGet`]). The returned output's `body` is empty and its `content_length` is the plaintext
    /// length written.
    pub async fn send_to_path(self, path: impl AsRef<Path>) -> Result<GetObjectOutput, Error> {
        let target = path.as_ref().to_path_buf();
        let file = tokio::task::spawn_blocking(move || PartialFile::create(&target))
            .await
            .map_err(Error::io)??;
        let out = self.fetch(Dest::Path(&file)).await?;
        tokio::task::spawn_blocking(move || file.persist())
            .await
            .map_err(Error::io)??;
        Ok(out)
    }

    /// Overrides the client's [`ParallelGet`] settings for this get ([`ParallelGet::OFF`]: one stream).
    pub fn parallel(mut self, parallel: ParallelGet) -> Self {
        self.parallel = Some(parallel);
        self
    }

    /// Fetches and decrypts into `buf`, reusing its allocation: the way to read many objects without paying
    /// for fresh memory each time (first-touch page faults cost more than the decryption).
    ///
    /// `buf` is cleared first and, on success, holds the plaintext (the whole object, or the requested range);
    /// the returned output's `body` is empty and its lengths are in plaintext terms. A whole GCM object is
    /// authenticated before this returns, whatever the buffer-size and delayed-authentication options say
    /// (the caller chose to hold it in memory); each network chunk is decrypted as it is copied in, while
    /// still in cache. On any error, and if the future is dropped before it completes, `buf` is zeroed and
    /// left empty, so it never holds unauthenticated plaintext.
    ///
    /// The length the server declares reserves at most the client's buffer size up front (a server can declare
    /// any length); beyond that `buf` grows as bytes arrive. To read larger objects without regrowing, reserve
    /// `buf`'s capacity yourself: a reused buffer keeps it.
    ///
    /// ```no_run
    /// # async fn demo(client: s3ec::Client) -> Result<(), s3ec::Error> {
    /// let mut buf = Vec::new();
    /// for key in ["a", "b", "c"] {
    ///     let out = client.get_object().bucket("bucket").key(key).send_into(&mut buf).await?;
    ///     assert_eq!(out.content_length, Some(buf.len() as i64));
    ///     // use &buf[..] here; the next call reuses its memory
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_into(self, buf: &mut Vec<u8>) -> Result<GetObjectOutput, Error> {
        buf.clear();
        self.fetch(Dest::Buffer(buf)).await
    }

    async fn fetch(self, mut dest: Dest<'_>) -> Result<GetObjectOutput, Error> {
        let client = self.client;
        let opts = *client.options();
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let key = required(self.inner.get_key().clone(), "key")?;
        if self.inner.get_range().is_some() || self.inner.get_part_number().is_some() {
            return Err(UsageError::Unsupported(
                "set ranges with GetObject::range; part-number gets are not supported",
            )
            .into());
        }
        let spec = self
            .range
            .as_deref()
            .map(str::parse::<RangeSpec>)
            .transpose()?;
        read_plan::admit_range(spec.as_ref(), &opts)?;
        let request = self.inner.set_range(spec.map(|s| s.ciphertext_request()));
        // Kept: a CBC range may need the last two blocks of the same object (see `cbc_range`), and a parallel
        // get repeats it for each range.
        let mut out = match request.clone().send().await {
            Ok(out) => out,
            Err(e) => {
                let err = Error::s3("GetObject", e);
                if spec.is_some() && err.http_status() == Some(416) {
                    return Err(RangeError::Unsatisfiable { object_size: 0 }.into());
                }
                return Err(err);
            }
        };
        let stored_len = out.content_length.unwrap_or(0).max(0) as u64;
        let fetched = match (&spec, out.content_range.as_deref()) {
            (None, Some(_)) => return Err(Error::Usage(UsageError::UnexpectedContentRange)),
            (None, None) => None,
            (Some(_), Some(cr)) => {
                let cr: ContentRange = cr.parse()?;
                if cr.last - cr.first + 1 != stored_len {
                    return Err(RangeError::BadContentRange(format!(
                        "{cr} with Content-Length {stored_len}"
                    ))
                    .into());
                }
                Some(cr)
            }
            (Some(_), None) if stored_len == 0 => {
                return Err(RangeError::Unsatisfiable { object_size: 0 }.into())
            }
            (Some(_), None) => Some(ContentRange {
                first: 0,
                last: stored_len - 1,
                total: stored_len,
            }),
        };
        let envelope = client
            .locate(&bucket, &key, out.metadata.as_ref(), self.suffix.as_deref())
            .await?;
        let suite = envelope.suite;
        let range_asked = spec.is_some();
        let path = read_plan::plan_read(&ReadInputs {
            suite,
            options: &opts,
            parallel: self.parallel.unwrap_or(opts.parallel_get),
            range: spec.zip(fetched),
            stored_len,
            etag: out.e_tag.is_some(),
            destination: dest.kind(),
        })?;
        let mut body = std::mem::take(&mut out.body);
        let (plain, len, content_range) = match path {
            ReadPath::CbcRange(step, fetch) => {
                let (Some(s), Some(f)) = (spec, fetched) else {
                    return Err(Error::internal("CBC range plan without a range"));
                };
                out.body = body;
                let mut out = crate::cbc_range::serve(crate::cbc_range::CbcRange {
                    client: &client,
                    envelope: &envelope,
                    context: &self.context,
                    spec: s,
                    fetched: f,
                    step,
                    fetch,
                    request,
                    out,
                    into: dest.buffer(),
                })
                .await?;
                if let Dest::Path(file) = dest {
                    let plain = std::mem::take(&mut out.body);
                    write_file(plain, file).await?;
                }
                return Ok(out);
            }
            ReadPath::CtrRange(p, fetch) => {
                let Some(f) = fetched else {
                    return Err(Error::internal("CTR range plan without a range"));
                };
                let materials = client.open_ranged(&envelope, &self.context).await?;
                // After the policy gates: a refused range costs no further request.
                let body = parallel_get::window(body, fetch, &request, out.e_tag.as_deref(), f);
                let ctr = CtrRangeDecryptor::new(
                    materials.content_suite(),
                    materials.data_key(),
                    &envelope.nonce,
                    p.first_block,
                )?;
                (
                    Plain::Stream(ranged(body, ctr, p)),
                    Some(p.emit),
                    Some(p.content_range.to_string()),
                )
            }
            ReadPath::Cbc { buffered } => {
                let materials = client.open(&envelope, &self.context).await?;
                let ContentNonce::Iv(iv) = &envelope.nonce else {
                    return Err(ObjectError::Malformed("CBC object without an IV").into());
                };
                let key = materials.data_key();
                let plain = if buffered {
                    cbc_buffered(body, key, iv, stored_len).await?
                } else {
                    cbc_streamed(body, CbcDecryptor::new(key, iv)?)
                };
                // The plaintext length is known once the padding is checked: in memory, now.
                let len = plain.bytes().map(|b| b.len() as u64);
                (Plain::Stream(plain), len, None)
            }
            ReadPath::Gcm { how, whole_range } => {
                let materials = client.open(&envelope, &self.context).await?;
                let key = materials.data_key();
                let nonce = &envelope.nonce;
                let body_len = stored_len
                    .checked_sub(TAG_LEN as u64)
                    .ok_or(Error::Decrypt(DecryptFailure::Authentication))?;
                let dec = ContentDecryptor::new(suite, key, nonce)?;
                let plain = match (how, dest.buffer()) {
                    (GcmRead::Into, Some(buf)) => {
                        read_authenticated(&mut body, dec, stored_len, buf, opts.buffer_size)
                            .await?;
                        Plain::Filled
                    }
                    (GcmRead::Delayed, _) => Plain::Stream(delayed(body, dec)),
                    (GcmRead::Buffered, _) => Plain::Stream(buffered(body, dec, stored_len).await?),
                    (GcmRead::Spooled, _) => {
                        let keystream = ContentDecryptor::new(suite, key, nonce)?;
                        Plain::Stream(spooled(body, dec, keystream, stored_len).await?)
                    }
                    (GcmRead::Into, None) => {
                        return Err(Error::internal("buffer read planned without a buffer"))
                    }
                };
                let content_range = whole_range.map(|size| format!("bytes 0-{}/{size}", size - 1));
                (plain, Some(body_len), content_range)
            }
            ReadPath::Parallel {
                part_size,
                concurrency,
                sink,
            } => {
                let etag = out.e_tag.clone().unwrap_or_default();
                // The layout question overlaps the key's unwrapping (a KMS call, perhaps).
                let (materials, layout) = tokio::join!(
                    client.open(&envelope, &self.context),
                    parallel_get::stored_parts(client.s3(), &request, &etag)
                );
                let materials = materials?;
                let key = materials.data_key();
                let job = parallel_get::Job {
                    request,
                    first: body,
                    etag,
                    stored_len,
                    part_size: read_plan::split_size(part_size, stored_len, layout),
                    concurrency,
                    object: Arc::new(GcmObject::for_decrypt(suite, key, &envelope.nonce)?),
                };
                let body_len = stored_len.saturating_sub(TAG_LEN as u64);
                let plain = match (sink, &mut dest) {
                    (ParallelSink::File, Dest::Path(file)) => {
                        parallel_get::to_file(job, file).await?;
                        Plain::Written
                    }
                    (ParallelSink::Memory, Dest::Buffer(buf)) => {
                        let taken = std::mem::take(&mut **buf);
                        **buf = parallel_get::into_buffer(job, taken, opts.buffer_size).await?;
                        Plain::Filled
                    }
                    (ParallelSink::Memory, _) => {
                        Plain::Stream(in_order(parallel_get::to_memory(job).await?, body_len))
                    }
                    (ParallelSink::Spool, _) => {
                        let keystream = ContentDecryptor::new(suite, key, &envelope.nonce)?;
                        Plain::Stream(parallel_get::to_spool(job, keystream).await?)
                    }
                    (ParallelSink::File, _) => {
                        return Err(Error::internal("file read planned without a path"))
                    }
                };
                (plain, Some(body_len), None)
            }
        };
        match (plain, dest) {
            (Plain::Stream(plain), Dest::Buffer(buf)) => {
                drain_into(plain, buf).await?;
                out.content_length = Some(buf.len() as i64);
            }
            (Plain::Stream(plain), Dest::Path(file)) => {
                let n = write_file(plain, file).await?;
                out.content_length = Some(n as i64);
            }
            (Plain::Filled, Dest::Buffer(buf)) => out.content_length = Some(buf.len() as i64),
            (Plain::Stream(plain), Dest::Stream) => {
                out.body = plain;
                out.content_length = len.map(|n| n as i64);
            }
            (_, _) => out.content_length = len.map(|n| n as i64),
        }
        // A range covering a whole CBC object: S3 names the bytes it serves, so s3ec does too once the plaintext
        // length is known (not on the streamed path, which learns it only at the end).
        out.content_range = content_range.or_else(|| {
            let n = out.content_length.filter(|&n| n > 0)?;
            (range_asked && suite == AlgorithmSuite::AesCbc)
                .then(|| format!("bytes 0-{}/{n}", n - 1))
        });
        clear_checksums(&mut out);
        Ok(out)
    }
}

/// Where `GetObject::fetch` puts the plaintext.
enum Dest<'a> {
    Stream,
    Buffer(&'a mut Vec<u8>),
    Path(&'a PartialFile),
}

impl Dest<'_> {
    fn kind(&self) -> Destination {
        match self {
            Dest::Stream => Destination::Stream,
            Dest::Buffer(_) => Destination::Buffer,
            Dest::Path(_) => Destination::Path,
        }
    }

    fn buffer(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Dest::Buffer(b) => Some(b),
            _ => None,
        }
    }
}

/// What an executor produced.
enum Plain {
    /// A plaintext stream, for the destination to take.
    Stream(ByteStream),
    /// The caller's buffer holds the plaintext.
    Filled,
    /// The destination file holds the plaintext.
    Written,
}

/// Reads the whole object into memory and opens it; plaintext only on success.
async fn buffered(
    mut body: ByteStream,
    dec: ContentDecryptor,
    stored_len: u64,
) -> Result<ByteStream, Error> {
    let body_len = usize::try_from(stored_len.saturating_sub(TAG_LEN as u64)).map_err(|_| {
        Error::Usage(UsageError::TooLarge {
            max: usize::MAX as u64,
        })
    })?;
    // Within the buffer size (the caller checked), so the declared length may size the buffer.
    let mut buf = PlainBuf::with_capacity(body_len)?;
    read_authenticated(&mut body, dec, stored_len, &mut buf, u64::MAX).await?;
    Ok(ByteStream::from(buf.freeze()))
}

/// Pieces of a network chunk are decrypted onto the buffer one at a time, cache-sized.
const PIECE: usize = 256 * 1024;

/// Appends the content of a `stored_len`-byte object (ciphertext then tag) to the empty `buf`, decrypting piece
/// by piece, then verifies the tag. `buf` holds the plaintext only if this returns `Ok`; otherwise (and if the
/// future is dropped) it is zeroed and empty.
///
/// The declared length reserves at most `reserve_limit` bytes up front (fallibly): a server can claim any
/// length, and only bytes that arrive may cost memory. Beyond it the buffer grows as data arrives.
async fn read_authenticated<B: Grow>(
    body: &mut ByteStream,
    mut dec: ContentDecryptor,
    stored_len: u64,
    buf: &mut B,
    reserve_limit: u64,
) -> Result<(), Error> {
    let mut split = TagSplitter::new(stored_len)?;
    let reserve = usize::try_from(split.body_len().min(reserve_limit)).unwrap_or(usize::MAX);
    buf.try_reserve(reserve)?;
    let mut guard = Wipe::new(buf);
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        let content = split.split(&chunk)?;
        let out = guard.buf();
        for piece in chunk[..content].chunks(PIECE) {
            out.decrypt_onto(&mut dec, piece)?;
        }
    }
    let tag = split.tag()?;
    dec.finish(tag)?;
    guard.disarm();
    Ok(())
}

/// Delayed authentication: releases plaintext as it arrives, holding back the tag; a bad tag ends the
/// stream with [`Error::Decrypt`] ([`DecryptFailure::Authentication`]).
fn delayed(mut body: ByteStream, mut dec: ContentDecryptor) -> ByteStream {
    let (sink, stream) = channel(None);
    tokio::spawn(async move {
        let mut held = BytesMut::new();
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    held.extend_from_slice(&chunk);
                    if held.len() > TAG_LEN {
                        let mut out = held.split_to(held.len() - TAG_LEN);
                        let item = dec
                            .decrypt_in_place_unverified(&mut out)
                            .map(|()| out.freeze());
                        if sink.send(item.map_err(Error::from)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    match dec.finish(&held) {
                        Ok(()) => sink.finish(),
                        Err(e) => {
                            let _ = sink.send(Err(e.into())).await;
                        }
                    }
                    return;
                }
                Err(e) => {
                    let _ = sink.send(Err(Error::io(e))).await;
                    return;
                }
            }
        }
    });
    stream
}

/// Legacy CBC within the buffer size: decrypted whole and released only after the padding check (CBC's only
/// integrity signal), so no block of a tampered object reaches the caller before the error, as with GCM.
async fn cbc_buffered(
    mut body: ByteStream,
    key: &DataKey,
    iv: &[u8],
    stored_len: u64,
) -> Result<ByteStream, Error> {
    let mut buf = Vec::new();
    let mut guard = Wipe::new(&mut buf);
    let mut seen = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        seen += chunk.len() as u64;
        if seen > stored_len {
            break;
        }
        guard.buf().extend_from_slice(&chunk);
    }
    if seen != stored_len {
        return Err(Error::Object(ObjectError::BodyLength {
            declared: stored_len,
            actual: seen,
        }));
    }
    let plain_len = CbcDecryptor::open_in_place(key, iv, guard.buf())?.len();
    guard.buf().truncate(plain_len);
    guard.disarm();
    Ok(ByteStream::from(buf))
}

/// Legacy CBC beyond the buffer size or with delayed authentication: unauthenticated, streamed, holding back
/// the final block for the padding.
fn cbc_streamed(mut body: ByteStream, dec: CbcDecryptor) -> ByteStream {
    const B: usize = 16;
    let (sink, stream) = channel(None);
    tokio::spawn(async move {
        let mut dec = dec;
        let mut held = BytesMut::new();
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    held.extend_from_slice(&chunk);
                    let ready = held.len().saturating_sub(B) / B * B;
                    if ready > 0 {
                        let mut out = held.split_to(ready);
                        let item = dec.decrypt_blocks_in_place(&mut out).map(|()| out.freeze());
                        if sink.send(item.map_err(Error::from)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    let item = dec.finish(&mut held).map(|n| {
                        held.truncate(n);
                        held.freeze()
                    });
                    let ok = item.is_ok();
                    if sink.send(item.map_err(Error::from)).await.is_ok() && ok {
                        sink.finish();
                    }
                    return;
                }
                Err(e) => {
                    let _ = sink.send(Err(Error::io(e))).await;
                    return;
                }
            }
        }
    });
    stream
}

/// An unauthenticated CTR range, trimmed to the requested bytes (never the tag).
fn ranged(mut body: ByteStream, mut ctr: CtrRangeDecryptor, plan: PartialPlan) -> ByteStream {
    let (sink, stream) = channel(Some(plan.emit));
    tokio::spawn(async move {
        let mut skip = plan.skip;
        let mut discard = plan.discard;
        let mut emit = plan.emit;
        while emit > 0 {
            let chunk: Bytes = match body.try_next().await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    let _ = sink
                        .send(Err(RangeError::ShortResponse { first: 0, last: 0 }.into()))
                        .await;
                    return;
                }
                Err(e) => {
                    let _ = sink.send(Err(Error::io(e))).await;
                    return;
                }
            };
            let drop = skip.min(chunk.len() as u64) as usize;
            skip -= drop as u64;
            let chunk = &chunk[drop..];
            let take = (discard + emit).min(chunk.len() as u64) as usize;
            if take == 0 {
                continue;
            }
            let mut buf = BytesMut::from(&chunk[..take]);
            if let Err(e) = ctr.apply(&mut buf) {
                let _ = sink.send(Err(e.into())).await;
                return;
            }
            let d = discard.min(buf.len() as u64) as usize;
            discard -= d as u64;
            // Plaintext before the range is not released: wiped, not left in the chunk's allocation.
            buf[..d].zeroize();
            let out = buf.split_off(d);
            emit -= out.len() as u64;
            if !out.is_empty() && sink.send(Ok(out.freeze())).await.is_err() {
                return;
            }
        }
    });
    stream
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use aws_smithy_types::body::SdkBody;
    use http_body::Frame;
    use s3ec_crypto::{ContentEncryptor, DataKey};

    use super::*;

    const SUITE: AlgorithmSuite = AlgorithmSuite::AesGcmCommitKey;

    /// A body that yields the given chunks, then ends or (with `stall`) stays pending for ever.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        stall: bool,
    }

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.chunks.pop_front() {
                Some(c) => Poll::Ready(Some(Ok(Frame::data(c)))),
                None if self.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    /// An encrypted object (ciphertext + tag) split into chunks of `size` bytes.
    fn object(plain: &[u8], size: usize) -> (DataKey, ContentNonce, Vec<Bytes>) {
        let key = DataKey::generate().unwrap();
        let (mut enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
        let mut ct = plain.to_vec();
        enc.encrypt_in_place(&mut ct).unwrap();
        ct.extend_from_slice(&enc.finish().unwrap());
        let chunks = ct.chunks(size).map(Bytes::copy_from_slice).collect();
        (key, nonce, chunks)
    }

    fn stream(chunks: Vec<Bytes>, stall: bool) -> ByteStream {
        let body = Chunks {
            chunks: chunks.into(),
            stall,
        };
        ByteStream::new(SdkBody::from_body_1_x(body))
    }

    fn plaintext(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[tokio::test]
    async fn reads_and_authenticates_across_any_chunking() {
        let plain = plaintext(PIECE * 2 + 33);
        // Chunk sizes that split the tag, fall on piece boundaries, or hold everything at once.
        for size in [1usize, 7, 16, PIECE, PIECE + 5, plain.len() + 16] {
            let (key, nonce, chunks) = object(&plain, size.max(1));
            let stored = (plain.len() + TAG_LEN) as u64;
            let dec = ContentDecryptor::new(SUITE, &key, &nonce).unwrap();
            // A reused buffer with stale contents and a different capacity.
            let mut buf = vec![0xAA; 5];
            buf.clear();
            read_authenticated(&mut stream(chunks, false), dec, stored, &mut buf, u64::MAX)
                .await
                .unwrap();
            assert_eq!(buf, plain, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn a_bad_tag_leaves_the_buffer_empty() {
        let plain = plaintext(100_000);
        let (key, nonce, mut chunks) = object(&plain, 4096);
        let last = chunks.pop().unwrap();
        let mut last = last.to_vec();
        *last.last_mut().unwrap() ^= 1;
        chunks.push(Bytes::from(last));
        let dec = ContentDecryptor::new(SUITE, &key, &nonce).unwrap();
        let mut buf = Vec::new();
        let stored = (plain.len() + TAG_LEN) as u64;
        let err = read_authenticated(&mut stream(chunks, false), dec, stored, &mut buf, u64::MAX)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Decrypt(DecryptFailure::Authentication)),
            "{err:?}"
        );
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn a_wrong_length_leaves_the_buffer_empty() {
        let plain = plaintext(10_000);
        let (key, nonce, chunks) = object(&plain, 1000);
        for stored in [plain.len() as u64 + 15, plain.len() as u64 + 17] {
            let dec = ContentDecryptor::new(SUITE, &key, &nonce).unwrap();
            let mut buf = Vec::new();
            let err = read_authenticated(
                &mut stream(chunks.clone(), false),
                dec,
                stored,
                &mut buf,
                u64::MAX,
            )
            .await
            .unwrap_err();
            assert!(
                matches!(err, Error::Object(ObjectError::BodyLength { .. })),
                "{err:?}"
            );
            assert!(buf.is_empty());
        }
    }

    #[tokio::test]
    async fn a_dropped_read_leaves_the_buffer_empty() {
        let plain = plaintext(50_000);
        let (key, nonce, mut chunks) = object(&plain, 1000);
        // Everything but the tag arrives; then the read is abandoned.
        chunks.truncate(chunks.len() - 1);
        let dec = ContentDecryptor::new(SUITE, &key, &nonce).unwrap();
        let mut buf = Vec::new();
        let stored = (plain.len() + TAG_LEN) as u64;
        let mut body = stream(chunks, true);
        let read = read_authenticated(&mut body, dec, stored, &mut buf, u64::MAX);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), read).await;
        assert!(timed_out.is_err());
        assert!(
            buf.is_empty(),
            "unauthenticated plaintext left after cancellation"
        );
    }
}
