//! PutObject: encrypt a body and store it with its envelope.

use std::collections::HashMap;

use std::time::Duration;

use aws_sdk_s3::config::{AsyncSleep, RequestChecksumCalculation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::builders::{PutObjectFluentBuilder, PutObjectInputBuilder};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectInput, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::endpoint_config::EndpointUrl;
use bytes::Bytes;
use s3ec_crypto::{ContentEncryptor, TAG_LEN};
use s3ec_format::{StringMap, DEFAULT_INSTRUCTION_SUFFIX};

use crate::aws_chunked::{OwnTrailer, Trailer};
use crate::body::{wire_len, EncryptingBody, FramingChoice};
use crate::body_checksum::BodyChecksum;
use crate::buffer_pool::BufferPool;
use crate::cipher_spool::{CipherSpool, Place};
use crate::client::{Client, RequestMaterials, Sealed};
use crate::error::{required, Error, UsageError};
use crate::instruction;
use crate::unsigned_payload::{tls, UnsignedOverTls};

/// Fluent builder for an encrypted PutObject; mirrors aws-sdk-s3's `PutObjectFluentBuilder`.
///
/// The body is encrypted; any checksum or Content-MD5 the caller set is removed (it would describe the
/// plaintext), and checksums the SDK computes cover the ciphertext. No two attempts ever encrypt under one data
/// key and IV: a retry either replays the very same ciphertext or starts over with a fresh data key and IV.
///
/// - An in-memory body is encrypted on the fly in cache-sized frames (no object-sized ciphertext is ever held).
///   The SDK cannot replay that ciphertext, so a transient failure (connection, timeout, throttling, 5xx)
///   starts the put over here: fresh data key and IV, fresh metadata (and instruction file), the same request
///   fields, up to the client's configured retry attempts with exponential backoff.
/// - A streamed body of known length (a file) is encrypted on the fly too. When its plaintext can be read
///   again — the SDK can clone its body, as for [`ByteStream::from_path`] and
///   [`ByteStream::read_from`]`().path(..)` — a transient failure starts the put over exactly as for an
///   in-memory body, re-reading the source. A body that cannot be cloned (a `ByteStream` built from an open
///   file handle with `read_from().file(..)`, or from an arbitrary stream with a size hint) is sent once: a
///   transient failure is returned to the caller, who may start a new put.
/// - A body of unknown length is encrypted into a spool first (memory up to the client's buffer size, then a
///   temporary file), each piece encrypted from the caller's bytes straight into its place there; the SDK
///   retries it by replaying that same ciphertext.
///
/// With an instruction file, the file is written only once the object put has succeeded, and it carries the
/// data key and IV of the attempt that succeeded.
///
/// Streamed bodies go with `UNSIGNED-PAYLOAD`: the payload hash of SigV4 would cost a SHA-256 of the whole
/// ciphertext and adds nothing the GCM tag (integrity of the content) and TLS (of the transport) do not give.
/// Over HTTPS a checksum of the ciphertext (CRC32 by default, as the SDK's) goes along unless the S3 client
/// is configured with `request_checksum_calculation(WhenRequired)`; an algorithm set on the put or Object Lock
/// parameters always send one (`optional_checksum` in `put.rs` says what turning it off costs and keeps).
/// For a body of known length s3ec frames the body itself (aws-chunked, the checksum as a trailer
/// taken while each frame is in cache) instead of leaving it to the SDK, whose framing copies every chunk; a
/// spooled body's checksum is taken while it is encrypted into the spool and sent as a header, its payload
/// unsigned as every streamed body's (the SDK would otherwise hash the spool for SigV4 and checksum it again).
/// The metadata headers stay signed.
#[must_use]
pub struct PutObject {
    client: Client,
    inner: PutObjectFluentBuilder,
    body: ByteStream,
    metadata: Option<HashMap<String, String>>,
    context: StringMap,
    description: Option<StringMap>,
}

impl Client {
    /// Starts an encrypted PutObject.
    pub fn put_object(&self) -> PutObject {
        PutObject {
            client: self.clone(),
            inner: self.s3().put_object(),
            body: ByteStream::default(),
            metadata: None,
            context: StringMap::new(),
            description: None,
        }
    }
}

impl PutObject {
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

    /// The plaintext body.
    pub fn body(mut self, body: ByteStream) -> Self {
        self.body = body;
        self
    }

    /// One user metadata entry (stored in clear, beside the envelope).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(HashMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// All user metadata.
    pub fn set_metadata(mut self, metadata: Option<HashMap<String, String>>) -> Self {
        self.metadata = metadata;
        self
    }

    /// The Content-Type.
    pub fn content_type(mut self, value: impl Into<String>) -> Self {
        self.inner = self.inner.content_type(value);
        self
    }

    /// The encryption context for this object (KMS keyrings bind it; raw keyrings ignore it).
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// A material description for this object only, stored instead of the keyring's own
    /// (`x-amz-matdesc` in V2, `x-amz-m` in V3). Raw keyrings (AES, RSA) only: a KMS keyring stores the
    /// encryption context in that place, so the put fails with
    /// [`MaterialDescriptionRefused`](s3ec_materials::Error::MaterialDescriptionRefused); use
    /// [`PutObject::encryption_context`] there. The description is not authenticated; on read it selects
    /// which of the keyring's keys to try.
    ///
    /// ```no_run
    /// # async fn demo(client: s3ec::Client) -> Result<(), s3ec::Error> {
    /// use aws_sdk_s3::primitives::ByteStream;
    /// let description = s3ec::StringMap::from([("tenant".to_string(), "blue".to_string())]);
    /// client
    ///     .put_object()
    ///     .bucket("b")
    ///     .key("k")
    ///     .material_description(description)
    ///     .body(ByteStream::from_static(b"secret"))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn material_description(mut self, description: StringMap) -> Self {
        self.description = Some(description);
        self
    }

    /// Sets any other PutObject field on the wrapped aws-sdk-s3 builder (storage class, tagging, SSE, ...).
    /// Body, length, Content-MD5 and checksum values set here are replaced.
    pub fn customize_request(
        mut self,
        f: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Encrypts and uploads. With an instruction file, the object is written first and removed again if the
    /// instruction file cannot be written, so no half-written object remains. Transient failures are retried
    /// per body kind as described on [`PutObject`], never under a data key and IV already used.
    pub async fn send(self) -> Result<PutObjectOutput, Error> {
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let key = required(self.inner.get_key().clone(), "key")?;
        let PutObject {
            client,
            inner,
            mut body,
            metadata,
            context,
            description,
        } = self;
        let context = RequestMaterials {
            context,
            description,
        };
        if body.bytes().is_some() {
            // The whole plaintext as one shared `Bytes` (no copy).
            let plaintext = body
                .try_next()
                .await
                .map_err(Error::io)?
                .unwrap_or_default();
            let source = Plaintext::Memory(plaintext);
            return put_restarting(client, inner, source, metadata, context, &bucket, &key).await;
        }
        let (low, high) = body.size_hint();
        if high == Some(low) {
            let source = body.into_inner();
            // A clonable body re-reads its source from the start each time (a file by path reopens it).
            if let Some(first) = source.try_clone() {
                let source = Plaintext::Reopenable(Box::new(Reopenable {
                    source,
                    first: Some(first),
                    len: low,
                }));
                return put_restarting(client, inner, source, metadata, context, &bucket, &key)
                    .await;
            }
            body = ByteStream::new(source);
        }
        let sealed = client.seal(context, metadata).await?;
        let Sealed {
            encryptor,
            suite,
            metadata,
            instruction_file,
        } = sealed;
        let max = suite.max_plaintext_len().unwrap_or(u64::MAX);
        let guard = instruction::Guard::of_put(&inner);
        let plan = put_checksum(client.s3().config(), inner.as_input());
        let mut checksum = BodyChecksum::of(plan.own_algorithm());
        let (body, len) = encrypt_body(
            body,
            encryptor,
            max,
            client.options().buffer_size,
            client.buffers(),
            &mut checksum,
        )
        .await?;
        let request = strip_plaintext_checksums(inner)
            .set_metadata(Some(metadata))
            .content_length(len as i64)
            .set_body(Some(body.stream));
        let out = match body.framing {
            Some((framing, plain_len)) => send_framed(request, plan, framing, plain_len).await,
            None if plan != PutChecksum::Sdk => send_spooled(request, checksum).await,
            None if body.streamed => send_streamed(request).await,
            None => request.send().await,
        };
        let out = out.map_err(|e| Error::s3("PutObject", e))?;
        drop(body.spool_guard);
        write_instruction_file(&client, &bucket, &key, instruction_file, &guard).await?;
        Ok(out)
    }
}

/// A plaintext that can be read again from the start, so a failed put can be encrypted afresh.
enum Plaintext {
    /// The whole plaintext, shared with the caller.
    Memory(Bytes),
    /// A streamed body of known length whose `SdkBody` can be cloned (each clone reads the source anew).
    Reopenable(Box<Reopenable>),
}

/// See [`Plaintext::Reopenable`].
struct Reopenable {
    source: SdkBody,
    /// A clone made while checking that the body clones; the first attempt uses it.
    first: Option<SdkBody>,
    len: u64,
}

impl Plaintext {
    fn len(&self) -> u64 {
        match self {
            Self::Memory(b) => b.len() as u64,
            Self::Reopenable(r) => r.len,
        }
    }

    /// The ciphertext body of one attempt: the plaintext from its start, encrypted on the fly by `encryptor`,
    /// framed as `framing` is chosen before the request goes.
    fn encrypt(
        &mut self,
        encryptor: ContentEncryptor,
        framing: FramingChoice,
    ) -> Result<SdkBody, Error> {
        let r = match self {
            Self::Memory(b) => {
                return Ok(EncryptingBody::from_bytes(b.clone(), encryptor, None)
                    .framed_by(framing)
                    .into_sdk_body())
            }
            Self::Reopenable(r) => r,
        };
        let fresh = r
            .first
            .take()
            .or_else(|| r.source.try_clone())
            .ok_or(Error::Usage(UsageError::Unsupported(
                "the put's body can no longer be re-read for a retry",
            )))?;
        Ok(
            EncryptingBody::new(ByteStream::new(fresh), encryptor, r.len, None)
                .framed_by(framing)
                .into_sdk_body(),
        )
    }
}

/// Puts a plaintext that can be re-read, encrypted frame by frame into recycled buffers (see
/// [`EncryptingBody`]) instead of into an object-sized ciphertext. That body cannot be replayed, so the SDK does
/// not retry it; a transient failure starts the put over here, with a fresh data key and nonce, fresh metadata
/// and instruction file (never the same key and IV twice), up to the client's configured number of attempts.
/// The instruction file is written once, after the attempt that succeeded.
async fn put_restarting(
    client: Client,
    inner: PutObjectFluentBuilder,
    mut plaintext: Plaintext,
    metadata: Option<HashMap<String, String>>,
    context: RequestMaterials,
    bucket: &str,
    key: &str,
) -> Result<PutObjectOutput, Error> {
    let retry = client.s3().config().retry_config().cloned();
    let attempts = retry.as_ref().map_or(3, |r| r.max_attempts()).max(1);
    let mut backoff = retry
        .as_ref()
        .map_or(Duration::from_secs(1), |r| r.initial_backoff());
    // The input builder is not Clone (it holds the body); a body-less copy serves as the template.
    let template = rebuild(client.s3().put_object(), inner.as_input());
    let guard = instruction::Guard::of_put(&inner);
    let plan = put_checksum(client.s3().config(), inner.as_input());
    let mut first = Some(inner);
    let mut attempt = 1;
    loop {
        let Sealed {
            encryptor,
            suite,
            metadata,
            instruction_file,
        } = client.seal(context.clone(), metadata.clone()).await?;
        let max = suite.max_plaintext_len().unwrap_or(u64::MAX);
        if plaintext.len() > max {
            return Err(UsageError::TooLarge { max }.into());
        }
        let builder = first
            .take()
            .unwrap_or_else(|| rebuild(client.s3().put_object(), template.as_input()));
        let framing = FramingChoice::default();
        let body = plaintext.encrypt(encryptor, framing.clone())?;
        let request = strip_plaintext_checksums(builder)
            .set_metadata(Some(metadata))
            .content_length((plaintext.len() + TAG_LEN as u64) as i64)
            .set_body(Some(ByteStream::new(body)));
        match send_framed(request, plan, framing, plaintext.len()).await {
            Ok(out) => {
                write_instruction_file(&client, bucket, key, instruction_file, &guard).await?;
                return Ok(out);
            }
            Err(e) if attempt < attempts && transient(&e) => {
                if let Some(sleep) = client.s3().config().sleep_impl() {
                    sleep.sleep(backoff).await;
                }
                backoff = (backoff * 2).min(Duration::from_secs(20));
                attempt += 1;
            }
            Err(e) => return Err(Error::s3("PutObject", e)),
        }
    }
}

/// Sends a put whose body s3ec encrypts on the fly ([`EncryptingBody`] over `plain_len` bytes of plaintext,
/// framed as `framing` is chosen) with the checksum `plan` asks for: s3ec's own trailer, or the SDK's.
async fn send_framed(
    request: PutObjectFluentBuilder,
    plan: PutChecksum,
    framing: FramingChoice,
    plain_len: u64,
) -> Result<PutObjectOutput, SdkError<PutObjectError, HttpResponse>> {
    match plan {
        PutChecksum::Sdk => send_streamed(request).await,
        own => {
            let checksum = OwnChecksum {
                plan: own,
                framing,
                plain_len,
            };
            request
                .set_checksum_algorithm(None)
                .customize()
                .interceptor(checksum)
                .send()
                .await
        }
    }
}

/// Sends a spooled put (its ciphertext in memory or a temporary file, complete before the request goes) with the
/// checksum s3ec took while encrypting into the spool, as the header of its algorithm, and over HTTPS as
/// `UNSIGNED-PAYLOAD`: the SDK adds no checksum, no framing and no payload hash of its own.
async fn send_spooled(
    request: PutObjectFluentBuilder,
    checksum: BodyChecksum,
) -> Result<PutObjectOutput, SdkError<PutObjectError, HttpResponse>> {
    let algorithm = checksum.algorithm();
    let value = checksum.value();
    let request = match algorithm {
        Some(ChecksumAlgorithm::Crc32) => request.set_checksum_crc32(value),
        Some(ChecksumAlgorithm::Crc32c) => request.set_checksum_crc32_c(value),
        Some(ChecksumAlgorithm::Crc64Nvme) => request.set_checksum_crc64_nvme(value),
        Some(ChecksumAlgorithm::Sha1) => request.set_checksum_sha1(value),
        Some(ChecksumAlgorithm::Sha256) => request.set_checksum_sha256(value),
        _ => request,
    };
    request
        .set_checksum_algorithm(None)
        .customize()
        .interceptor(SdkChecksumOff)
        .interceptor(UnsignedOverTls)
        .send()
        .await
}

/// Keeps the SDK from computing a checksum of its own: s3ec sent its own, or none by the client's choice.
#[derive(Debug)]
struct SdkChecksumOff;

impl Intercept for SdkChecksumOff {
    fn name(&self) -> &'static str {
        "s3ec::SdkChecksumOff"
    }

    fn modify_before_serialization(
        &self,
        _context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(RequestChecksumCalculation::WhenRequired);
        Ok(())
    }
}

/// Sends a put whose body the SDK cannot read in advance and s3ec does not frame itself (a checksum s3ec does
/// not compute), with the SDK's optional checksum chosen by [`optional_checksum`].
///
/// Such a body goes with `UNSIGNED-PAYLOAD` (the SDK cannot hash it before sending; the GCM tag protects the
/// content and TLS the transport).
async fn send_streamed(
    request: PutObjectFluentBuilder,
) -> Result<PutObjectOutput, SdkError<PutObjectError, HttpResponse>> {
    request
        .customize()
        .interceptor(OptionalChecksum)
        .send()
        .await
}

/// Whether the SDK adds its optional checksum (a CRC of the ciphertext) to an encrypted put: the value to put
/// in the request's config, or `None` to leave the S3 client's choice as it is.
///
/// By default the client's choice stands, and the SDK's default sends a CRC32 of the ciphertext, which S3
/// verifies on arrival. A user may turn it off with `request_checksum_calculation(WhenRequired)` on the S3
/// client's config: that saves the checksum's pass over the ciphertext (and, for the bodies the SDK frames, the
/// copy of every chunk its aws-chunked encoding makes; `cargo xtask bench client pipeline` shows both), and
/// the content stays protected end to end: TLS authenticates the transport, and the GCM tag (with key
/// commitment for the committing suites) fails on any corrupted byte at every read, releasing nothing. What the
/// checksum adds is catching such a corruption at the put rather than at the first get, and it is what S3 asks
/// of puts into Object Lock buckets (default retention included), which is why it is not off by default.
///
/// Whatever the client says, a checksum is sent when the put names an algorithm (`checksum_algorithm`, set
/// through [`PutObject::customize_request`]) or carries Object Lock parameters. Over plain HTTP none is sent:
/// the SDK would then sign every chunk of a streamed body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`), a
/// SHA-256 of the whole body, which Garage 2.5 rejects as "Invalid payload signature"; the body goes plainly
/// with its Content-Length.
fn optional_checksum(
    plain_http: bool,
    asked: bool,
    object_lock: bool,
) -> Option<RequestChecksumCalculation> {
    if plain_http {
        Some(RequestChecksumCalculation::WhenRequired)
    } else if asked || object_lock {
        Some(RequestChecksumCalculation::WhenSupported)
    } else {
        None
    }
}

/// Applies [`optional_checksum`] to a put, before the SDK chooses how to checksum the body. It reads the
/// endpoint the client was configured with and the put's own fields.
#[derive(Debug)]
struct OptionalChecksum;

impl Intercept for OptionalChecksum {
    fn name(&self) -> &'static str {
        "s3ec::OptionalChecksum"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let plain_http = cfg.load::<EndpointUrl>().is_some_and(|u| {
            u.0.get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("http:"))
        });
        let input = context.input().downcast_ref::<PutObjectInput>();
        let asked = input.is_some_and(|i| i.checksum_algorithm().is_some());
        let object_lock = input.is_some_and(|i| {
            i.object_lock_mode().is_some()
                || i.object_lock_retain_until_date().is_some()
                || i.object_lock_legal_hold_status().is_some()
        });
        if let Some(choice) = optional_checksum(plain_http, asked, object_lock) {
            cfg.interceptor_state().store_put(choice);
        }
        Ok(())
    }
}

/// How the ciphertext of a put that s3ec frames itself (an in-memory or re-readable body, see
/// [`put_restarting`]) is checksummed: a value computed once per put by [`put_checksum`], carried out by
/// [`OwnChecksum`] when the request's endpoint is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutChecksum {
    /// No checksum: the GCM tag alone protects the content (the client is configured `WhenRequired`).
    Off,
    /// The put asked for this checksum (an algorithm, or Object Lock fields): sent over any endpoint.
    Asked(ChecksumAlgorithm),
    /// The client's optional checksum (the SDK's default, CRC32): sent over HTTPS only, as the SDK does, for
    /// over plain HTTP an unsigned trailer adds nothing a signed request would not and some S3-compatible
    /// stores refuse it.
    Optional(ChecksumAlgorithm),
    /// An algorithm s3ec does not compute (the xxHash family): left to the SDK, framing and all.
    Sdk,
}

impl PutChecksum {
    /// The algorithm s3ec computes itself, if any.
    fn own_algorithm(self) -> Option<ChecksumAlgorithm> {
        match self {
            PutChecksum::Asked(a) | PutChecksum::Optional(a) => Some(a),
            PutChecksum::Off | PutChecksum::Sdk => None,
        }
    }
}

/// The [`PutChecksum`] of a put: what it asked for (an algorithm; Object Lock fields, for which S3 requires a
/// checksum), else the S3 client's configuration (the SDK's default is a CRC32 of every put).
///
/// s3ec sends the checksum itself, as the trailer of an aws-chunked body it frames while encrypting
/// ([`crate::aws_chunked`]), rather than through the SDK, whose framing copies every chunk.
fn put_checksum(config: &aws_sdk_s3::Config, input: &PutObjectInputBuilder) -> PutChecksum {
    let object_lock = input.get_object_lock_mode().is_some()
        || input.get_object_lock_retain_until_date().is_some()
        || input.get_object_lock_legal_hold_status().is_some();
    match input.get_checksum_algorithm() {
        Some(asked) => match own_algorithm(asked.as_str()) {
            Some(algorithm) => PutChecksum::Asked(algorithm),
            None => PutChecksum::Sdk,
        },
        None if object_lock => PutChecksum::Asked(ChecksumAlgorithm::Crc32),
        None => match config.request_checksum_calculation() {
            Some(RequestChecksumCalculation::WhenRequired) => PutChecksum::Off,
            _ => PutChecksum::Optional(ChecksumAlgorithm::Crc32),
        },
    }
}

/// The checksum algorithms s3ec computes itself, by S3's name for them.
fn own_algorithm(name: &str) -> Option<ChecksumAlgorithm> {
    match name.to_ascii_uppercase().as_str() {
        "CRC32" => Some(ChecksumAlgorithm::Crc32),
        "CRC32C" => Some(ChecksumAlgorithm::Crc32c),
        "CRC64NVME" => Some(ChecksumAlgorithm::Crc64Nvme),
        "SHA1" => Some(ChecksumAlgorithm::Sha1),
        "SHA256" => Some(ChecksumAlgorithm::Sha256),
        _ => None,
    }
}

/// Carries out a [`PutChecksum`] (other than [`PutChecksum::Sdk`]) on one attempt: keeps the SDK's own
/// checksum off, and once the endpoint is known, chooses the body's framing and, for a trailer, sets the
/// request's aws-chunked headers and signing mode (see [`OwnTrailer`]).
#[derive(Debug)]
struct OwnChecksum {
    plan: PutChecksum,
    framing: FramingChoice,
    plain_len: u64,
}

impl Intercept for OwnChecksum {
    fn name(&self) -> &'static str {
        "s3ec::OwnChecksum"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The SDK would wrap the body in its own aws-chunked framing a second time.
        SdkChecksumOff.modify_before_serialization(context, components, cfg)
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let https = tls(request.uri());
        // Only a request that still carries the body it was built with is framed: another interceptor may have
        // rewritten it (a test's throttle turns it into a bodiless HEAD), and framing headers on such a request
        // would announce a body that never comes.
        let ours = request.method() == "PUT"
            && request.headers().get("content-length")
                == Some((self.plain_len + TAG_LEN as u64).to_string().as_str());
        let algorithm = match self.plan {
            _ if !ours => None,
            PutChecksum::Asked(a) => Some(a),
            PutChecksum::Optional(a) if https => Some(a),
            _ => None,
        };
        self.framing.choose(algorithm);
        let Some(algorithm) = algorithm else {
            return Ok(());
        };
        let trailer = Trailer::new(algorithm);
        OwnTrailer {
            name: trailer.name(),
            algorithm: s3_name(algorithm),
            decoded_len: self.plain_len + TAG_LEN as u64,
            encoded_len: wire_len(self.plain_len, Some(&trailer)),
        }
        .apply(context.request_mut(), cfg);
        Ok(())
    }
}

/// S3's name of a checksum algorithm (`x-amz-sdk-checksum-algorithm`).
fn s3_name(algorithm: ChecksumAlgorithm) -> &'static str {
    match algorithm {
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
        _ => "CRC32",
    }
}

/// Whether a failed put is worth starting over: the SDK's own transient classes (connection, timeout,
/// throttling, server errors).
fn transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            matches!(status, 429 | 500 | 502 | 503 | 504)
                || matches!(
                    s.err().code(),
                    Some(
                        "SlowDown"
                            | "RequestTimeout"
                            | "RequestTimeTooSkewed"
                            | "InternalError"
                            | "Throttling"
                    )
                )
        }
        _ => false,
    }
}

/// Writes the instruction file after its object; removes the object again if that fails.
async fn write_instruction_file(
    client: &Client,
    bucket: &str,
    key: &str,
    instruction_file: Option<Vec<u8>>,
    guard: &instruction::Guard,
) -> Result<(), Error> {
    if let Some(json) = instruction_file {
        let ikey = format!("{key}{DEFAULT_INSTRUCTION_SUFFIX}");
        if let Err(e) = instruction::write(client.s3(), bucket, &ikey, json, guard).await {
            instruction::delete_quietly(client.s3(), bucket, key).await;
            return Err(e);
        }
    }
    Ok(())
}

/// A fresh fluent builder with every field of `input` that a put keeps; body, length, Content-MD5 and checksum
/// values are left out because [`strip_plaintext_checksums`] and the caller replace them. (A test checks that this
/// list names every field of the SDK's input.)
fn rebuild(b: PutObjectFluentBuilder, input: &PutObjectInputBuilder) -> PutObjectFluentBuilder {
    macro_rules! copy_fields {
        ($b:expr, $($set:ident <- $get:ident),* $(,)?) => {{
            let b = $b;
            $( let b = b.$set(input.$get().clone()); )*
            b
        }};
    }
    copy_fields!(
        b,
        set_acl <- get_acl,
        set_bucket <- get_bucket,
        set_cache_control <- get_cache_control,
        set_content_disposition <- get_content_disposition,
        set_content_encoding <- get_content_encoding,
        set_content_language <- get_content_language,
        set_content_type <- get_content_type,
        set_checksum_algorithm <- get_checksum_algorithm,
        set_expires <- get_expires,
        set_if_match <- get_if_match,
        set_if_none_match <- get_if_none_match,
        set_grant_full_control <- get_grant_full_control,
        set_grant_read <- get_grant_read,
        set_grant_read_acp <- get_grant_read_acp,
        set_grant_write_acp <- get_grant_write_acp,
        set_key <- get_key,
        set_write_offset_bytes <- get_write_offset_bytes,
        set_metadata <- get_metadata,
        set_server_side_encryption <- get_server_side_encryption,
        set_storage_class <- get_storage_class,
        set_website_redirect_location <- get_website_redirect_location,
        set_sse_customer_algorithm <- get_sse_customer_algorithm,
        set_sse_customer_key <- get_sse_customer_key,
        set_sse_customer_key_md5 <- get_sse_customer_key_md5,
        set_ssekms_key_id <- get_ssekms_key_id,
        set_ssekms_encryption_context <- get_ssekms_encryption_context,
        set_bucket_key_enabled <- get_bucket_key_enabled,
        set_request_payer <- get_request_payer,
        set_tagging <- get_tagging,
        set_object_lock_mode <- get_object_lock_mode,
        set_object_lock_retain_until_date <- get_object_lock_retain_until_date,
        set_object_lock_legal_hold_status <- get_object_lock_legal_hold_status,
        set_object_lock_event_hold <- get_object_lock_event_hold,
        set_object_lock_event_hold_duration_days <- get_object_lock_event_hold_duration_days,
        set_object_lock_event_hold_duration_years <- get_object_lock_event_hold_duration_years,
        set_expected_bucket_owner <- get_expected_bucket_owner,
    )
}

/// The input fields [`rebuild`] copies, and those it leaves to the put (for the completeness test).
#[cfg(test)]
const REBUILT_FIELDS: &[&str] = &[
    "acl",
    "bucket",
    "cache_control",
    "content_disposition",
    "content_encoding",
    "content_language",
    "content_type",
    "checksum_algorithm",
    "expires",
    "if_match",
    "if_none_match",
    "grant_full_control",
    "grant_read",
    "grant_read_acp",
    "grant_write_acp",
    "key",
    "write_offset_bytes",
    "metadata",
    "server_side_encryption",
    "storage_class",
    "website_redirect_location",
    "sse_customer_algorithm",
    "sse_customer_key",
    "sse_customer_key_md5",
    "ssekms_key_id",
    "ssekms_encryption_context",
    "bucket_key_enabled",
    "request_payer",
    "tagging",
    "object_lock_mode",
    "object_lock_retain_until_date",
    "object_lock_legal_hold_status",
    "object_lock_event_hold",
    "object_lock_event_hold_duration_days",
    "object_lock_event_hold_duration_years",
    "expected_bucket_owner",
];

/// Removes every caller-set value that could describe the plaintext.
pub(crate) fn strip_plaintext_checksums(b: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
    b.set_content_md5(None)
        .set_checksum_crc32(None)
        .set_checksum_crc32_c(None)
        .set_checksum_crc64_nvme(None)
        .set_checksum_sha1(None)
        .set_checksum_sha256(None)
        .set_checksum_sha512(None)
        .set_checksum_md5(None)
        .set_checksum_xxhash64(None)
        .set_checksum_xxhash3(None)
        .set_checksum_xxhash128(None)
        .set_content_length(None)
}

/// A ciphertext body and whatever must live until it is sent.
pub(crate) struct CipherBody {
    pub(crate) stream: ByteStream,
    pub(crate) spool_guard: Option<tempfile::TempPath>,
    /// Not an in-memory body (encrypted on the fly, or a spool file).
    pub(crate) streamed: bool,
    /// For a body encrypted on the fly: its framing, chosen when the request goes, and the plaintext length.
    pub(crate) framing: Option<(FramingChoice, u64)>,
}

/// Chooses how to encrypt a streamed `body`: on the fly (known length, not retried) or spooled (unknown length,
/// replayable). In-memory and re-readable bodies take [`put_restarting`]. Returns the body and the ciphertext length.
///
/// A spooled body's ciphertext (the tag included) is added to `checksum` as it is encrypted, while in cache.
pub(crate) async fn encrypt_body(
    mut body: ByteStream,
    mut encryptor: ContentEncryptor,
    max: u64,
    spool_limit: u64,
    pool: &BufferPool,
    checksum: &mut BodyChecksum,
) -> Result<(CipherBody, u64), Error> {
    let (low, high) = body.size_hint();
    if high == Some(low) {
        if low > max {
            return Err(UsageError::TooLarge { max }.into());
        }
        let framing = FramingChoice::default();
        let stream = ByteStream::new(
            EncryptingBody::new(body, encryptor, low, None)
                .framed_by(framing.clone())
                .into_sdk_body(),
        );
        return Ok((
            CipherBody {
                stream,
                spool_guard: None,
                streamed: true,
                framing: Some((framing, low)),
            },
            low + TAG_LEN as u64,
        ));
    }
    // Unknown length: encrypt into a spool, then send the spool (replayable).
    let limit = usize::try_from(spool_limit).unwrap_or(usize::MAX);
    let mut spool = CipherSpool::new(limit, pool.clone());
    let mut total = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        total += chunk.len() as u64;
        if total > max {
            return Err(UsageError::TooLarge { max }.into());
        }
        spool
            .append(&chunk, |piece, place| {
                match place {
                    Place::Slice(out) => {
                        encryptor.encrypt_to(piece, out)?;
                        checksum.update(out);
                    }
                    Place::Append(buf) => {
                        let at = buf.len();
                        encryptor.encrypt_append(piece, buf)?;
                        checksum.update(&buf[at..]);
                    }
                }
                Ok(())
            })
            .await?;
    }
    let tag = encryptor.finish()?;
    checksum.update(&tag);
    spool
        .append(&tag, |tag, place| {
            place.copy_from(tag);
            Ok(())
        })
        .await?;
    let spooled = spool.finish().await?;
    Ok((
        CipherBody {
            stream: spooled.stream,
            spool_guard: spooled.guard,
            streamed: true,
            framing: None,
        },
        spooled.len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of the SDK's PutObject input is either copied by `rebuild` or replaced by the put, so a
    /// restarted put sends the same request the caller built.
    #[test]
    fn rebuild_covers_every_put_object_field() {
        let debug = format!("{:?}", PutObjectInputBuilder::default());
        let inner = debug
            .split_once('{')
            .and_then(|(_, rest)| rest.rsplit_once('}'))
            .map(|(fields, _)| fields)
            .expect("a struct Debug");
        let replaced = ["body", "content_length", "content_md5"];
        let names: Vec<&str> = inner
            .split(", ")
            .filter_map(|f| f.split_once(':').map(|(n, _)| n.trim()))
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .collect();
        assert!(names.len() > 40, "parsed too few fields: {names:?}");
        for name in names {
            let known = REBUILT_FIELDS.contains(&name)
                || replaced.contains(&name)
                || (name.starts_with("checksum_") && name != "checksum_algorithm");
            assert!(
                known,
                "PutObject input field `{name}` is neither copied nor replaced on a restart"
            );
        }
    }

    #[test]
    fn rebuild_keeps_the_callers_fields() {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let original = s3
            .put_object()
            .bucket("b")
            .key("k")
            .content_type("text/plain")
            .cache_control("no-cache")
            .tagging("a=b")
            .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
            .if_none_match("*")
            .expected_bucket_owner("123")
            .metadata("m", "v");
        let rebuilt = rebuild(s3.put_object(), original.as_input());
        assert_eq!(
            format!("{:?}", rebuilt.as_input()),
            format!("{:?}", original.as_input())
        );
    }

    #[test]
    fn only_transient_failures_start_over() {
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let service = |status: u16, code: &str| {
            let err = PutObjectError::generic(
                aws_sdk_s3::error::ErrorMetadata::builder()
                    .code(code)
                    .build(),
            );
            let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
            SdkError::service_error(err, raw)
        };
        assert!(transient(&service(503, "SlowDown")));
        assert!(transient(&service(500, "InternalError")));
        assert!(transient(&service(400, "RequestTimeout")));
        assert!(!transient(&service(403, "AccessDenied")));
        assert!(!transient(&service(412, "PreconditionFailed")));
        assert!(!transient(
            &SdkError::<PutObjectError, HttpResponse>::construction_failure("bad input")
        ));
    }
}
