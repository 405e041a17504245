//! GetObject: fetch, authenticate, then release plaintext.

use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use s3ec_crypto::{CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, TAG_LEN};
use s3ec_format::{AlgorithmSuite, ContentNonce, StringMap};

use crate::body::{channel, Sink};
use crate::client::Client;
use crate::error::{required, Error};
use crate::range::{self, ContentRange, DecodePlan, PartialPlan, RangeError, RangeSpec};
use crate::spool::{read_chunk, Spool, Spooled};

/// Chunk size when releasing a spooled object.
const RELEASE_CHUNK: usize = 1 << 20;

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
    /// is decrypted without authentication and needs the legacy-unauthenticated option.
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
        let client = self.client;
        let opts = *client.options();
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let key = required(self.inner.get_key().clone(), "key")?;
        if self.inner.get_range().is_some() || self.inner.get_part_number().is_some() {
            return Err(Error::Usage(
                "set ranges with GetObject::range; part-number gets are not supported".into(),
            ));
        }
        let spec = self
            .range
            .as_deref()
            .map(str::parse::<RangeSpec>)
            .transpose()?;
        if let Some(s) = &spec {
            if !opts.legacy_unauthenticated_modes && !s.may_cover_whole_object() {
                return Err(Error::RangeNeedsLegacyUnauthenticated);
            }
        }
        let request = self.inner.set_range(spec.map(|s| s.ciphertext_request()));
        let mut out = match request.send().await {
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
            (None, Some(_)) => return Err(Error::UnexpectedContentRange),
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
        let plan = match (spec, fetched) {
            (Some(_), Some(_)) if suite == AlgorithmSuite::AesCbc => {
                return Err(Error::Unsupported("ranged get of an AES-CBC object"))
            }
            (Some(s), Some(f)) => Some(range::plan(&s, f, suite.tag_len() as u64)?),
            _ => None,
        };
        let body = std::mem::take(&mut out.body);
        let (plain, len, content_range) = match plan {
            Some(DecodePlan::Partial(p)) => {
                if !opts.legacy_unauthenticated_modes {
                    return Err(Error::RangeNeedsLegacyUnauthenticated);
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
                        return Err(Error::Unsupported("CBC object without an IV"));
                    };
                    (cbc_streamed(body, CbcDecryptor::new(key, iv)?), None)
                } else {
                    let body_len = stored_len
                        .checked_sub(TAG_LEN as u64)
                        .ok_or(Error::Authentication)?;
                    let dec = ContentDecryptor::new(suite, key, nonce)?;
                    let plain = if opts.delayed_authentication {
                        delayed(body, dec)
                    } else if stored_len <= opts.buffer_size {
                        buffered(body, dec, stored_len).await?
                    } else {
                        let ctr = CtrRangeDecryptor::new(suite, key, nonce, 0)?;
                        spooled(body, dec, ctr, stored_len).await?
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
        out.body = plain;
        out.content_length = len.map(|n| n as i64);
        out.content_range = content_range;
        clear_checksums(&mut out);
        Ok(out)
    }
}

fn clear_checksums(out: &mut GetObjectOutput) {
    out.checksum_crc32 = None;
    out.checksum_crc32_c = None;
    out.checksum_crc64_nvme = None;
    out.checksum_sha1 = None;
    out.checksum_sha256 = None;
    out.checksum_sha512 = None;
    out.checksum_md5 = None;
    out.checksum_xxhash64 = None;
    out.checksum_xxhash3 = None;
    out.checksum_xxhash128 = None;
    out.checksum_type = None;
}

fn io(e: aws_smithy_types::byte_stream::error::Error) -> Error {
    Error::Io(std::sync::Arc::new(e))
}

/// Reads the whole object into memory and opens it; plaintext only on success.
async fn buffered(
    mut body: ByteStream,
    dec: ContentDecryptor,
    stored_len: u64,
) -> Result<ByteStream, Error> {
    let mut buf = Vec::with_capacity(stored_len as usize);
    while let Some(chunk) = body.try_next().await.map_err(io)? {
        if (buf.len() + chunk.len()) as u64 > stored_len {
            return Err(Error::BodyLength {
                declared: stored_len,
                actual: (buf.len() + chunk.len()) as u64,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    if (buf.len() as u64) != stored_len {
        return Err(Error::BodyLength {
            declared: stored_len,
            actual: buf.len() as u64,
        });
    }
    let body_len = buf.len() - TAG_LEN;
    let (content, tag) = buf.split_at_mut(body_len);
    let mut dec = dec;
    let result = dec
        .decrypt_in_place_unverified(content)
        .and_then(|()| dec.finish(tag));
    if let Err(e) = result {
        zeroize::Zeroize::zeroize(&mut buf);
        return Err(e.into());
    }
    buf.truncate(body_len);
    Ok(ByteStream::from(buf))
}

/// Spools the ciphertext to a temporary file while authenticating it, then releases it through CTR.
///
/// The file holds ciphertext only: no plaintext reaches the disk, and what is released is what was
/// authenticated (the file is anonymous and private to this process).
async fn spooled(
    mut body: ByteStream,
    mut dec: ContentDecryptor,
    ctr: CtrRangeDecryptor,
    stored_len: u64,
) -> Result<ByteStream, Error> {
    let body_len = stored_len - TAG_LEN as u64;
    let mut spool = Spool::file_backed();
    let mut tag = Vec::with_capacity(TAG_LEN);
    let mut scratch = BytesMut::new();
    let mut seen = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(io)? {
        let content = ((body_len.saturating_sub(seen)) as usize).min(chunk.len());
        seen += chunk.len() as u64;
        if seen > stored_len {
            return Err(Error::BodyLength {
                declared: stored_len,
                actual: seen,
            });
        }
        spool.write(&chunk[..content]).await?;
        scratch.clear();
        scratch.extend_from_slice(&chunk[..content]);
        dec.decrypt_in_place_unverified(&mut scratch)?;
        tag.extend_from_slice(&chunk[content..]);
    }
    scratch.fill(0);
    if seen != stored_len {
        return Err(Error::BodyLength {
            declared: stored_len,
            actual: seen,
        });
    }
    dec.finish(&tag)?;
    let spooled = spool.finish().await?;
    let (sink, stream) = channel(Some(body_len));
    tokio::spawn(release(spooled, ctr, sink));
    Ok(stream)
}

async fn release(spooled: Spooled, mut ctr: CtrRangeDecryptor, sink: Sink) {
    let mut file = match spooled {
        Spooled::File { file, .. } => file,
        Spooled::Memory(b) => {
            let mut buf = BytesMut::from(&b[..]);
            let item = ctr
                .apply(&mut buf)
                .map(|()| buf.freeze())
                .map_err(Error::from);
            let _ = sink.send(item).await;
            return;
        }
    };
    loop {
        let mut buf = BytesMut::with_capacity(RELEASE_CHUNK);
        match read_chunk(&mut file, &mut buf, RELEASE_CHUNK).await {
            Ok(0) => return,
            Ok(_) => {
                let item = ctr
                    .apply(&mut buf)
                    .map(|()| buf.freeze())
                    .map_err(Error::from);
                let failed = item.is_err();
                if sink.send(item).await.is_err() || failed {
                    return;
                }
            }
            Err(e) => {
                let _ = sink.send(Err(e.into())).await;
                return;
            }
        }
    }
}

/// Delayed authentication: releases plaintext as it arrives, holding back the tag; a bad tag ends the
/// stream with [`Error::Authentication`].
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
                    let _ = sink.send(Err(io(e))).await;
                    return;
                }
            }
        }
    });
    stream
}

/// Legacy CBC: unauthenticated, streamed, holding back the final block for the padding.
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
                    let _ = sink.send(Err(io(e))).await;
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
                    let _ = sink.send(Err(io(e))).await;
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
            let out = buf.split_off(d);
            emit -= out.len() as u64;
            if !out.is_empty() && sink.send(Ok(out.freeze())).await.is_err() {
                return;
            }
        }
    });
    stream
}
