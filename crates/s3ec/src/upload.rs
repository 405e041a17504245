//! The high-level upload: split a stream or file into parts, encrypt them in order, upload them concurrently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use s3ec_format::StringMap;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::body_checksum::PIECE;
use crate::buffer_pool::BufferPool;
use crate::client::{Client, RequestMaterials};
use crate::config::check_part_size;
use crate::error::{Error, UsageError};
use crate::multipart::abort;
use crate::options::DEFAULT_PARALLEL_THRESHOLD;
use crate::parallel_upload::{self, plan_parts, Source};
use crate::part_cipher::UploadState;
use crate::upload_part::PartTarget;
use s3ec_crypto::segment::GcmObject;
use s3ec_crypto::TAG_LEN;

/// Fluent builder of [`Client::upload`].
///
/// Two ways to encrypt, one stored format (a multipart object whose last part ends with the GCM tag, read by
/// every official client):
///
/// - **Parallel** — a body of known length ([`Upload::file`], or an in-memory [`ByteStream`] such as
///   `ByteStream::from(Vec<u8>)`) of at least [`Upload::parallel_threshold`] bytes: every part is one segment of
///   the object's GCM stream, encrypted at its own offset on a blocking thread, so up to `concurrency` parts are
///   encrypted on as many cores and uploaded at once; the segments' GHASH values combine into the tag of the
///   last part, which is uploaded once every other part is encrypted. Memory stays near
///   `(concurrency + 1) * part_size`.
/// - **In order** — any other body (a stream of unknown length, a smaller one): parts are read and encrypted in
///   order by one task (one GCM stream), each piece encrypted from the stream's bytes straight into the part,
///   and uploaded by up to `concurrency` tasks; memory stays near `(concurrency + 1) * part_size`.
///
/// Every part carries the CRC32 of its ciphertext (the SDK's default checksum, which S3 verifies; none when the
/// S3 client is configured `request_checksum_calculation(WhenRequired)`), taken while the part is encrypted
/// rather than in a second pass, and over HTTPS goes as `UNSIGNED-PAYLOAD`: no SigV4 SHA-256 of each part, which
/// would cost more CPU than the encryption and adds nothing that TLS and the GCM tag do not already give (over
/// plain HTTP the SDK signs the payload). An in-memory body that nobody else holds (`ByteStream::from(vec)`) is
/// encrypted where it lies, part by part, without a copy; bytes the caller still holds
/// (`ByteStream::from(bytes.clone())`) are left as they were, each part copied into one of a few reused
/// buffers.
///
/// Options: [`Upload::part_size`] (default [`DEFAULT_PART_SIZE`](crate::DEFAULT_PART_SIZE), 8 MiB, or the
/// client's), [`Upload::concurrency`] (default [`DEFAULT_CONCURRENCY`](crate::DEFAULT_CONCURRENCY), 8, or the
/// client's) and [`Upload::parallel_threshold`] (default
/// [`DEFAULT_PARALLEL_THRESHOLD`](crate::DEFAULT_PARALLEL_THRESHOLD), 16 MiB).
///
/// Each part is uploaded from memory, so SDK retries resend identical ciphertext. Any failure aborts the
/// upload; the instruction file, if any, is written only after the upload completed, so a failed upload leaves
/// an object already stored under the key (and its instruction file) as it was.
#[must_use]
pub struct Upload {
    client: Client,
    inner: CreateMultipartUploadFluentBuilder,
    body: Option<ByteStream>,
    path: Option<PathBuf>,
    part_size: u64,
    concurrency: usize,
    parallel_threshold: u64,
    metadata: Option<HashMap<String, String>>,
    context: StringMap,
    description: Option<StringMap>,
    if_match: Option<String>,
}

impl Client {
    /// Uploads a stream or file of any size as an encrypted multipart upload.
    pub fn upload(&self) -> Upload {
        let opts = self.options();
        Upload {
            client: self.clone(),
            inner: self.s3().create_multipart_upload(),
            body: None,
            path: None,
            part_size: opts.part_size,
            concurrency: opts.upload_concurrency,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            metadata: None,
            context: StringMap::new(),
            description: None,
            if_match: None,
        }
    }
}

impl Upload {
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

    /// The plaintext, as a stream.
    pub fn body(mut self, body: ByteStream) -> Self {
        self.body = Some(body);
        self
    }

    /// The plaintext, from a file.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Part size (a multiple of 16 within 5 MiB..=5 GiB).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes;
        self
    }

    /// Parts uploaded at once (at least 1); in the parallel path also the parts encrypted at once.
    pub fn concurrency(mut self, parts: usize) -> Self {
        self.concurrency = parts;
        self
    }

    /// Smallest body of known length encrypted in parallel (see [`Upload`]); `0` takes the parallel path for
    /// every body of known length, `u64::MAX` never.
    pub fn parallel_threshold(mut self, bytes: u64) -> Self {
        self.parallel_threshold = bytes;
        self
    }

    /// One user metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(HashMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// All user metadata (stored in clear, beside the envelope).
    pub fn set_metadata(mut self, metadata: Option<HashMap<String, String>>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Complete the upload only if the object under the key still has this ETag (`If-Match` on
    /// CompleteMultipartUpload): a rewrite in place that never overwrites a concurrent writer. S3 answers 412
    /// otherwise; the upload is then aborted and the call fails with that service error.
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// The encryption context (KMS keyrings).
    pub fn encryption_context(mut self, context: StringMap) -> Self {
        self.context = context;
        self
    }

    /// A material description for this object only (raw keyrings); see
    /// [`PutObject::material_description`](crate::PutObject::material_description).
    pub fn material_description(mut self, description: StringMap) -> Self {
        self.description = Some(description);
        self
    }

    /// Sets any other CreateMultipartUpload field on the wrapped aws-sdk-s3 builder.
    pub fn customize_request(
        mut self,
        f: impl FnOnce(CreateMultipartUploadFluentBuilder) -> CreateMultipartUploadFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Runs the upload (parallel or in order, see [`Upload`]).
    pub async fn send(self) -> Result<CompleteMultipartUploadOutput, Error> {
        check_part_size(self.part_size)?;
        if self.concurrency == 0 {
            return Err(crate::ConfigError::Concurrency.into());
        }
        let body = match (self.body, self.path) {
            (Some(_), Some(_)) => {
                return Err(Error::Usage(UsageError::Invalid(
                    "give either body or file, not both",
                )))
            }
            (Some(b), None) => Body::choose(b, self.parallel_threshold).await?,
            (None, Some(p)) => {
                let len = tokio::fs::metadata(&p).await?.len();
                if len >= self.parallel_threshold {
                    Body::Known(Source::File(Arc::new(p)), len)
                } else {
                    Body::Stream(
                        ByteStream::read_from()
                            .path(p)
                            .buffer_size(1 << 20)
                            .build()
                            .await
                            .map_err(Error::io)?,
                    )
                }
            }
            (None, None) => Body::Stream(ByteStream::default()),
        };
        let bucket = self.inner.get_bucket().clone().unwrap_or_default();
        let key = self.inner.get_key().clone().unwrap_or_default();
        let client = self.client;
        let materials = RequestMaterials {
            context: self.context,
            description: self.description,
        };
        let target = |upload_id: &str| PartTarget {
            s3: client.s3().clone(),
            bucket: bucket.clone(),
            key: key.clone(),
            upload_id: upload_id.to_string(),
        };
        let (upload_id, instruction, result) = match body {
            Body::Known(source, len) => {
                let plan = plan_parts(len, self.part_size)?;
                let created = client
                    .create_upload_with(
                        self.inner,
                        self.metadata,
                        materials,
                        GcmObject::for_encrypt,
                    )
                    .await?;
                let upload_id = created.output.upload_id().unwrap_or_default().to_string();
                let result = if len > created.max {
                    Err(UsageError::TooLarge { max: created.max }.into())
                } else {
                    parallel_upload::run(
                        &target(&upload_id),
                        created.cipher,
                        source,
                        &plan,
                        len,
                        self.concurrency,
                        client.buffers().clone(),
                    )
                    .await
                };
                (upload_id, created.instruction, result)
            }
            Body::Stream(body) => {
                let (created, mut state) = client
                    .create_upload(self.inner, self.metadata, materials)
                    .await?;
                let upload_id = created.upload_id().unwrap_or_default().to_string();
                let instruction = state.instruction.take();
                let result = run(
                    &target(&upload_id),
                    state,
                    body,
                    self.part_size as usize,
                    self.concurrency,
                    client.buffers().clone(),
                )
                .await;
                (upload_id, instruction, result)
            }
        };
        let result = match (result, &self.if_match) {
            (Ok(parts), Some(etag)) => still_matches(client.s3(), &bucket, &key, etag)
                .await
                .map(|()| parts),
            (other, _) => other,
        };
        let completed = match result {
            Ok(parts) => client
                .s3()
                .complete_multipart_upload()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&upload_id)
                .set_if_match(self.if_match)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| Error::s3("CompleteMultipartUpload", e)),
            Err(e) => Err(e),
        };
        match completed {
            Ok(out) => {
                if let Some(pending) = instruction {
                    pending.write(client.s3(), &bucket, &key).await?;
                }
                Ok(out)
            }
            Err(e) => {
                if let Err(abort_err) = abort(&client, &bucket, &key, &upload_id).await {
                    tracing::warn!(
                        "AbortMultipartUpload after a failed upload also failed: {abort_err}"
                    );
                }
                Err(e)
            }
        }
    }
}

/// Fails with S3's 412 unless the object under `key` still has `etag`. Sent right before a conditional
/// CompleteMultipartUpload: S3 enforces the `If-Match` of the completion itself, but some S3-compatible servers
/// ignore it (moto), and there this check narrows the window in which a concurrent writer could be overwritten
/// to the time between the two requests.
pub(crate) async fn still_matches(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<(), Error> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .if_match(etag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::s3("HeadObject", e))
}

/// The body of an upload, as the path it takes.
enum Body {
    /// Known length at or over the parallel threshold: encrypted by segments.
    Known(Source, u64),
    /// Read and encrypted in order.
    Stream(ByteStream),
}

impl Body {
    /// An in-memory body (`ByteStream::from(bytes)`) of at least `threshold` bytes goes parallel; any other
    /// stream in order.
    async fn choose(mut body: ByteStream, threshold: u64) -> Result<Self, Error> {
        match body.bytes() {
            Some(b) if b.len() as u64 >= threshold => {
                // The whole body as one `Bytes` (no copy). The stream keeps a second reference for retries: once
                // it is gone, bytes that only the stream held (a caller's `Vec`) are ours to encrypt in place.
                let bytes = body
                    .try_next()
                    .await
                    .map_err(Error::io)?
                    .unwrap_or_default();
                drop(body);
                let len = bytes.len() as u64;
                Ok(Self::Known(Source::memory(bytes), len))
            }
            _ => Ok(Self::Stream(body)),
        }
    }
}

async fn run(
    target: &PartTarget,
    mut state: UploadState,
    body: ByteStream,
    part_size: usize,
    concurrency: usize,
    pool: BufferPool,
) -> Result<Vec<CompletedPart>, Error> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<Result<CompletedPart, Error>> = JoinSet::new();
    let mut reader = PartReader {
        body,
        carry: Bytes::new(),
    };
    let mut parts = Vec::new();
    let mut number = 1i32;
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Cancelled)?;
        while let Some(done) = tasks.try_join_next() {
            parts.push(joined(done)?);
        }
        let mut checksum = target.checksum();
        let mut pieces = state.cipher.part_in_pieces(number)?;
        let seal =
            |piece: &[u8], out: &mut Vec<u8>| Ok(pieces.seal_append(piece, out, &mut checksum)?);
        let mut data = reader
            .read(part_size, pool.take(part_size + TAG_LEN), seal)
            .await?;
        let is_last = data.len() < part_size || reader.at_end().await?;
        pieces.end(is_last, &mut data, &mut checksum)?;
        let (t, pool) = (target.clone(), pool.clone());
        tasks.spawn(async move {
            let _permit = permit;
            t.upload(number, pool.lend(data), checksum).await
        });
        if is_last {
            break;
        }
        number += 1;
    }
    while let Some(done) = tasks.join_next().await {
        parts.push(joined(done)?);
    }
    parts.sort_by_key(|p| p.part_number);
    Ok(parts)
}

fn joined(
    done: Result<Result<CompletedPart, Error>, tokio::task::JoinError>,
) -> Result<CompletedPart, Error> {
    done.map_err(|e| Error::Io(Arc::new(std::io::Error::other(e))))?
}

/// Cuts a stream into parts of exactly `part_size` bytes (the last one shorter).
struct PartReader {
    body: ByteStream,
    carry: Bytes,
}

impl PartReader {
    /// Reads the next part into `out`: each piece (at most [`PIECE`] bytes) of the stream goes to `seal`, which
    /// appends its ciphertext to `out` (room for the part is reserved). The part is encrypted as it is read,
    /// straight from the stream's bytes: no copy first, no second pass over memory.
    async fn read(
        &mut self,
        part_size: usize,
        mut out: Vec<u8>,
        mut seal: impl FnMut(&[u8], &mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<Vec<u8>, Error> {
        out.clear();
        out.reserve(part_size + TAG_LEN);
        loop {
            while !self.carry.is_empty() && out.len() < part_size {
                let take = self.carry.len().min(part_size - out.len()).min(PIECE);
                seal(&self.carry.split_to(take), &mut out)?;
            }
            if out.len() == part_size {
                return Ok(out);
            }
            match self.body.try_next().await.map_err(Error::io)? {
                Some(chunk) => self.carry = chunk,
                None => return Ok(out),
            }
        }
    }

    async fn at_end(&mut self) -> Result<bool, Error> {
        while self.carry.is_empty() {
            match self.body.try_next().await.map_err(Error::io)? {
                Some(chunk) => self.carry = chunk,
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_runtime_api::client::http::{
        http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use s3ec_crypto::wrap::AesWrappingKey;
    use s3ec_local::AesKeyring;

    use crate::Client;

    const MIB: usize = 1 << 20;

    /// An S3 that answers the multipart calls and consumes every body, keeping none of it (as a server behind a
    /// socket: the HTTP stack drops each body once sent, so its buffers can come back to the client's pool).
    #[derive(Debug, Clone)]
    struct Sink;

    impl HttpConnector for Sink {
        fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::new(async move {
                let mut body = request.take_body();
                while let Some(frame) = body.frame().await {
                    frame.expect("a body frame");
                }
                let xml = if request.uri().contains("?uploads") {
                    "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                     <UploadId>u</UploadId></InitiateMultipartUploadResult>"
                } else if request.method() == "POST" {
                    "<CompleteMultipartUploadResult><ETag>\"e\"</ETag></CompleteMultipartUploadResult>"
                } else {
                    ""
                };
                let mut response =
                    Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(xml));
                response.headers_mut().insert("etag", "\"e\"");
                Ok(response)
            })
        }
    }

    fn client(pool: Option<u64>) -> Client {
        let connector = SharedHttpConnector::new(Sink);
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url("https://sink.invalid")
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .force_path_style(true)
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .build();
        let builder = Client::builder()
            .s3_client(aws_sdk_s3::Client::from_conf(conf))
            .keyring(AesKeyring::new(AesWrappingKey::generate().unwrap()));
        match pool {
            Some(bytes) => builder.buffer_pool_size(bytes),
            None => builder,
        }
        .build()
        .unwrap()
    }

    /// 13 MiB in 5 MiB parts, two at once: in parallel from shared bytes, or in order from a stream.
    async fn upload(client: &Client, plain: &Bytes, parallel: bool) {
        let body = if parallel {
            ByteStream::from(plain.clone())
        } else {
            let chunks: Vec<Result<_, std::io::Error>> = plain
                .chunks(MIB)
                .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
                futures_util::stream::iter(chunks),
            )))
        };
        client
            .upload()
            .bucket("b")
            .key("k")
            .body(body)
            .part_size(5 * MIB as u64)
            .concurrency(2)
            .parallel_threshold(if parallel { 0 } else { u64::MAX })
            .send()
            .await
            .unwrap();
    }

    fn plaintext() -> Bytes {
        (0..13 * MIB)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// Every upload after the first writes its parts into buffers the client kept from the ones before, on both
    /// paths, within the budget.
    #[tokio::test]
    async fn uploads_reuse_the_clients_part_buffers() {
        let plain = plaintext();
        for parallel in [true, false] {
            let client = client(None);
            upload(&client, &plain, parallel).await;
            let kept = client.buffers().kept_bytes();
            assert!(
                kept >= 5 * MIB,
                "parallel {parallel}: kept {kept} after the first upload"
            );
            let before = client.buffers().reused();
            upload(&client, &plain, parallel).await;
            let reused = client.buffers().reused() - before;
            // Three parts; at least the two buffers of the two parts in flight at once come back.
            assert!(reused >= 2, "parallel {parallel}: {reused} reused");
            let kept = client.buffers().kept_bytes();
            assert!(
                kept as u64 <= crate::DEFAULT_BUFFER_POOL_SIZE,
                "kept {kept}"
            );
        }
    }

    #[tokio::test]
    async fn a_pool_of_zero_keeps_nothing_between_uploads() {
        let client = client(Some(0));
        let plain = plaintext();
        for parallel in [true, false] {
            upload(&client, &plain, parallel).await;
            assert_eq!(client.buffers().kept_bytes(), 0);
        }
        assert_eq!(client.buffers().reused(), 0);
    }
}
