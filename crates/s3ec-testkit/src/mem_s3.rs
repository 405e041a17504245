//! An in-memory S3 behind the SDK's HTTP connector seam, with hooks that let a test answer any request.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;

/// The prefix S3 puts before user-metadata header names.
pub const META_PREFIX: &str = "x-amz-meta-";

/// A stored object: its body and its user metadata (keys without [`META_PREFIX`], lower case, as S3 keeps them).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MemObject {
    /// The object body as stored.
    pub body: Bytes,
    /// User metadata, keys without the `x-amz-meta-` prefix.
    pub metadata: BTreeMap<String, String>,
}

impl fmt::Debug for MemObject {
    // Bodies may hold plaintext in tests; print their size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemObject")
            .field("body_len", &self.body.len())
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A request as the in-memory S3 saw it.
#[derive(Clone)]
pub struct MemRequest {
    /// HTTP method (`GET`, `PUT`, `HEAD`, `DELETE`, ...).
    pub method: String,
    /// Bucket (first path segment; the client is path-style).
    pub bucket: String,
    /// Object key, percent-decoded.
    pub key: String,
    /// The query string without `?` (`x-id=GetObject`, ...).
    pub query: String,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The request body (PUT).
    pub body: Bytes,
}

impl MemRequest {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for MemRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemRequest")
            .field("method", &self.method)
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("query", &self.query)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A response the in-memory S3 sends: any status, any headers (sent as given, even when they contradict the
/// body), any body.
#[derive(Clone, PartialEq, Eq)]
pub struct MemResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers in order; duplicates are sent as repeated headers. Pairs that are not valid HTTP are dropped.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Bytes,
    /// Deliver the body in frames of this many bytes (`None` or `Some(0)`: one frame).
    pub chunk_size: Option<usize>,
    /// End the body with a transport error after this many bytes (a connection cut mid-body).
    pub fail_after: Option<usize>,
}

impl fmt::Debug for MemResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("chunk_size", &self.chunk_size)
            .field("fail_after", &self.fail_after)
            .finish()
    }
}

impl MemResponse {
    /// A response with this status and body and no headers.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            chunk_size: None,
            fail_after: None,
        }
    }

    /// An S3 XML error document (`<Error><Code>..`) with this status.
    pub fn s3_error(status: u16, code: &str, message: &str) -> Self {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>mem</RequestId></Error>"
        );
        let len = body.len();
        Self::new(status, body)
            .with_header("content-type", "application/xml")
            .with_header("content-length", len.to_string())
    }

    /// Adds a header (kept in order; an existing one of the same name stays).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces every header called `name` (case-insensitive) with one `name: value`.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.remove_header(name);
        self.headers.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Removes every header called `name` (case-insensitive).
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A hook that sees every request and the answer the store would give, and returns the answer to send.
pub type Hook = Arc<dyn Fn(&MemRequest, MemResponse) -> MemResponse + Send + Sync>;

#[derive(Default)]
struct State {
    objects: BTreeMap<(String, String), MemObject>,
    scripted: VecDeque<MemResponse>,
    hook: Option<Hook>,
    log: Vec<MemRequest>,
    uploads: BTreeMap<String, Upload>,
    next_upload: u64,
}

/// A multipart upload in progress: where it goes, the metadata given at its creation and its parts by number.
struct Upload {
    bucket: String,
    key: String,
    metadata: BTreeMap<String, String>,
    parts: BTreeMap<u32, Bytes>,
}

/// An in-memory S3 plugged into an `aws_sdk_s3::Client` through the SDK's HTTP connector seam: no sockets.
///
/// It serves PutObject (keeping `x-amz-meta-*`), GetObject (with `Range`: 206 and `Content-Range`, or 416
/// `InvalidRange` like S3; `If-Match` against an ETag that changes with the object: 412), HeadObject,
/// DeleteObject and the multipart upload calls (create, upload part, complete, abort; no minimum part size);
/// anything else gets 501. Clones share the store.
///
/// Tests control the answers in two ways: [`MemS3::push_response`] queues scripted responses that answer the
/// next requests verbatim, and [`MemS3::set_hook`] rewrites (or replaces) the store's answer to each request.
///
/// ```
/// # async fn demo() {
/// let s3 = s3ec_testkit::MemS3::new();
/// let client = s3.client();
/// client.put_object().bucket("b").key("k").body(b"hello".to_vec().into()).send().await.unwrap();
/// let out = client.get_object().bucket("b").key("k").range("bytes=1-2").send().await.unwrap();
/// assert_eq!(out.content_range(), Some("bytes 1-2/5"));
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo());
/// ```
#[derive(Clone, Default)]
pub struct MemS3 {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for MemS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemS3")
            .field("objects", &state.objects.len())
            .field("scripted", &state.scripted.len())
            .field("hook", &state.hook.is_some())
            .finish()
    }
}

impl MemS3 {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test must not turn every later call into a poison error.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An aws-sdk-s3 client (path style, fixed credentials, no retries) whose every request this store answers.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let connector = SharedHttpConnector::new(self.clone());
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url("https://mem.invalid")
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("mem", "mem", None, None, "mem"))
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Stores an object directly (no request).
    pub fn insert(&self, bucket: &str, key: &str, object: MemObject) {
        self.lock()
            .objects
            .insert((bucket.to_string(), key.to_string()), object);
    }

    /// The stored object, if any.
    pub fn object(&self, bucket: &str, key: &str) -> Option<MemObject> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    /// Removes an object directly; returns it.
    pub fn remove(&self, bucket: &str, key: &str) -> Option<MemObject> {
        self.lock()
            .objects
            .remove(&(bucket.to_string(), key.to_string()))
    }

    /// Every stored `(bucket, key)`.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.lock().objects.keys().cloned().collect()
    }

    /// Queues a response that answers the next request verbatim (FIFO; the store is not consulted).
    pub fn push_response(&self, response: MemResponse) {
        self.lock().scripted.push_back(response);
    }

    /// Installs a hook that receives each request and the store's answer and returns what to send.
    /// Scripted responses take precedence over it.
    pub fn set_hook(
        &self,
        hook: impl Fn(&MemRequest, MemResponse) -> MemResponse + Send + Sync + 'static,
    ) {
        self.lock().hook = Some(Arc::new(hook));
    }

    /// Removes the hook.
    pub fn clear_hook(&self) {
        self.lock().hook = None;
    }

    /// Multipart uploads created and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.lock().uploads.len()
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<MemRequest> {
        self.lock().log.clone()
    }

    /// What the store answers to `request` (no scripted response, no hook): S3's behaviour.
    pub fn serve(&self, request: &MemRequest) -> MemResponse {
        let mut state = self.lock();
        serve_any(&mut state, request)
    }

    fn answer(&self, request: MemRequest) -> MemResponse {
        let mut state = self.lock();
        state.log.push(request.clone());
        if let Some(scripted) = state.scripted.pop_front() {
            return scripted;
        }
        let stored = serve_any(&mut state, &request);
        let hook = state.hook.clone();
        drop(state);
        match hook {
            Some(hook) => hook(&request, stored),
            None => stored,
        }
    }
}

fn serve_any(state: &mut State, req: &MemRequest) -> MemResponse {
    serve_multipart(state, req).unwrap_or_else(|| serve(&mut state.objects, req))
}

fn user_metadata(req: &MemRequest) -> BTreeMap<String, String> {
    req.headers
        .iter()
        .filter_map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            k.strip_prefix(META_PREFIX)
                .map(|name| (name.to_string(), v.clone()))
        })
        .collect()
}

/// The multipart calls, told apart by their query (`uploads`, `uploadId`, `partNumber`); `None` for any other.
fn serve_multipart(state: &mut State, req: &MemRequest) -> Option<MemResponse> {
    let param = |name: &str| {
        req.query.split('&').find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k == name).then(|| percent_decode(v))
        })
    };
    let no_upload =
        || MemResponse::s3_error(404, "NoSuchUpload", "The specified upload does not exist.");
    if req.method == "POST" && param("uploads").is_some() {
        state.next_upload += 1;
        let id = format!("mem-upload-{}", state.next_upload);
        state.uploads.insert(
            id.clone(),
            Upload {
                bucket: req.bucket.clone(),
                key: req.key.clone(),
                metadata: user_metadata(req),
                parts: BTreeMap::new(),
            },
        );
        let body = format!(
            "<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            req.bucket, req.key
        );
        return Some(MemResponse::new(200, body));
    }
    let id = param("uploadId")?;
    Some(match req.method.as_str() {
        "PUT" => {
            let Some(upload) = state.uploads.get_mut(&id) else {
                return Some(no_upload());
            };
            let Some(n) = param("partNumber").and_then(|n| n.parse::<u32>().ok()) else {
                return Some(MemResponse::s3_error(
                    400,
                    "InvalidArgument",
                    "bad partNumber",
                ));
            };
            upload.parts.insert(n, req.body.clone());
            MemResponse::new(200, Bytes::new()).with_header("etag", format!("\"part-{n}\""))
        }
        "POST" => {
            let Some(upload) = state.uploads.get(&id) else {
                return Some(no_upload());
            };
            // The parts named by the request body, in its order.
            let listed = String::from_utf8_lossy(&req.body);
            let mut body = Vec::new();
            for piece in listed.split("<PartNumber>").skip(1) {
                let n = piece
                    .split('<')
                    .next()
                    .and_then(|n| n.trim().parse::<u32>().ok());
                match n.and_then(|n| upload.parts.get(&n)) {
                    Some(part) => body.extend_from_slice(part),
                    None => {
                        return Some(MemResponse::s3_error(
                            400,
                            "InvalidPart",
                            "a listed part was not uploaded",
                        ))
                    }
                }
            }
            let Some(upload) = state.uploads.remove(&id) else {
                return Some(no_upload());
            };
            state.objects.insert(
                (upload.bucket.clone(), upload.key.clone()),
                MemObject {
                    body: body.into(),
                    metadata: upload.metadata,
                },
            );
            let xml = format!(
                "<CompleteMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><ETag>\"mem-mpu\"</ETag></CompleteMultipartUploadResult>",
                upload.bucket, upload.key
            );
            MemResponse::new(200, xml)
        }
        "DELETE" => match state.uploads.remove(&id) {
            Some(_) => MemResponse::new(204, Bytes::new()),
            None => no_upload(),
        },
        _ => MemResponse::s3_error(405, "MethodNotAllowed", "method not served by MemS3"),
    })
}

fn serve(objects: &mut BTreeMap<(String, String), MemObject>, req: &MemRequest) -> MemResponse {
    let id = (req.bucket.clone(), req.key.clone());
    let is_object_call = !req.key.is_empty()
        && req
            .query
            .split('&')
            .all(|p| p.is_empty() || p.starts_with("x-id=") || p.starts_with("versionId="));
    if !is_object_call {
        return MemResponse::s3_error(501, "NotImplemented", "not served by MemS3");
    }
    match req.method.as_str() {
        "PUT" => {
            let object = MemObject {
                body: req.body.clone(),
                metadata: user_metadata(req),
            };
            let etag = etag_of(&object);
            objects.insert(id, object);
            MemResponse::new(200, Bytes::new()).with_header("etag", etag)
        }
        "DELETE" => {
            objects.remove(&id);
            MemResponse::new(204, Bytes::new())
        }
        "GET" | "HEAD" => {
            let Some(object) = objects.get(&id) else {
                return if req.method == "HEAD" {
                    MemResponse::new(404, Bytes::new())
                } else {
                    MemResponse::s3_error(404, "NoSuchKey", "The specified key does not exist.")
                };
            };
            let size = object.body.len() as u64;
            let etag = etag_of(object);
            if let Some(want) = req.header("if-match") {
                if want != "*" && want.split(',').all(|t| t.trim() != etag) {
                    return MemResponse::s3_error(
                        412,
                        "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                    );
                }
            }
            let mut response = match req.header("range").map(|r| resolve_range(r, size)) {
                Some(RangeAnswer::Unsatisfiable) => {
                    return MemResponse::s3_error(
                        416,
                        "InvalidRange",
                        "The requested range is not satisfiable",
                    )
                    .with_header("content-range", format!("bytes */{size}"));
                }
                Some(RangeAnswer::Partial(first, last)) => {
                    MemResponse::new(206, object.body.slice(first as usize..=last as usize))
                        .with_header("content-range", format!("bytes {first}-{last}/{size}"))
                }
                Some(RangeAnswer::Ignore) | None => MemResponse::new(200, object.body.clone()),
            };
            let len = response.body.len();
            response = response
                .with_header("content-length", len.to_string())
                .with_header("etag", etag)
                .with_header("accept-ranges", "bytes");
            for (k, v) in &object.metadata {
                response
                    .headers
                    .push((format!("{META_PREFIX}{k}"), v.clone()));
            }
            if req.method == "HEAD" {
                response.body = Bytes::new();
            }
            response
        }
        _ => MemResponse::s3_error(405, "MethodNotAllowed", "method not served by MemS3"),
    }
}

/// A quoted ETag that changes with the object's body and metadata (FNV-1a, not MD5: tests need only that
/// a replaced object gets another one).
fn etag_of(object: &MemObject) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&object.body);
    for (k, v) in &object.metadata {
        eat(k.as_bytes());
        eat(&[0]);
        eat(v.as_bytes());
        eat(&[0]);
    }
    format!("\"{h:016x}\"")
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    Partial(u64, u64),
    Unsatisfiable,
    /// Not a single well-formed byte range: S3 ignores the header and sends the whole object.
    Ignore,
}

/// RFC 9110 single byte range as S3 applies it; S3 answers 416 for any range over an empty object.
fn resolve_range(header: &str, size: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Ignore;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAnswer::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let Some(n) = num(b) else {
                return RangeAnswer::Ignore;
            };
            if n == 0 || size == 0 {
                return RangeAnswer::Unsatisfiable;
            }
            (size - n.min(size), size - 1)
        }
        (false, true) => {
            let Some(a) = num(a) else {
                return RangeAnswer::Ignore;
            };
            (a, u64::MAX)
        }
        (false, false) => {
            let (Some(a), Some(b)) = (num(a), num(b)) else {
                return RangeAnswer::Ignore;
            };
            if b < a {
                return RangeAnswer::Ignore;
            }
            (a, b)
        }
        (true, true) => return RangeAnswer::Ignore,
    };
    if first >= size {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial(first, last.min(size - 1))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_uri(uri: &str) -> (String, String, String) {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let path_and_query = rest.find('/').map_or("", |i| &rest[i..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    (
        percent_decode(bucket),
        percent_decode(key),
        query.to_string(),
    )
}

/// The payload and trailer lines of an `aws-chunked` body (`hex-size[;ext]\r\n data \r\n ... 0\r\n trailers
/// \r\n`), which the SDK (and s3ec's own framing) sends for PutObject with a trailing checksum. `None` unless
/// the body is exactly that: nothing may follow the empty line that ends the trailers.
fn decode_aws_chunked(body: &[u8]) -> Option<(Bytes, Vec<(String, String)>)> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            break;
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    let mut trailers = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..eol]).ok()?;
        rest = &rest[eol + 2..];
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    rest.is_empty().then(|| (out.into(), trailers))
}

/// Checks `value`, the base64 checksum `name` (of `algorithm`, S3's name) sent with a put, against `payload`:
/// `InvalidRequest` for an algorithm S3 does not know, `BadDigest` on a mismatch.
fn verify_checksum(
    name: &str,
    algorithm: &str,
    value: &str,
    payload: &[u8],
) -> Result<(), (&'static str, String)> {
    let algorithm: aws_smithy_checksums::ChecksumAlgorithm = algorithm
        .parse()
        .map_err(|_| ("InvalidRequest", format!("unknown checksum {name}")))?;
    let mut checksum = algorithm.into_impl();
    checksum.update(payload);
    let computed = checksum.header_value();
    if computed.to_str().ok() != Some(value) {
        return Err((
            "BadDigest",
            format!("{name}: sent {value}, computed {computed:?}"),
        ));
    }
    Ok(())
}

/// Checks the `x-amz-checksum-<algorithm>` headers of a put with a plain body (PutObject, UploadPart) against
/// the body, as S3 does: `BadDigest` on a mismatch. (`x-amz-checksum-type`, `-algorithm` and `-mode` name no
/// value.)
fn check_checksum_headers(
    headers: &[(String, String)],
    payload: &[u8],
) -> Result<(), (&'static str, String)> {
    for (name, value) in headers {
        let Some(algorithm) = name.strip_prefix("x-amz-checksum-") else {
            continue;
        };
        if matches!(algorithm, "type" | "algorithm" | "mode") {
            continue;
        }
        verify_checksum(name, algorithm, value, payload)?;
    }
    Ok(())
}

/// Checks an aws-chunked put as S3 does: the decoded length against `x-amz-decoded-content-length`, and each
/// `x-amz-checksum-*` trailer against the payload. `Err` with S3's error code and message.
fn check_aws_chunked(
    headers: &[(String, String)],
    payload: &[u8],
    trailers: &[(String, String)],
) -> Result<(), (&'static str, String)> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if header("x-amz-decoded-content-length") != Some(payload.len().to_string().as_str()) {
        return Err((
            "IncompleteBody",
            format!(
                "x-amz-decoded-content-length {:?}, decoded {} bytes",
                header("x-amz-decoded-content-length"),
                payload.len()
            ),
        ));
    }
    let announced = header("x-amz-trailer").map(str::to_ascii_lowercase);
    for (name, value) in trailers {
        let Some(algorithm) = name.strip_prefix("x-amz-checksum-") else {
            continue;
        };
        if announced.as_deref() != Some(name.as_str()) {
            return Err((
                "InvalidRequest",
                format!("trailer {name} was not announced"),
            ));
        }
        verify_checksum(name, algorithm, value, payload)?;
    }
    if let Some(name) = announced {
        if !trailers.iter().any(|(k, _)| *k == name) {
            return Err((
                "IncompleteBody",
                format!("announced trailer {name} missing"),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("MemS3: connection cut after {0} body bytes")]
struct Cut(usize);

fn into_http(response: MemResponse) -> Response<SdkBody> {
    let status = StatusCode::try_from(response.status)
        .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status"));
    let body = if response.chunk_size.unwrap_or(0) == 0 && response.fail_after.is_none() {
        SdkBody::from(response.body)
    } else {
        let chunk = response.chunk_size.filter(|&n| n > 0).unwrap_or(usize::MAX);
        let end = response
            .fail_after
            .unwrap_or(usize::MAX)
            .min(response.body.len());
        let mut frames: Vec<Result<http_body::Frame<Bytes>, Cut>> = Vec::new();
        let mut at = 0;
        while at < end {
            let next = at.saturating_add(chunk).min(end);
            frames.push(Ok(http_body::Frame::data(response.body.slice(at..next))));
            at = next;
        }
        if let Some(n) = response.fail_after {
            frames.push(Err(Cut(n)));
        }
        SdkBody::from_body_1_x(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    };
    let mut http = Response::new(status, body);
    for (k, v) in response.headers {
        let _ = http.headers_mut().try_append(k, v);
    }
    if http.headers().get("x-amz-request-id").is_none() {
        http.headers_mut().insert("x-amz-request-id", "mem");
    }
    http
}

impl HttpConnector for MemS3 {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move {
            let (bucket, key, query) = parse_uri(request.uri());
            let method = request.method().to_string();
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            let body = request
                .take_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let chunked = headers.iter().any(|(k, v): &(String, String)| {
                k == "content-encoding" && v.contains("aws-chunked")
            });
            let body = if chunked {
                let declared = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok());
                let decoded = decode_aws_chunked(&body).filter(|_| declared == Some(body.len()));
                let Some((payload, trailers)) = decoded else {
                    return Ok(into_http(MemResponse::s3_error(
                        400,
                        "IncompleteBody",
                        "malformed aws-chunked body, or not its Content-Length",
                    )));
                };
                if let Err((code, message)) = check_aws_chunked(&headers, &payload, &trailers) {
                    return Ok(into_http(MemResponse::s3_error(400, code, &message)));
                }
                payload
            } else {
                if method == "PUT" {
                    if let Err((code, message)) = check_checksum_headers(&headers, &body) {
                        return Ok(into_http(MemResponse::s3_error(400, code, &message)));
                    }
                }
                body
            };
            let req = MemRequest {
                method,
                bucket,
                key,
                query,
                headers,
                body,
            };
            Ok(into_http(this.answer(req)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_headers_are_checked_against_the_body() {
        let with = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
        let crc = "x-amz-checksum-crc32";
        assert_eq!(
            check_checksum_headers(&with(crc, "NhCmhg=="), b"hello"),
            Ok(())
        );
        assert_eq!(
            check_checksum_headers(&with(crc, "AAAAAA=="), b"hello").map_err(|e| e.0),
            Err("BadDigest")
        );
        assert_eq!(
            check_checksum_headers(&with("x-amz-checksum-type", "FULL_OBJECT"), b"hello"),
            Ok(())
        );
        assert_eq!(check_checksum_headers(&[], b"hello"), Ok(()));
    }

    #[test]
    fn ranges_follow_rfc9110_and_s3() {
        use RangeAnswer::*;
        assert_eq!(resolve_range("bytes=0-4", 10), Partial(0, 4));
        assert_eq!(resolve_range("bytes=8-20", 10), Partial(8, 9));
        assert_eq!(resolve_range("bytes=3-", 10), Partial(3, 9));
        assert_eq!(resolve_range("bytes=-3", 10), Partial(7, 9));
        assert_eq!(resolve_range("bytes=-30", 10), Partial(0, 9));
        assert_eq!(resolve_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(resolve_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(resolve_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(resolve_range("bytes=5-2", 10), Ignore);
        assert_eq!(resolve_range("items=0-1", 10), Ignore);
        assert_eq!(resolve_range("bytes=a-1", 10), Ignore);
    }

    #[test]
    fn aws_chunked_bodies_decode() {
        let body = b"5;chunk-signature=x\r\nhello\r\n2\r\n!!\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        let (payload, trailers) = decode_aws_chunked(body).unwrap();
        assert_eq!(&payload[..], b"hello!!");
        assert_eq!(
            trailers,
            [("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string())]
        );
        assert_eq!(decode_aws_chunked(b"5\r\nhel"), None);
        let mut trailing = body.to_vec();
        trailing.push(b'x');
        assert_eq!(decode_aws_chunked(&trailing), None, "bytes after the end");
    }

    /// S3 checks a trailer checksum against the decoded payload, and the decoded length against its header.
    #[test]
    fn aws_chunked_trailers_are_checked_against_the_payload() {
        let headers = |len: &str| {
            vec![
                ("x-amz-decoded-content-length".to_string(), len.to_string()),
                (
                    "x-amz-trailer".to_string(),
                    "x-amz-checksum-crc32".to_string(),
                ),
            ]
        };
        // CRC32("hello") = 0x3610a686.
        let good = [("x-amz-checksum-crc32".to_string(), "NhCmhg==".to_string())];
        assert_eq!(check_aws_chunked(&headers("5"), b"hello", &good), Ok(()));
        let bad = [("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string())];
        assert_eq!(
            check_aws_chunked(&headers("5"), b"hello", &bad).map_err(|e| e.0),
            Err("BadDigest")
        );
        assert_eq!(
            check_aws_chunked(&headers("6"), b"hello", &good).map_err(|e| e.0),
            Err("IncompleteBody")
        );
        assert_eq!(
            check_aws_chunked(&headers("5"), b"hello", &[]).map_err(|e| e.0),
            Err("IncompleteBody"),
            "an announced trailer must come"
        );
    }

    #[test]
    fn uris_split_into_bucket_key_query() {
        assert_eq!(
            parse_uri("https://mem.invalid/b/dir/k%20x.instruction?x-id=GetObject"),
            (
                "b".to_string(),
                "dir/k x.instruction".to_string(),
                "x-id=GetObject".to_string()
            )
        );
    }
}
