//! `EncryptedStore`: the `ObjectStore` implementation.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListResult, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, PutResult,
};
use s3ec_format::{AlgorithmSuite, Envelope, Located, StringMap};
use s3ec_materials::{CryptoMaterialsManager, DecryptRequest, DecryptionMaterials};

use crate::config::{ConfigError, EncryptedStoreBuilder, Options, RangePolicy};
use crate::envelope::{
    instruction_file_attributes, instruction_path, is_instruction_path, locate, seal,
    strip_envelope, Sealed,
};
use crate::error::{Error, Result};
use crate::read::{
    ciphertext_request, ctr_window, listed_size, open_whole, resolve, Cache, Verified,
};
use crate::spool::{authenticate, spool, Spooled};
use crate::upload::{EncryptedUpload, PendingInstruction};

/// A whole authenticated object: in memory, or (beyond the buffer size) in a temporary file.
enum Whole {
    Memory(Verified),
    Spooled(ObjectMeta, object_store::Attributes, Spooled),
}

/// Deletes issued at once by `delete_stream`.
const DELETE_CONCURRENCY: usize = 8;

/// An [`ObjectStore`] that encrypts every object written through it and authenticates every object read, in the
/// Amazon S3 Encryption Client format, over any inner store.
///
/// Objects written through `EncryptedStore<AmazonS3>` are ordinary S3EC objects (envelope in the object's user
/// metadata, or in `<path>.instruction`), read by `s3ec::Client` and the official clients; theirs are read here.
///
/// - `put`/`put_opts`: the caller's mode, tags and attributes pass through; user metadata under an envelope key
///   is refused ([`Error::ReservedMetadataKey`]).
/// - `put_multipart`: one GCM stream across the parts, in the order `put_part` is called; the tag ends the last
///   part. One encrypted part is held in memory until the next part (or `complete`) arrives.
/// - `get`/`get_opts`: the whole object is fetched and authenticated before anything is returned: in memory up
///   to the buffer size, beyond it through an anonymous temporary file that holds only ciphertext (plaintext is
///   decrypted from it as the caller reads). Ranges follow the [`RangePolicy`]; the verified-plaintext cache
///   keeps in-memory objects only.
/// - `head`/`list`: sizes are plaintext sizes (stored size minus the 16-byte GCM tag); instruction files are
///   never listed. ETags and versions are the inner store's (of the ciphertext), so conditional requests pass
///   through.
/// - `copy`/`rename`/`copy_if_not_exists` carry the instruction file; `delete` removes both.
/// - [`PaginatedListStore`] (where the inner store has it, as `AmazonS3`): pages pass through with plaintext
///   sizes and without instruction files, so a page may hold fewer than `max_keys` objects (even none) while
///   its `page_token` still leads on.
///
/// # Not implemented: `MultipartStore`
/// `object_store`'s low-level multipart API cannot carry one GCM stream soundly:
/// - `put_part(path, id, part_idx, data)` may be called for any part, in any order, concurrently, with parts
///   of any size (only "most stores" want equal parts). Part `i`'s AES-CTR counter starts after all the bytes
///   of parts `0..i`, which are unknown unless every part but the last has one size fixed in advance; the API
///   has no place to fix it, and a part of another size would silently encrypt under reused counters.
/// - The tag authenticates the whole ciphertext in order: it needs each part's GHASH contribution, which would
///   have to live in this process between stateless calls (a `MultipartId` is all that comes back), and is lost
///   with it, leaving an upload no one can complete.
/// - The tag must end the object, but a part is uploaded before anyone says it is the last: the tag can only
///   go in an extra part at `complete_multipart`, which makes the caller's last part a middle part, refused by
///   S3 if it is under 5 MiB (`EntityTooSmall`).
///
/// [`ObjectStore::put_multipart_opts`] (used by `BufWriter`, `WriteMultipart` and the `parquet` writer) has
/// none of these problems: its parts arrive in order through one upload object.
pub struct EncryptedStore<S> {
    inner: Arc<S>,
    shared: Arc<Shared>,
}

struct Shared {
    cmm: Arc<dyn CryptoMaterialsManager>,
    options: Options,
    cache: Cache,
}

impl<S> Clone for EncryptedStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl<S: fmt::Display> fmt::Display for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedStore({})", self.inner)
    }
}

impl<S: ObjectStore> EncryptedStoreBuilder<S> {
    /// Checks the options and builds the store.
    pub fn build(self) -> Result<EncryptedStore<S>, ConfigError> {
        let (inner, cmm, options) = self.into_parts()?;
        Ok(EncryptedStore::from_parts(inner, cmm, options))
    }
}

impl<S: ObjectStore> EncryptedStore<S> {
    /// Starts configuring a store over `inner`.
    pub fn builder(inner: S) -> EncryptedStoreBuilder<S> {
        EncryptedStoreBuilder::new(inner)
    }

    pub(crate) fn from_parts(
        inner: S,
        cmm: Arc<dyn CryptoMaterialsManager>,
        options: Options,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            shared: Arc::new(Shared {
                cmm,
                cache: Cache::new(options.cache_size),
                options,
            }),
        }
    }

    /// The wrapped store (reads and writes through it see ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The validated options.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// The envelope of an object whose attributes are `attributes`, reading its instruction file when needed.
    async fn envelope(
        &self,
        location: &Path,
        attributes: &object_store::Attributes,
    ) -> Result<Envelope> {
        match locate(attributes)? {
            Located::Complete(envelope) => Ok(envelope),
            Located::NeedsInstructionFile(need) => {
                let path = instruction_path(location)?;
                let json = match self.inner.get(&path).await {
                    Ok(r) => r.bytes().await,
                    Err(e) => Err(e),
                }
                .map_err(|source| Error::InstructionFile {
                    path: path.to_string(),
                    source: Box::new(source),
                })?;
                Ok(need.decode(&json).map_err(Error::from)?)
            }
        }
    }

    /// Runs the policy gates and unwraps the data key for a read asserting `context` (`ranged`: for an
    /// unauthenticated CTR window).
    async fn open(
        &self,
        envelope: &Envelope,
        context: &StringMap,
        ranged: bool,
    ) -> Result<DecryptionMaterials> {
        let policy = self.shared.options.decrypt_policy();
        let request = if ranged {
            DecryptRequest::ranged(&policy, envelope, context)
        } else {
            DecryptRequest::new(&policy, envelope, context)
        }
        .map_err(Error::from)?;
        Ok(self
            .shared
            .cmm
            .decrypt_materials(&request)
            .await
            .map_err(Error::from)?)
    }

    /// Fetches the whole object, authenticates and decrypts it. With `cacheable`, a cached copy read under the
    /// same encryption context is revalidated by ETag (a 304 serves it) and a fresh one is kept.
    async fn get_verified(
        &self,
        location: &Path,
        mut options: GetOptions,
        cacheable: bool,
    ) -> Result<Whole> {
        let context = crate::context::take(&mut options.extensions);
        let unconditional = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none();
        let cacheable = cacheable && unconditional && self.shared.options.cache_size > 0;
        let cached = if cacheable {
            self.shared
                .cache
                .get(location)
                .filter(|entry| entry.context == context)
        } else {
            None
        };
        let mut request = options;
        if let Some(entry) = &cached {
            request.if_none_match = entry.meta.e_tag.clone();
        }
        let fetched = match (self.inner.get_opts(location, request).await, cached) {
            (Err(object_store::Error::NotModified { .. }), Some(entry)) => {
                return Ok(Whole::Memory(entry))
            }
            (r, _) => r?,
        };
        let meta = fetched.meta.clone();
        let attributes = fetched.attributes.clone();
        let limit = self.shared.options.buffer_size;
        let size = meta.size;
        if size > limit {
            let envelope = self.envelope(location, &attributes).await?;
            let materials = self.open(&envelope, &context, false).await?;
            if !matches!(
                materials.content_suite(),
                AlgorithmSuite::AesGcm | AlgorithmSuite::AesGcmCommitKey
            ) {
                // Legacy CBC has no tag to authenticate a spooled copy with.
                return Err(Error::ObjectTooLarge { size, limit }.into());
            }
            let file = spool(fetched.into_stream(), size).await?;
            let spooled = authenticate(file, size, materials, envelope.nonce.clone()).await?;
            return Ok(Whole::Spooled(
                ObjectMeta {
                    size: spooled.len(),
                    ..meta
                },
                strip_envelope(attributes),
                spooled,
            ));
        }
        // `size` is at most the buffer size, which the builder bounds by the GCM limit: it fits in memory terms.
        let mut buf = BytesMut::with_capacity(size as usize);
        let mut body = fetched.into_stream();
        while let Some(chunk) = body.try_next().await? {
            if (buf.len() + chunk.len()) as u64 > size {
                return Err(Error::ShortBody {
                    expected: size,
                    got: (buf.len() + chunk.len()) as u64,
                }
                .into());
            }
            buf.extend_from_slice(&chunk);
        }
        if buf.len() as u64 != size {
            return Err(Error::ShortBody {
                expected: size,
                got: buf.len() as u64,
            }
            .into());
        }
        let envelope = self.envelope(location, &attributes).await?;
        let materials = self.open(&envelope, &context, false).await?;
        let plaintext = open_whole(
            materials.content_suite(),
            materials.data_key(),
            &envelope.nonce,
            buf,
        )?;
        let verified = Verified {
            meta: ObjectMeta {
                size: plaintext.len() as u64,
                ..meta
            },
            attributes: strip_envelope(attributes),
            context,
            plaintext,
        };
        if cacheable {
            self.shared.cache.insert(location, &verified);
        }
        Ok(Whole::Memory(verified))
    }

    /// A range under [`RangePolicy::UnauthenticatedCtr`]: only the covering blocks are fetched.
    async fn get_ctr(
        &self,
        location: &Path,
        mut options: GetOptions,
        range: GetRange,
    ) -> Result<GetResult> {
        let context = crate::context::take(&mut options.extensions);
        range.is_valid().map_err(|e| object_store::Error::Generic {
            store: crate::error::STORE_NAME,
            source: Box::new(e),
        })?;
        options.range = Some(ciphertext_request(&range));
        let fetched = self.inner.get_opts(location, options).await?;
        let stored = fetched.meta.size;
        let plain_len = stored
            .checked_sub(s3ec_crypto::TAG_LEN as u64)
            .ok_or(Error::Truncated(stored))?;
        let want = resolve(&range, plain_len)?;
        let envelope = self.envelope(location, &fetched.attributes).await?;
        let materials = self.open(&envelope, &context, true).await?;
        let fetched_start = fetched.range.start;
        let meta = ObjectMeta {
            size: plain_len,
            ..fetched.meta.clone()
        };
        let attributes = strip_envelope(fetched.attributes.clone());
        let body = fetched.bytes().await?;
        let plaintext = ctr_window(
            materials.content_suite(),
            materials.data_key(),
            &envelope.nonce,
            &body,
            fetched_start,
            want.clone(),
        )?;
        Ok(result(meta, attributes, want, plaintext))
    }

    /// Copies (or removes) the destination's instruction file after the object itself was copied.
    async fn carry_instruction_file(&self, from: &Path, to: &Path) -> Result<()> {
        let (from_i, to_i) = (instruction_path(from)?, instruction_path(to)?);
        match self
            .inner
            .copy_opts(&from_i, &to_i, CopyOptions::default())
            .await
        {
            Ok(()) => Ok(()),
            // The source keeps its envelope in metadata: a stale instruction file at the destination must go,
            // or a V3 split envelope could be completed from it.
            Err(object_store::Error::NotFound { .. }) => {
                ignore_not_found(self.inner.delete(&to_i).await)
            }
            Err(e) => Err(e),
        }
    }
}

fn ignore_not_found(r: Result<()>) -> Result<()> {
    match r {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// A `GetResult` holding `plaintext`, the bytes `range` of an object described by `meta`.
fn result(
    meta: ObjectMeta,
    attributes: object_store::Attributes,
    range: Range<u64>,
    plaintext: Bytes,
) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(stream::once(async move { Ok(plaintext) }).boxed()),
        meta,
        range,
        attributes,
        extensions: Default::default(),
    }
}

#[async_trait]
impl<S: ObjectStore + PaginatedListStore> PaginatedListStore for EncryptedStore<S> {
    async fn list_paginated(
        &self,
        prefix: Option<&str>,
        opts: PaginatedListOptions,
    ) -> Result<PaginatedListResult> {
        let mut page = self.inner.list_paginated(prefix, opts).await?;
        page.result.objects = std::mem::take(&mut page.result.objects)
            .into_iter()
            .filter_map(plaintext_listing)
            .collect();
        Ok(page)
    }
}

fn plaintext_listing(meta: ObjectMeta) -> Option<ObjectMeta> {
    if is_instruction_path(&meta.location) {
        return None;
    }
    Some(ObjectMeta {
        size: listed_size(meta.size),
        ..meta
    })
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for EncryptedStore<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let options = &self.shared.options;
        let PutOptions {
            mode,
            tags,
            attributes,
            mut extensions,
        } = opts;
        let context = crate::context::take(&mut extensions);
        let Sealed {
            mut encryptor,
            max_plaintext,
            attributes,
            instruction_file,
        } = seal(&*self.shared.cmm, options, attributes, context).await?;
        let len = payload.content_length();
        if len as u64 > max_plaintext {
            return Err(Error::PlaintextTooLarge {
                limit: max_plaintext,
            }
            .into());
        }
        let mut buf = Vec::with_capacity(len + s3ec_crypto::TAG_LEN);
        for chunk in &payload {
            buf.extend_from_slice(chunk);
        }
        encryptor.encrypt_in_place(&mut buf).map_err(Error::from)?;
        buf.extend_from_slice(&encryptor.finish().map_err(Error::from)?);
        self.shared.cache.remove(location);
        let out = self
            .inner
            .put_opts(
                location,
                buf.into(),
                PutOptions {
                    mode,
                    tags,
                    attributes,
                    extensions,
                },
            )
            .await?;
        if let Some(body) = instruction_file {
            let put = PutOptions {
                attributes: instruction_file_attributes(options),
                ..Default::default()
            };
            self.inner
                .put_opts(&instruction_path(location)?, body.into(), put)
                .await?;
        }
        Ok(out)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let options = &self.shared.options;
        let PutMultipartOptions {
            tags,
            attributes,
            mut extensions,
        } = opts;
        let context = crate::context::take(&mut extensions);
        let Sealed {
            encryptor,
            attributes,
            instruction_file,
            ..
        } = seal(&*self.shared.cmm, options, attributes, context).await?;
        self.shared.cache.remove(location);
        let inner = self
            .inner
            .put_multipart_opts(
                location,
                PutMultipartOptions {
                    tags,
                    attributes,
                    extensions,
                },
            )
            .await?;
        let instruction = match instruction_file {
            Some(body) => Some(PendingInstruction {
                store: self.inner.clone(),
                path: instruction_path(location)?,
                body,
                options: PutOptions {
                    attributes: instruction_file_attributes(options),
                    ..Default::default()
                },
            }),
            None => None,
        };
        Ok(Box::new(EncryptedUpload {
            inner,
            encryptor: Some(encryptor),
            held: None,
            instruction,
        }))
    }

    async fn get_opts(&self, location: &Path, mut options: GetOptions) -> Result<GetResult> {
        if options.head {
            let r = self.inner.get_opts(location, options).await?;
            let meta = ObjectMeta {
                size: listed_size(r.meta.size),
                ..r.meta.clone()
            };
            let range = 0..meta.size;
            return Ok(result(
                meta,
                strip_envelope(r.attributes),
                range,
                Bytes::new(),
            ));
        }
        let range = options.range.take();
        match (range, self.shared.options.range_policy) {
            (Some(range), RangePolicy::UnauthenticatedCtr) => {
                self.get_ctr(location, options, range).await
            }
            (range, _) => match self
                .get_verified(location, options, range.is_some())
                .await?
            {
                Whole::Memory(whole) => {
                    let len = whole.plaintext.len() as u64;
                    let want = match &range {
                        Some(r) => resolve(r, len)?,
                        None => 0..len,
                    };
                    // `want` lies within the plaintext, which is in memory.
                    let bytes = whole
                        .plaintext
                        .slice(want.start as usize..want.end as usize);
                    Ok(result(whole.meta, whole.attributes, want, bytes))
                }
                Whole::Spooled(meta, attributes, spooled) => {
                    let want = match &range {
                        Some(r) => resolve(r, spooled.len())?,
                        None => 0..spooled.len(),
                    };
                    Ok(GetResult {
                        payload: GetResultPayload::Stream(spooled.stream(want.clone())?),
                        meta,
                        range: want,
                        attributes,
                        extensions: Default::default(),
                    })
                }
            },
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if self.shared.options.range_policy == RangePolicy::UnauthenticatedCtr {
            let mut out = Vec::with_capacity(ranges.len());
            for r in ranges {
                out.push(self.get_range(location, r.clone()).await?);
            }
            return Ok(out);
        }
        match self
            .get_verified(location, GetOptions::default(), true)
            .await?
        {
            Whole::Memory(whole) => {
                let len = whole.plaintext.len() as u64;
                ranges
                    .iter()
                    .map(|r| {
                        let want = resolve(&GetRange::Bounded(r.clone()), len)?;
                        Ok(whole
                            .plaintext
                            .slice(want.start as usize..want.end as usize))
                    })
                    .collect()
            }
            Whole::Spooled(_, _, spooled) => {
                // One download and one authentication for all the ranges.
                let mut out = Vec::with_capacity(ranges.len());
                for r in ranges {
                    let want = resolve(&GetRange::Bounded(r.clone()), spooled.len())?;
                    let mut bytes = BytesMut::new();
                    let mut window = spooled.duplicate()?.stream(want)?;
                    while let Some(chunk) = window.try_next().await? {
                        bytes.extend_from_slice(&chunk);
                    }
                    out.push(bytes.freeze());
                }
                Ok(out)
            }
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        locations
            .map(move |location| {
                let inner = inner.clone();
                let shared = shared.clone();
                async move {
                    let location = location?;
                    shared.cache.remove(&location);
                    inner.delete(&location).await?;
                    ignore_not_found(inner.delete(&instruction_path(&location)?).await)?;
                    Ok(location)
                }
            })
            .buffered(DELETE_CONCURRENCY)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner
            .list(prefix)
            .try_filter_map(|m| async move { Ok(plaintext_listing(m)) })
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner
            .list_with_offset(prefix, offset)
            .try_filter_map(|m| async move { Ok(plaintext_listing(m)) })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects = std::mem::take(&mut listed.objects)
            .into_iter()
            .filter_map(plaintext_listing)
            .collect();
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let create = options.mode == CopyMode::Create;
        self.shared.cache.remove(to);
        self.inner.copy_opts(from, to, options).await?;
        let carried = self.carry_instruction_file(from, to).await;
        if carried.is_err() && create {
            // The object was created by this call and is unreadable without its envelope.
            let _ = self.inner.delete(to).await;
        }
        carried
    }
}
