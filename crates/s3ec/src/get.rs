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
use crate::output::{clear_checksums, drain_into};
use crate::plain_buf::{Grow, PlainBuf, Wipe};
use crate::range::{self, ContentRange, DecodePlan, PartialPlan, RangeError, RangeSpec};
use crate::spooled_get::spooled;
use crate::stored_body::TagSplitter;
use s3ec_materials::PolicyError;

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
        self.fetch(None).await
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
        self.fetch(Some(buf)).await
    }

    async fn fetch(self, mut into: Option<&mut Vec<u8>>) -> Result<GetObjectOutput, Error> {
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
        if let Some(s) = &spec {
            if !opts.legacy_unauthenticated_modes && !s.may_cover_whole_object() {
                return Err(Error::Policy(PolicyError::UnauthenticatedRange));
            }
        }
        let request = self.inner.set_range(spec.map(|s| s.ciphertext_request()));
        // Kept: a CBC range may need the last two blocks of the same object (see `cbc_range`).
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
        let plan = match (spec, fetched) {
            (Some(s), Some(f)) if suite == AlgorithmSuite::AesCbc => {
                if range::plan_cbc(&s, f, None) == Ok(range::CbcStep::Whole) {
                    // Covers the object whatever its padding: the whole-object CBC path below.
                    None
                } else {
                    return crate::cbc_range::serve(crate::cbc_range::CbcRange {
                        client: &client,
                        envelope: &envelope,
                        context: &self.context,
                        spec: s,
                        fetched: f,
                        request,
                        out,
                        into,
                    })
                    .await;
                }
            }
            (Some(s), Some(f)) => Some(range::plan(&s, f, suite.tag_len() as u64)?),
            _ => None,
        };
        let mut body = std::mem::take(&mut out.body);
        let mut filled = false;
        let (plain, len, content_range) = match plan {
            Some(DecodePlan::Partial(p)) => {
                if !opts.legacy_unauthenticated_modes {
                    return Err(Error::Policy(PolicyError::UnauthenticatedRange));
                }
                let materials = client.open_ranged(&envelope, &self.context).await?;
                let ctr = CtrRangeDecryptor::new(
                    materials.content_suite(),
                    materials.data_key(),
                    &envelope.nonce,
                    p.first_block,
                )?;
                (
                    ranged(body, ctr, p),
                    Some(p.emit),
                    Some(p.content_range.to_string()),
                )
            }
            whole => {
                let materials = client.open(&envelope, &self.context).await?;
                let key = materials.data_key();
                let nonce = &envelope.nonce;
                let (plain, len) = if suite == AlgorithmSuite::AesCbc {
                    let ContentNonce::Iv(iv) = nonce else {
                        return Err(ObjectError::Malformed("CBC object without an IV").into());
                    };
                    let plain = if into.is_none()
                        && !opts.delayed_authentication
                        && stored_len <= opts.buffer_size
                    {
                        cbc_buffered(body, key, iv, stored_len).await?
                    } else {
                        cbc_streamed(body, CbcDecryptor::new(key, iv)?)
                    };
                    // The plaintext length is known once the padding is checked: in memory, now.
                    let len = plain.bytes().map(|b| b.len() as u64);
                    (plain, len)
                } else {
                    let body_len = stored_len
                        .checked_sub(TAG_LEN as u64)
                        .ok_or(Error::Decrypt(DecryptFailure::Authentication))?;
                    let dec = ContentDecryptor::new(suite, key, nonce)?;
                    let plain = if let Some(buf) = into.as_deref_mut() {
                        read_authenticated(&mut body, dec, stored_len, buf).await?;
                        filled = true;
                        ByteStream::default()
                    } else if opts.delayed_authentication {
                        delayed(body, dec)
                    } else if stored_len <= opts.buffer_size {
                        buffered(body, dec, stored_len).await?
                    } else {
                        let keystream = ContentDecryptor::new(suite, key, nonce)?;
                        spooled(body, dec, keystream, stored_len).await?
                    };
                    (plain, Some(body_len))
                };
                let content_range = match whole {
                    Some(DecodePlan::Whole { size }) => {
                        Some(format!("bytes 0-{}/{size}", size - 1))
                    }
                    _ => None,
                };
                (plain, len, content_range)
            }
        };
        match into {
            Some(buf) if !filled => {
                drain_into(plain, buf).await?;
                out.content_length = Some(buf.len() as i64);
            }
            _ => {
                out.body = plain;
                out.content_length = len.map(|n| n as i64);
            }
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
    let mut buf = PlainBuf::with_capacity(body_len)?;
    read_authenticated(&mut body, dec, stored_len, &mut buf).await?;
    Ok(ByteStream::from(buf.freeze()))
}

/// Pieces of a network chunk are decrypted into a freshly zeroed tail of the buffer while it is still in cache.
const PIECE: usize = 256 * 1024;

/// Appends the content of a `stored_len`-byte object (ciphertext then tag) to the empty `buf`, decrypting piece
/// by piece, then verifies the tag. `buf` holds the plaintext only if this returns `Ok`; otherwise (and if the
/// future is dropped) it is zeroed and empty.
async fn read_authenticated<B: Grow>(
    body: &mut ByteStream,
    mut dec: ContentDecryptor,
    stored_len: u64,
    buf: &mut B,
) -> Result<(), Error> {
    let mut split = TagSplitter::new(stored_len)?;
    let body_len = usize::try_from(split.body_len()).map_err(|_| {
        Error::Usage(UsageError::TooLarge {
            max: usize::MAX as u64,
        })
    })?;
    buf.reserve(body_len);
    let mut guard = Wipe::new(buf);
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        let content = split.split(&chunk)?;
        let out = guard.buf();
        for piece in chunk[..content].chunks(PIECE) {
            dec.decrypt_unverified_to(piece, out.grow(piece.len()))?;
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
                    if let Err(e) = dec.finish(&held) {
                        let _ = sink.send(Err(e.into())).await;
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
                    let _ = sink.send(item.map_err(Error::from)).await;
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
            read_authenticated(&mut stream(chunks, false), dec, stored, &mut buf)
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
        let err = read_authenticated(&mut stream(chunks, false), dec, stored, &mut buf)
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
            let err = read_authenticated(&mut stream(chunks.clone(), false), dec, stored, &mut buf)
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
        let read = read_authenticated(&mut body, dec, stored, &mut buf);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), read).await;
        assert!(timed_out.is_err());
        assert!(
            buf.is_empty(),
            "unauthenticated plaintext left after cancellation"
        );
    }
}
