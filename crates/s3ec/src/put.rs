//! PutObject: encrypt a body and store it with its envelope.

use std::collections::HashMap;

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::BytesMut;
use s3ec_crypto::{ContentEncryptor, TAG_LEN};
use s3ec_format::{StringMap, DEFAULT_INSTRUCTION_SUFFIX};

use crate::body::EncryptingBody;
use crate::client::{Client, Sealed};
use crate::error::{required, Error};
use crate::instruction;
use crate::spool::{Spool, Spooled};

/// Plaintext chunk size used when encrypting into a spool.
const CHUNK: usize = 1 << 20;

/// Fluent builder for an encrypted PutObject; mirrors aws-sdk-s3's `PutObjectFluentBuilder`.
///
/// The body is encrypted; any checksum or Content-MD5 the caller set is removed (it would describe the
/// plaintext), and checksums the SDK computes cover the ciphertext. An in-memory body is encrypted into a
/// replayable buffer, so SDK retries resend identical ciphertext; a streamed body of known length (a file) is
/// encrypted on the fly and sent without SDK retries; a body of unknown length is encrypted into a spool first.
#[must_use]
pub struct PutObject {
    client: Client,
    inner: PutObjectFluentBuilder,
    body: ByteStream,
    metadata: Option<HashMap<String, String>>,
    context: StringMap,
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
    /// instruction file cannot be written, so no half-written object remains.
    pub async fn send(self) -> Result<PutObjectOutput, Error> {
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let key = required(self.inner.get_key().clone(), "key")?;
        let sealed = self.client.seal(self.context, self.metadata).await?;
        let Sealed {
            encryptor,
            suite,
            metadata,
            instruction_file,
        } = sealed;
        let max = suite.max_plaintext_len().unwrap_or(u64::MAX);
        let (body, len) =
            encrypt_body(self.body, encryptor, max, self.client.options().buffer_size).await?;
        let request = strip_plaintext_checksums(self.inner)
            .set_metadata(Some(metadata))
            .content_length(len as i64)
            .set_body(Some(body.stream));
        // With its default checksum setting the SDK sends a body it cannot read in advance as signed aws-chunked
        // (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: per-chunk signatures, a CRC32 trailer and a trailer
        // signature), which Garage 2.5 rejects as "Invalid payload signature" whatever the length. Without the
        // optional checksum the same body goes plainly, with `UNSIGNED-PAYLOAD` and its Content-Length, which every
        // store takes; the GCM tag still protects the content. Replayable bodies keep the SDK's checksum, computed
        // over the ciphertext.
        let out = if body.streamed {
            let cfg = aws_sdk_s3::config::Builder::default().request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            );
            request.customize().config_override(cfg).send().await
        } else {
            request.send().await
        };
        let out = out.map_err(|e| Error::s3("PutObject", e))?;
        drop(body.spool_guard);
        if let Some(json) = instruction_file {
            let ikey = format!("{key}{DEFAULT_INSTRUCTION_SUFFIX}");
            if let Err(e) = instruction::write(self.client.s3(), &bucket, &ikey, json).await {
                instruction::delete_quietly(self.client.s3(), &bucket, &key).await;
                return Err(e);
            }
        }
        Ok(out)
    }
}

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
    /// Not an in-memory body (encrypted on the fly, or a spool file): sent without the optional checksum.
    pub(crate) streamed: bool,
}

/// Chooses how to encrypt `body`: in memory (replayable), streamed (known length, not retried) or spooled
/// (unknown length, replayable). Returns the body and the ciphertext length.
pub(crate) async fn encrypt_body(
    mut body: ByteStream,
    mut encryptor: ContentEncryptor,
    max: u64,
    spool_limit: u64,
) -> Result<(CipherBody, u64), Error> {
    if let Some(bytes) = body.bytes() {
        if bytes.len() as u64 > max {
            return Err(Error::TooLarge { max });
        }
        let mut buf = Vec::with_capacity(bytes.len() + TAG_LEN);
        buf.extend_from_slice(bytes);
        encryptor.encrypt_in_place(&mut buf)?;
        buf.extend_from_slice(&encryptor.finish()?);
        let len = buf.len() as u64;
        return Ok((
            CipherBody {
                stream: ByteStream::from(buf),
                spool_guard: None,
                streamed: false,
            },
            len,
        ));
    }
    let (low, high) = body.size_hint();
    if high == Some(low) {
        if low > max {
            return Err(Error::TooLarge { max });
        }
        let stream = ByteStream::new(EncryptingBody::new(body, encryptor, low).into_sdk_body());
        return Ok((
            CipherBody {
                stream,
                spool_guard: None,
                streamed: true,
            },
            low + TAG_LEN as u64,
        ));
    }
    // Unknown length: encrypt into a spool, then send the spool (replayable).
    let limit = usize::try_from(spool_limit).unwrap_or(usize::MAX);
    let mut spool = NamedSpool::new(limit);
    let mut pending = BytesMut::new();
    let mut total = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| Error::Io(std::sync::Arc::new(e)))?
    {
        total += chunk.len() as u64;
        if total > max {
            return Err(Error::TooLarge { max });
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= CHUNK {
            encryptor.encrypt_in_place(&mut pending)?;
            spool.write(&pending).await?;
            pending.clear();
        }
    }
    encryptor.encrypt_in_place(&mut pending)?;
    spool.write(&pending).await?;
    spool.write(&encryptor.finish()?).await?;
    spool.finish().await
}

/// Like [`Spool`], but a file-backed spool keeps a path so the SDK can reopen it for a retry.
struct NamedSpool {
    limit: usize,
    memory: Option<Spool>,
    file: Option<(tempfile::NamedTempFile, u64)>,
}

impl NamedSpool {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            memory: Some(Spool::new(usize::MAX)),
            file: None,
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(mem) = self.memory.as_mut() {
            if mem.len() as usize + data.len() <= self.limit {
                return Ok(mem.write(data).await?);
            }
            let mem = self.memory.take().expect("checked above");
            let named = tokio::task::spawn_blocking(tempfile::NamedTempFile::new)
                .await
                .map_err(std::io::Error::other)??;
            self.file = Some((named, 0));
            if let Spooled::Memory(b) = mem.finish().await? {
                self.append(&b).await?;
            }
        }
        self.append(data).await
    }

    async fn append(&mut self, data: &[u8]) -> Result<(), Error> {
        use std::io::Write;
        let (named, len) = self.file.as_mut().expect("file mode");
        let mut f = named.as_file().try_clone()?;
        let owned = data.to_vec();
        tokio::task::spawn_blocking(move || f.write_all(&owned))
            .await
            .map_err(std::io::Error::other)??;
        *len += data.len() as u64;
        Ok(())
    }

    async fn finish(self) -> Result<(CipherBody, u64), Error> {
        match (self.memory, self.file) {
            (Some(mem), _) => {
                let Spooled::Memory(b) = mem.finish().await? else {
                    unreachable!("unlimited memory spool")
                };
                let len = b.len() as u64;
                Ok((
                    CipherBody {
                        stream: ByteStream::from(b),
                        spool_guard: None,
                        streamed: false,
                    },
                    len,
                ))
            }
            (None, Some((named, len))) => {
                let path = named.into_temp_path();
                let stream = ByteStream::read_from()
                    .path(&path)
                    .buffer_size(CHUNK)
                    .build()
                    .await
                    .map_err(|e| Error::Io(std::sync::Arc::new(e)))?;
                Ok((
                    CipherBody {
                        stream,
                        spool_guard: Some(path),
                        streamed: true,
                    },
                    len,
                ))
            }
            (None, None) => unreachable!("one of memory or file is always set"),
        }
    }
}
