//! `cargo xtask bench client`: the s3ec client's content pipeline, in process and against Garage.
//!
//! 1. In process (`pipeline`): puts and gets of 64 MiB through the whole `s3ec::Client` (AES keyring), with an
//!    in-memory S3 behind the SDK's HTTP seam (no sockets, no TLS). What is measured: the client's whole path
//!    from call to result (materials, envelope, encryption/decryption, the SDK's request pipeline: header
//!    signing, checksums, aws-chunked framing, response parsing). What is not: networking, and the server's own
//!    work, which `MemS3` keeps minimal (it consumes put bodies without copying them, and serves stored bodies in
//!    64 KiB chunks copied out as the client reads them, as a socket read would, their time left out), so that
//!    it does not dominate. Gets are shown into a reused buffer (`GetObject::send_into`) and into fresh memory
//!    (`send` + `collect`); plain aws-sdk-s3 through the same server is shown for scale. Each operation's round
//!    follows a round of the engine (in-place GCM over the same bytes), and its CPU time is set against that
//!    round's: the median of those per-round ratios is the figure. Reports best and median GB/s and peak RSS
//!    above the baseline.
//! 2. Against Garage (`garage`, needs the `S3EC_TEST_GARAGE_*` variables of `cargo xtask servers`): 256 MiB puts
//!    and gets through s3ec beside plain aws-sdk-s3 with the same bytes, as ratios, each pair labelled with its
//!    signing/checksum mode and its read style; and the peak RSS of a 1 GiB spooled get. Each comparison runs
//!    `--rounds` interleaved pairs (plain then s3ec, then s3ec then plain, ...) and reports the median of the
//!    per-pair ratios, and the client's own CPU time, which a busy server does not blur. Every put sends a new
//!    body: Garage stores content-addressed blocks and skips writing those it holds. It also keeps overwritten
//!    blocks for about ten minutes, so a run with `--rounds N` holds about N x 1.5 GiB of its disk for a while.
//!
//! Figures are only meaningful on a quiet machine; the load average is printed with them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

const MIB: usize = 1024 * 1024;
/// Part size of the pipeline's multipart uploads.
const UPLOAD_PART: usize = 8 * MIB;

pub fn run(args: &[String]) -> Result<()> {
    let rounds: usize = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args.get(i + 1).context("--rounds N")?.parse()?,
        None => 5,
    };
    let what = args
        .first()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .unwrap_or("all");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        if matches!(what, "all" | "pipeline") {
            let profile = args
                .iter()
                .position(|a| a == "--profile")
                .and_then(|i| args.get(i + 1))
                .map(String::as_str);
            pipeline(rounds, profile).await?;
        }
        if matches!(what, "all" | "garage") {
            // `--only put-same,get-spooled,rss,...` (see COMPARISONS); `--puts-only` for the three puts.
            let only = if args.iter().any(|a| a == "--puts-only") {
                Some("put-default,put-same,put-streamed")
            } else {
                args.iter()
                    .position(|a| a == "--only")
                    .and_then(|i| args.get(i + 1))
                    .map(String::as_str)
            };
            garage(rounds, only).await?;
        }
        Ok(())
    })
}

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn data(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out
}

/// A stored object: body and `x-amz-meta-*` headers.
type Stored = (Bytes, Vec<(String, String)>);

/// An in-memory S3 behind the SDK's HTTP connector seam, kept cheap so that it does not dominate the figures:
/// - PUT of a key under `store/` collects the body (decoding aws-chunked), stores it with its `x-amz-meta-*`
///   headers; any other PUT only consumes the body frame by frame and checks its length against Content-Length
///   (what a server must at least do; it neither copies nor checksums the bytes);
/// - GET serves a stored body as a socket delivers it ([`SocketBody`]).
#[derive(Debug, Default, Clone)]
struct MemS3 {
    objects: Arc<Mutex<HashMap<String, Stored>>>,
}

/// How many bytes [`SocketBody`] hands over at a time: a socket read's worth.
const SOCKET_READ: usize = 64 * 1024;

/// Nanoseconds spent producing [`SocketBody`] chunks, the network's work: [`Timer`] leaves them out.
static NETWORK_NS: AtomicU64 = AtomicU64::new(0);

/// A stored body as a socket delivers it to the HTTP stack: [`SOCKET_READ`]-byte chunks, each copied out of
/// the stored bytes into new memory when the client asks for it, so that it is in the reader's cache as a
/// socket read leaves it. Serving the stored buffer itself instead made every get read 64 MiB that no
/// operation had touched for a while, a placement no network read has; the copy stands for the kernel's copy
/// out of its socket buffers. It runs on the reading thread, between the client's own steps, and its time
/// goes to [`NETWORK_NS`].
struct SocketBody {
    stored: Bytes,
    at: usize,
}

impl http_body::Body for SocketBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let at = self.at;
        if at == self.stored.len() {
            return std::task::Poll::Ready(None);
        }
        let start = Instant::now();
        let end = self.stored.len().min(at + SOCKET_READ);
        let chunk = Bytes::copy_from_slice(&self.stored[at..end]);
        self.at = end;
        NETWORK_NS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.stored.len() - self.at) as u64)
    }
}

/// Decodes an `aws-chunked` body (`<hex size>[;chunk-signature=..]\r\n<data>\r\n ... 0\r\n<trailers>\r\n\r\n`).
fn decode_aws_chunked(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let head = std::str::from_utf8(&raw[..eol]).ok()?;
        let size = usize::from_str_radix(head.split(';').next()?, 16).ok()?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

impl HttpConnector for MemS3 {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let store = self.objects.clone();
        HttpConnectorFuture::new(async move {
            let path = request
                .uri()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            let method = request.method().to_string();
            let header = |name: &str| request.headers().get(name).map(str::to_string);
            let chunked = header("content-encoding").is_some_and(|v| v.contains("aws-chunked"));
            let declared: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
            let meta: Vec<(String, String)> = request
                .headers()
                .iter()
                .filter(|(k, _)| k.starts_with("x-amz-meta-"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut body = request.take_body();
            let ok = |status: u16| {
                Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
            };
            let mut response = match method.as_str() {
                "PUT" if path.contains("/store/") => {
                    let bytes = body
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let bytes = if chunked {
                        Bytes::from(
                            decode_aws_chunked(&bytes).expect("well-formed aws-chunked body"),
                        )
                    } else {
                        bytes
                    };
                    store.lock().unwrap().insert(path, (bytes, meta));
                    let mut r = ok(200);
                    r.headers_mut().insert("etag", "\"bench\"");
                    r
                }
                // Multipart: create and complete answer at once (the parts are PUTs, consumed below; nothing is
                // joined, so no copy of the object is counted).
                "POST" => {
                    while let Some(frame) = body.frame().await {
                        frame.expect("body frame");
                    }
                    let create = request.uri().contains("?uploads");
                    let xml = if create {
                        "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>u</Key>\
                         <UploadId>bench</UploadId></InitiateMultipartUploadResult>"
                    } else {
                        "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>u</Key>\
                         <ETag>\"bench\"</ETag></CompleteMultipartUploadResult>"
                    };
                    Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(xml))
                }
                "PUT" => {
                    let mut n = 0usize;
                    while let Some(frame) = body.frame().await {
                        if let Ok(data) = frame.expect("body frame").into_data() {
                            n += data.len();
                        }
                    }
                    let mut r = ok(if Some(n) == declared { 200 } else { 400 });
                    r.headers_mut().insert("etag", "\"bench\"");
                    r
                }
                _ => match store.lock().unwrap().get(&path).cloned() {
                    Some((bytes, meta)) => {
                        let len = bytes.len();
                        let body = SdkBody::from_body_1_x(SocketBody {
                            stored: bytes,
                            at: 0,
                        });
                        let mut r = Response::new(StatusCode::try_from(200).unwrap(), body);
                        for (k, v) in meta {
                            r.headers_mut().insert(k, v);
                        }
                        r.headers_mut().insert("content-length", len.to_string());
                        r
                    }
                    None => ok(404),
                },
            };
            response.headers_mut().insert("x-amz-request-id", "bench");
            Ok(response)
        })
    }
}

/// CPU time of the whole process so far (every thread), in nanoseconds, from the process CPU-time clock: on a
/// loaded machine it is a steadier figure than wall-clock time (one operation runs at a time here). (The
/// per-thread `schedstat` counters are only brought up to date at scheduler ticks, too coarse for 15 ms.)
fn cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Wall-clock and CPU time of one operation.
struct Timer {
    wall: Instant,
    cpu: u64,
    network: u64,
}

impl Timer {
    fn start() -> Self {
        Timer {
            wall: Instant::now(),
            cpu: cpu_ns(),
            network: NETWORK_NS.load(Ordering::Relaxed),
        }
    }

    /// Wall and CPU time since the start, less the network's ([`SocketBody`]).
    fn elapsed(&self) -> (Duration, Duration) {
        let network = NETWORK_NS.load(Ordering::Relaxed) - self.network;
        let wall = self.wall.elapsed().as_nanos() as u64;
        let cpu = cpu_ns().saturating_sub(self.cpu);
        (
            Duration::from_nanos(wall.saturating_sub(network)),
            Duration::from_nanos(cpu.saturating_sub(network)),
        )
    }

    fn stop(self, wall: &mut Vec<Duration>, cpu: &mut Vec<Duration>) {
        let (w, c) = self.elapsed();
        wall.push(w);
        cpu.push(c);
    }
}

/// Best and median of a set of timings.
fn best_median(mut t: Vec<Duration>) -> (Duration, Duration) {
    t.sort();
    (t[0], t[t.len() / 2])
}

fn figure(size: usize, t: &(Vec<Duration>, Vec<Duration>)) -> String {
    let (best, median) = best_median(t.0.clone());
    let (cbest, cmedian) = best_median(t.1.clone());
    format!(
        "wall best {:.2} GB/s ({:.1} ms), median {:.2} GB/s; CPU time best {:.2} GB/s, median {:.2} GB/s",
        gbps(size, best),
        best.as_secs_f64() * 1e3,
        gbps(size, median),
        gbps(size, cbest),
        gbps(size, cmedian)
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn keyring() -> Result<s3ec_local::AesKeyring> {
    Ok(s3ec_local::AesKeyring::new(
        s3ec_crypto::wrap::AesWrappingKey::from_raw(&[7u8; 32])?,
    ))
}

/// The engine the pipeline is held against: s3ec-crypto's streaming GCM (suite 0x0073, as the client uses) over
/// the same bytes, in place in 1 MiB chunks, as `cargo xtask bench crypto` measures it. One round is an
/// encryption and a decryption that checks the tag, each timed (wall and CPU) and each on a buffer that nothing
/// has touched since the round before, as the pipeline's operation between two rounds finds its own buffers:
/// the engine holds the plaintext and its ciphertext, encrypts the one and decrypts the other in place, and
/// then they trade names. (With one buffer, the decryption ran over bytes its encryption had just left in
/// cache, which flattered it by a quarter against gets on this host.) Beside them ([`Engine::out_of_place`]),
/// the same cipher with the pipeline's own memory traffic.
struct Engine {
    key: s3ec_crypto::DataKey,
    nonce: s3ec_format::ContentNonce,
    /// The plaintext.
    plain: Vec<u8>,
    /// Its ciphertext, and the tag.
    sealed: Vec<u8>,
    tag: [u8; 16],
    seal: (Vec<Duration>, Vec<Duration>),
    open: (Vec<Duration>, Vec<Duration>),
    seal_framed: (Vec<Duration>, Vec<Duration>),
    open_onto: (Vec<Duration>, Vec<Duration>),
    open_fresh: (Vec<Duration>, Vec<Duration>),
}

impl Engine {
    fn new(plain: &[u8]) -> Result<Self> {
        let key = s3ec_crypto::DataKey::generate()?;
        let message_id = [0x3Cu8; 28];
        let nonce = s3ec_format::ContentNonce::Committed {
            message_id,
            commitment: s3ec_crypto::commitment::derive_commitment(&key, &message_id)?,
        };
        let suite = s3ec_format::AlgorithmSuite::AesGcmCommitKey;
        let mut sealed = plain.to_vec();
        let mut enc = s3ec_crypto::testing::encryptor_with_nonce(suite, &key, &nonce)?;
        enc.encrypt_in_place(&mut sealed)?;
        let tag = enc.finish()?;
        Ok(Self {
            key,
            nonce,
            plain: plain.to_vec(),
            sealed,
            tag,
            seal: (Vec::new(), Vec::new()),
            open: (Vec::new(), Vec::new()),
            seal_framed: (Vec::new(), Vec::new()),
            open_onto: (Vec::new(), Vec::new()),
            open_fresh: (Vec::new(), Vec::new()),
        })
    }

    /// How many rounds have run: where the next one's timings will be.
    fn rounds(&self) -> usize {
        self.seal.1.len()
    }

    fn round(&mut self) -> Result<()> {
        let suite = s3ec_format::AlgorithmSuite::AesGcmCommitKey;
        let t = Timer::start();
        let mut enc = s3ec_crypto::testing::encryptor_with_nonce(suite, &self.key, &self.nonce)?;
        for c in self.plain.chunks_mut(MIB) {
            enc.encrypt_in_place(c)?;
        }
        let tag = enc.finish()?;
        t.stop(&mut self.seal.0, &mut self.seal.1);
        let t = Timer::start();
        let mut dec = s3ec_crypto::ContentDecryptor::new(suite, &self.key, &self.nonce)?;
        for c in self.sealed.chunks_mut(MIB) {
            dec.decrypt_in_place_unverified(c)?;
        }
        dec.finish(&self.tag)?;
        t.stop(&mut self.open.0, &mut self.open.1);
        std::mem::swap(&mut self.plain, &mut self.sealed);
        self.tag = tag;
        Ok(())
    }

    /// `rounds` of the cipher with the pipeline's memory traffic: encryption out of place into one recycled
    /// 256 KiB frame (as a put does), decryption onto a second, reused buffer (as a get into a `Vec` does):
    /// what the pipeline would cost with no overhead of its own. Run after the pipeline's rounds, so that
    /// the second object-sized buffer weighs on neither their caches nor their peak RSS, each in a loop of its
    /// own: its buffers sit where its last round left them, not where an engine round pushed them, so these
    /// lines show the traffic's cost, and the paired ratios of [`against`] the pipeline's.
    fn out_of_place(&mut self, rounds: usize) -> Result<()> {
        let suite = s3ec_format::AlgorithmSuite::AesGcmCommitKey;
        let mut frame = vec![0u8; 256 * 1024];
        let mut out = vec![0u8; self.plain.len()];
        for _ in 0..rounds {
            let t = Timer::start();
            let mut enc =
                s3ec_crypto::testing::encryptor_with_nonce(suite, &self.key, &self.nonce)?;
            for c in self.plain.chunks(frame.len()) {
                enc.encrypt_to(c, &mut frame[..c.len()])?;
            }
            std::hint::black_box(enc.finish()?);
            t.stop(&mut self.seal_framed.0, &mut self.seal_framed.1);
        }
        for _ in 0..rounds {
            let t = Timer::start();
            let mut dec = s3ec_crypto::ContentDecryptor::new(suite, &self.key, &self.nonce)?;
            out.clear();
            for c in self.sealed.chunks(frame.len()) {
                dec.decrypt_unverified_append(c, &mut out)?;
            }
            dec.finish(&self.tag)?;
            t.stop(&mut self.open_onto.0, &mut self.open_onto.1);
        }
        // Into fresh memory, as a get that returns a new buffer must: an anonymous mapping advised into huge
        // pages (what s3ec's in-memory gets use), whose first touch costs the kernel's zeroing of each page.
        for _ in 0..rounds {
            let t = Timer::start();
            let mut map = memmap2::MmapMut::map_anon(self.sealed.len())?;
            let _ = map.advise(memmap2::Advice::HugePage);
            let mut dec = s3ec_crypto::ContentDecryptor::new(suite, &self.key, &self.nonce)?;
            for (c, o) in self
                .sealed
                .chunks(frame.len())
                .zip(map.chunks_mut(frame.len()))
            {
                dec.decrypt_unverified_to(c, o)?;
            }
            dec.finish(&self.tag)?;
            drop(std::hint::black_box(map));
            t.stop(&mut self.open_fresh.0, &mut self.open_fresh.1);
        }
        Ok(())
    }
}

/// `figure` and its ratio to the engine, by CPU time (the figure the loaded machine blurs least), round by
/// round: `engine[i]` is the engine round run just before round `i` of `t`. The median of those ratios is the
/// figure; pairing lets a drift in the machine's speed fall on both sides, where a best of one operation's
/// rounds against a best over every engine round (five times as many) would favour the engine.
fn against(size: usize, t: &(Vec<Duration>, Vec<Duration>), engine: &[Duration]) -> String {
    let mut ratios: Vec<f64> =
        t.1.iter()
            .zip(engine)
            .map(|(op, e)| e.as_secs_f64() / op.as_secs_f64())
            .collect();
    ratios.sort_by(f64::total_cmp);
    format!(
        "{}\n       vs the engine round just before each, CPU time: median {:.2}x (rounds {:.2}-{:.2}x)",
        figure(size, t),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

/// CPU-time ratio of `engine` to `t` (best and median).
fn ratio(t: &(Vec<Duration>, Vec<Duration>), engine: &(Vec<Duration>, Vec<Duration>)) -> String {
    let (cbest, cmedian) = best_median(t.1.clone());
    let (ebest, emedian) = best_median(engine.1.clone());
    format!(
        "best {:.2}x, median {:.2}x",
        ebest.as_secs_f64() / cbest.as_secs_f64(),
        emedian.as_secs_f64() / cmedian.as_secs_f64()
    )
}

/// A client over the same S3 as `client` whose 32 MiB buffer makes the 64 MiB gets spool.
fn spooling_client(client: &s3ec::Client) -> Result<s3ec::Client> {
    Ok(s3ec::Client::builder()
        .s3_client(client.inner().clone())
        .keyring(keyring()?)
        .buffer_size(32 * MIB as u64)
        .build()?)
}

/// `profile`: `Some("put")`, `Some("get")`, `Some("get-fresh")` or `Some("spooled")` (and a few more, below)
/// runs only that loop, untimed, for `perf record`.
async fn pipeline(rounds: usize, profile: Option<&str>) -> Result<()> {
    let mem = MemS3::default();
    let connector = SharedHttpConnector::new(mem.clone());
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("https://mem.invalid")
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .force_path_style(true)
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .build();
    let client = s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(conf))
        .keyring(keyring()?)
        .buffer_size(65 * MIB as u64)
        .build()?;
    let size = 64 * MIB;
    let plain = Bytes::from(data(size));
    println!(
        "s3ec client pipeline, in process (AES keyring, suite 0x0073, {} MiB, {rounds} rounds; load average {})",
        size / MIB,
        load_average()
    );
    println!("  measured: everything from the call to its result: data key and envelope, encryption or decryption,");
    println!("  the SDK's request pipeline (SigV4 of the headers, checksums, aws-chunked framing, response parsing);");
    println!("  not measured: sockets, TLS, a server's own work (see MemS3: it consumes put bodies, and serves stored");
    println!(
        "  bodies in {} KiB chunks copied out as the client reads them, as a socket read would; the copies are not counted).",
        SOCKET_READ / 1024
    );
    // Seed the object the gets read (and check the put path end to end once).
    client
        .put_object()
        .bucket("b")
        .key("store/k")
        .body(ByteStream::from(plain.clone()))
        .send()
        .await?;
    if let Some(what) = profile {
        let mut buf = Vec::new();
        for _ in 0..rounds {
            match what {
                "put" => {
                    client
                        .put_object()
                        .bucket("b")
                        .key("k")
                        .body(ByteStream::from(plain.clone()))
                        .send()
                        .await?;
                }
                "put-unknown-length" => put_unknown_length(&client, &plain).await?,
                "upload" | "upload-owned" | "upload-one-stream" => {
                    let body = if what == "upload-owned" {
                        ByteStream::from(plain.to_vec())
                    } else {
                        ByteStream::from(plain.clone())
                    };
                    let threshold = if what == "upload-one-stream" {
                        u64::MAX
                    } else {
                        0
                    };
                    client
                        .upload()
                        .bucket("b")
                        .key("u")
                        .body(body)
                        .part_size(UPLOAD_PART as u64)
                        .concurrency(2)
                        .parallel_threshold(threshold)
                        .send()
                        .await?;
                }
                "spooled" => {
                    let out = spooling_client(&client)?
                        .get_object()
                        .bucket("b")
                        .key("store/k")
                        .send()
                        .await?;
                    drain(out.body).await?;
                }
                "get-fresh" => drop(get_fresh(&client).await?),
                _ => {
                    client
                        .get_object()
                        .bucket("b")
                        .key("store/k")
                        .send_into(&mut buf)
                        .await?;
                }
            }
        }
        return Ok(());
    }
    let mut engine = Engine::new(&plain)?;
    let base = kib("VmRSS:");
    reset_peak();
    // The same client with the SDK's optional checksum turned off on its S3 config (no CRC32, no aws-chunked
    // framing): what a user who relies on the GCM tag alone can choose.
    let no_crc = s3ec::Client::builder()
        .s3_client(aws_sdk_s3::Client::from_conf(
            client
                .inner()
                .config()
                .to_builder()
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .build(),
        ))
        .keyring(keyring()?)
        .buffer_size(65 * MIB as u64)
        .build()?;
    let puts_mark = engine.rounds();
    let mut puts = (Vec::new(), Vec::new());
    let mut puts_no_crc = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Interleaved with the pipeline's rounds, so that a drift in the machine's load falls on both.
        engine.round()?;
        for (c, times) in [(&client, &mut puts), (&no_crc, &mut puts_no_crc)] {
            let t = Timer::start();
            c.put_object()
                .bucket("b")
                .key("k")
                .body(ByteStream::from(plain.clone()))
                .send()
                .await?;
            t.stop(&mut times.0, &mut times.1);
        }
    }
    // Puts of unknown length (a stream that does not say how long it is: 1 MiB slices of the plaintext),
    // spooled in memory before the request goes.
    let puts_spooled_mark = engine.rounds();
    let mut puts_spooled = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        engine.round()?;
        let t = Timer::start();
        put_unknown_length(&client, &plain).await?;
        t.stop(&mut puts_spooled.0, &mut puts_spooled.1);
    }
    let put_peak = kib("VmHWM:");
    // Multipart uploads of the same bytes: 8 MiB parts, two at once; the parallel path (parts encrypted as
    // segments on blocking threads) and the one-stream path (parts encrypted in order on the caller's task).
    let uploads_mark = engine.rounds();
    let mut uploads = (Vec::new(), Vec::new());
    let mut uploads_one_stream = (Vec::new(), Vec::new());
    let mut uploads_no_crc = (Vec::new(), Vec::new());
    let mut uploads_owned = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        engine.round()?;
        for (c, threshold, owned, times) in [
            (&client, 0, false, &mut uploads),
            (&client, 0, true, &mut uploads_owned),
            (&client, u64::MAX, false, &mut uploads_one_stream),
            (&no_crc, 0, false, &mut uploads_no_crc),
        ] {
            // A `Vec` handed over (made before the clock starts) or the shared `Bytes` the caller keeps.
            let body = if owned {
                ByteStream::from(plain.to_vec())
            } else {
                ByteStream::from(plain.clone())
            };
            let t = Timer::start();
            c.upload()
                .bucket("b")
                .key("u")
                .body(body)
                .part_size(UPLOAD_PART as u64)
                .concurrency(2)
                .parallel_threshold(threshold)
                .send()
                .await?;
            t.stop(&mut times.0, &mut times.1);
        }
    }
    let mut reused = Vec::new();
    // The first read sizes the reused buffer.
    client
        .get_object()
        .bucket("b")
        .key("store/k")
        .send_into(&mut reused)
        .await?;
    anyhow::ensure!(reused[..] == plain[..], "round trip differs");
    let stored = kib("VmRSS:");
    reset_peak();
    let gets_into_mark = engine.rounds();
    let mut gets_into = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        engine.round()?;
        let t = Timer::start();
        let out = client
            .get_object()
            .bucket("b")
            .key("store/k")
            .send_into(&mut reused)
            .await?;
        t.stop(&mut gets_into.0, &mut gets_into.1);
        anyhow::ensure!(out.content_length == Some(size as i64) && reused.len() == size);
    }
    anyhow::ensure!(reused[..] == plain[..], "round trip differs");
    let get_into_peak = kib("VmHWM:");
    drop(reused);
    let stored_fresh = kib("VmRSS:");
    reset_peak();
    let gets_fresh_mark = engine.rounds();
    let mut gets_fresh = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        engine.round()?;
        let t = Timer::start();
        let got = get_fresh(&client).await?;
        let (wall, cpu) = t.elapsed();
        anyhow::ensure!(got == plain, "round trip differs");
        // Releasing the memory is part of its cost (the engine's fresh-memory figure counts it too).
        let t = Timer::start();
        drop(got);
        let (release_wall, release_cpu) = t.elapsed();
        gets_fresh.0.push(wall + release_wall);
        gets_fresh.1.push(cpu + release_cpu);
    }
    let get_fresh_peak = kib("VmHWM:");
    // Spooled: a buffer below the object's size, so the get goes through the temporary file.
    let spooling = spooling_client(&client)?;
    let spooled_base = kib("VmRSS:");
    reset_peak();
    let gets_spooled_mark = engine.rounds();
    let mut gets_spooled = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        engine.round()?;
        let t = Timer::start();
        let out = spooling
            .get_object()
            .bucket("b")
            .key("store/k")
            .send()
            .await?;
        let n = drain(out.body).await?;
        t.stop(&mut gets_spooled.0, &mut gets_spooled.1);
        anyhow::ensure!(n == size);
    }
    let spooled_peak = kib("VmHWM:");
    engine.out_of_place(rounds)?;
    // The same calls through plain aws-sdk-s3 and the same in-memory S3.
    let s3 = client.inner();
    s3.put_object()
        .bucket("b")
        .key("store/plain")
        .body(ByteStream::from(plain.clone()))
        .send()
        .await?;
    let (mut sdk_put, mut sdk_put_unsigned, mut sdk_get) = (
        (Vec::new(), Vec::new()),
        (Vec::new(), Vec::new()),
        (Vec::new(), Vec::new()),
    );
    for _ in 0..rounds {
        let t = Timer::start();
        s3.put_object()
            .bucket("b")
            .key("plain")
            .body(ByteStream::from(plain.clone()))
            .send()
            .await?;
        t.stop(&mut sdk_put.0, &mut sdk_put.1);
        let t = Timer::start();
        s3.put_object()
            .bucket("b")
            .key("plain")
            .body(ByteStream::from(plain.clone()))
            .customize()
            .disable_payload_signing()
            .send()
            .await?;
        t.stop(&mut sdk_put_unsigned.0, &mut sdk_put_unsigned.1);
        let t = Timer::start();
        let out = s3
            .get_object()
            .bucket("b")
            .key("store/plain")
            .send()
            .await?;
        let got = out.body.collect().await?.into_bytes();
        t.stop(&mut sdk_get.0, &mut sdk_get.1);
        anyhow::ensure!(got.len() == size);
    }
    println!(
        "  engine (s3ec-crypto streaming GCM, suite 0x0073, in place, 1 MiB chunks, on buffers untouched since the round before; {} rounds interleaved with the pipeline's):",
        engine.seal.0.len()
    );
    println!("    encrypt: {}", figure(size, &engine.seal));
    println!("    decrypt: {}", figure(size, &engine.open));
    println!(
        "    encrypt into a recycled 256 KiB frame (a put's memory traffic; after the pipeline's rounds, in a loop of its own that keeps its source in cache): {}",
        figure(size, &engine.seal_framed)
    );
    println!(
        "    decrypt onto a second, reused buffer (a get's memory traffic from a cold 64 MiB source; after the pipeline's rounds, in a loop of its own): {}",
        figure(size, &engine.open_onto)
    );
    println!(
        "    decrypt into fresh memory, huge pages, released after (a get into new memory; after the pipeline's rounds, in a loop of its own): {}",
        figure(size, &engine.open_fresh)
    );
    println!(
        "  put (default: UNSIGNED-PAYLOAD, s3ec's own aws-chunked body with a CRC32 trailer): {}",
        against(size, &puts, &engine.seal.1[puts_mark..])
    );
    println!(
        "       vs the engine into a recycled frame, CPU time: {}",
        ratio(&puts, &engine.seal_framed)
    );
    println!(
        "  put, S3 client configured request_checksum_calculation(WhenRequired) (no CRC, no framing): {}",
        against(size, &puts_no_crc, &engine.seal.1[puts_mark..])
    );
    println!(
        "       peak RSS {:.0} MiB above a baseline of {:.0} MiB (which holds the plaintext)",
        mib(put_peak.saturating_sub(base)),
        mib(base)
    );
    println!(
        "  put of unknown length (a stream without a size; spooled in memory, then sent): {}",
        against(size, &puts_spooled, &engine.seal.1[puts_spooled_mark..])
    );
    println!(
        "  upload (Client::upload, {} MiB parts, 2 at once, parallel: parts encrypted as segments on 2 cores; the bench's \
         server answers create and complete at once and consumes the parts): {}",
        UPLOAD_PART / MIB,
        against(size, &uploads, &engine.seal.1[uploads_mark..])
    );
    println!(
        "  upload, parallel, of a Vec handed over (parts encrypted where they lie, no copy): {}",
        against(size, &uploads_owned, &engine.seal.1[uploads_mark..])
    );
    println!(
        "  upload, one stream (parallel_threshold u64::MAX: parts encrypted in order on the caller's task): {}",
        against(size, &uploads_one_stream, &engine.seal.1[uploads_mark..])
    );
    println!(
        "  upload, parallel, S3 client configured request_checksum_calculation(WhenRequired) (no CRC): {}",
        against(size, &uploads_no_crc, &engine.seal.1[uploads_mark..])
    );
    println!(
        "  get into a reused buffer (GetObject::send_into, authenticated): {}",
        against(size, &gets_into, &engine.open.1[gets_into_mark..])
    );
    println!(
        "       vs the engine onto a reused buffer, CPU time: {}",
        ratio(&gets_into, &engine.open_onto)
    );
    println!(
        "       peak RSS {:.0} MiB above a baseline of {:.0} MiB (plaintext, stored ciphertext, the reused buffer)",
        mib(get_into_peak.saturating_sub(stored)),
        mib(stored)
    );
    println!(
        "  get into fresh memory (send + collect, authenticated; released after): {}",
        against(size, &gets_fresh, &engine.open.1[gets_fresh_mark..])
    );
    println!(
        "       vs the engine into fresh memory, CPU time: {}",
        ratio(&gets_fresh, &engine.open_fresh)
    );
    println!(
        "       peak RSS {:.0} MiB above a baseline of {:.0} MiB (target: object + 32 MiB = {} MiB)",
        mib(get_fresh_peak.saturating_sub(stored_fresh)),
        mib(stored_fresh),
        size / MIB + 32
    );
    println!(
        "  get spooled (buffer 32 MiB: ciphertext to a temporary file while authenticated, then released; drained): {}",
        against(size, &gets_spooled, &engine.open.1[gets_spooled_mark..])
    );
    println!(
        "       peak RSS {:.0} MiB above a baseline of {:.0} MiB (target: buffer + 32 MiB = 64 MiB)",
        mib(spooled_peak.saturating_sub(spooled_base)),
        mib(spooled_base)
    );
    println!("  plain aws-sdk-s3, same in-memory S3:");
    println!(
        "    put, default (SigV4 payload SHA-256 + CRC32 header): {}",
        figure(size, &sdk_put)
    );
    println!(
        "    put, disable_payload_signing (CRC32 header): {}",
        figure(size, &sdk_put_unsigned)
    );
    println!(
        "    get + collect (the chunks joined into one buffer): {}",
        figure(size, &sdk_get)
    );
    Ok(())
}

/// Puts `plain` as a body of unknown length.
/// The stored object, got into fresh memory (`send` + `collect`).
async fn get_fresh(client: &s3ec::Client) -> Result<Bytes> {
    let out = client
        .get_object()
        .bucket("b")
        .key("store/k")
        .send()
        .await?;
    Ok(out.body.collect().await?.into_bytes())
}

async fn put_unknown_length(client: &s3ec::Client, plain: &Bytes) -> Result<()> {
    client
        .put_object()
        .bucket("b")
        .key("k")
        .body(unknown_length(plain))
        .send()
        .await?;
    Ok(())
}

/// `plain` as a body that does not say how long it is: 1 MiB slices (no copy).
fn unknown_length(plain: &Bytes) -> ByteStream {
    let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = (0..plain.len())
        .step_by(MIB)
        .map(|i| {
            Ok(http_body::Frame::data(
                plain.slice(i..(i + MIB).min(plain.len())),
            ))
        })
        .collect();
    ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    )))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One timed operation of the Garage comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    /// aws-sdk-s3 put with its defaults: signed payload (SHA-256) and a CRC32 header.
    PlainPutDefault,
    /// aws-sdk-s3 put in s3ec's mode over plain HTTP: UNSIGNED-PAYLOAD, no checksum.
    PlainPutSame,
    /// As `PlainPutSame`, but the body is a stream of 256 KiB frames, as s3ec sends it.
    PlainPutStreamed,
    /// s3ec put of an in-memory body.
    EcPut,
    /// aws-sdk-s3 get, body collected into fresh memory.
    PlainGetCollect,
    /// s3ec in-memory authenticated get (buffer above the object size), collected.
    EcGetCollect,
    /// aws-sdk-s3 get, chunks appended to a reused Vec.
    PlainGetInto,
    /// s3ec `send_into` a reused Vec.
    EcGetInto,
    /// aws-sdk-s3 get, body drained without keeping it.
    PlainDrain,
    /// s3ec get with the default 64 MiB buffer: spooled, authenticated, then released; drained.
    EcSpooledDrain,
}

/// What the Garage comparison's operations share.
struct GarageBench {
    plain: aws_sdk_s3::Client,
    /// s3ec with a buffer above the object size (in-memory authenticated gets).
    ec: s3ec::Client,
    /// s3ec with the default buffer (spooled gets).
    ec_spooling: s3ec::Client,
    bucket: String,
    body: Bytes,
    /// Bumped for every put, to make its body new.
    version: u64,
    reused: Vec<u8>,
}

impl GarageBench {
    /// Makes every 1 MiB block of the body new. Garage stores objects as content-addressed 1 MiB blocks and
    /// skips writing a block it already holds, so putting the same plaintext again would cost the server less
    /// than putting fresh ciphertext (s3ec's is new at every put, under a new data key).
    fn freshen(&mut self) {
        self.version += 1;
        let mut body = std::mem::take(&mut self.body)
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        for block in body.chunks_mut(MIB) {
            let n = block.len().min(8);
            block[..n].copy_from_slice(&self.version.to_le_bytes()[..n]);
        }
        self.body = body.freeze();
    }

    async fn run(&mut self, op: Op) -> Result<()> {
        let size = self.body.len();
        let no_checksum = || {
            aws_sdk_s3::config::Builder::default().request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
        };
        let plain_put = self
            .plain
            .put_object()
            .bucket(&self.bucket)
            .key("bench-plain");
        let plain_get = self
            .plain
            .get_object()
            .bucket(&self.bucket)
            .key("bench-plain");
        let ec_get = |c: &s3ec::Client| c.get_object().bucket(&self.bucket).key("bench-s3ec");
        match op {
            Op::PlainPutDefault => {
                plain_put
                    .body(ByteStream::from(self.body.clone()))
                    .send()
                    .await?;
            }
            Op::PlainPutSame => {
                plain_put
                    .body(ByteStream::from(self.body.clone()))
                    .customize()
                    .disable_payload_signing()
                    .config_override(no_checksum())
                    .send()
                    .await?;
            }
            Op::PlainPutStreamed => {
                let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = (0..size)
                    .step_by(256 * 1024)
                    .map(|i| {
                        Ok(http_body::Frame::data(
                            self.body.slice(i..(i + 256 * 1024).min(size)),
                        ))
                    })
                    .collect();
                let stream = ByteStream::new(SdkBody::from_body_1_x(
                    http_body_util::StreamBody::new(futures_util::stream::iter(frames)),
                ));
                plain_put
                    .content_length(size as i64)
                    .body(stream)
                    .customize()
                    .disable_payload_signing()
                    .config_override(no_checksum())
                    .send()
                    .await?;
            }
            Op::EcPut => {
                self.ec
                    .put_object()
                    .bucket(&self.bucket)
                    .key("bench-s3ec")
                    .body(ByteStream::from(self.body.clone()))
                    .send()
                    .await?;
            }
            Op::PlainGetCollect => {
                let got = plain_get.send().await?.body.collect().await?.into_bytes();
                // The same check as s3ec's below, so that both sides pay for it.
                anyhow::ensure!(got == self.body);
            }
            Op::EcGetCollect => {
                let out = ec_get(&self.ec).send().await?;
                let got = out.body.collect().await?.into_bytes();
                anyhow::ensure!(got == self.body);
            }
            Op::PlainGetInto => {
                let mut out = plain_get.send().await?;
                self.reused.clear();
                while let Some(chunk) = out.body.try_next().await? {
                    self.reused.extend_from_slice(&chunk);
                }
                anyhow::ensure!(self.reused[..] == self.body[..]);
            }
            Op::EcGetInto => {
                ec_get(&self.ec).send_into(&mut self.reused).await?;
                anyhow::ensure!(self.reused[..] == self.body[..]);
            }
            Op::PlainDrain => {
                anyhow::ensure!(drain(plain_get.send().await?.body).await? == size);
            }
            Op::EcSpooledDrain => {
                let out = ec_get(&self.ec_spooling).send().await?;
                anyhow::ensure!(drain(out.body).await? == size);
            }
        }
        Ok(())
    }

    /// Runs `plain` and `ec` in turn, `rounds` times, alternating which goes first so that a drift in the
    /// machine's or the server's speed falls on both alike; prints the figures and the median of the per-pair
    /// ratios, and the client's own CPU time per operation (this process, every thread).
    async fn compare(&mut self, what: &str, plain: Op, ec: Op, rounds: usize) -> Result<()> {
        let (mut pw, mut pc, mut ew, mut ec_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [plain, ec]
            } else {
                [ec, plain]
            };
            for op in order {
                if matches!(
                    op,
                    Op::PlainPutDefault | Op::PlainPutSame | Op::PlainPutStreamed | Op::EcPut
                ) {
                    self.freshen();
                }
                let timer = Timer::start();
                self.run(op).await?;
                if op == plain {
                    timer.stop(&mut pw, &mut pc);
                } else {
                    timer.stop(&mut ew, &mut ec_cpu);
                }
            }
        }
        let ratios: Vec<f64> = pw
            .iter()
            .zip(&ew)
            .map(|(p, e)| e.as_secs_f64() / p.as_secs_f64())
            .collect();
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let size = self.body.len();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (pb, pm) = best_median(pw);
        let (eb, em) = best_median(ew);
        let (_, pcm) = best_median(pc);
        let (_, ecm) = best_median(ec_cpu);
        println!("  {what}:");
        println!(
            "    aws-sdk-s3 median {:.0} ms ({:.2} GB/s, best {:.0} ms); s3ec median {:.0} ms ({:.2} GB/s, best {:.0} ms)",
            ms(pm),
            gbps(size, pm),
            ms(pb),
            ms(em),
            gbps(size, em),
            ms(eb)
        );
        println!(
            "    s3ec / aws-sdk-s3, per interleaved pair: median {:.2}x (pairs: {}); client CPU per operation, median: aws-sdk-s3 {:.0} ms, s3ec {:.0} ms",
            sorted[sorted.len() / 2],
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            ms(pcm),
            ms(ecm)
        );
        Ok(())
    }
}

/// The Garage comparisons: name (for `--only`), what is compared, the plain operation and s3ec's.
const COMPARISONS: &[(&str, &str, Op, Op)] = &[
    (
        "put-default",
        "put, each side's default (aws-sdk-s3: signed payload SHA-256 + CRC32 header; s3ec: UNSIGNED-PAYLOAD, no checksum over plain HTTP)",
        Op::PlainPutDefault,
        Op::EcPut,
    ),
    (
        "put-same",
        "put, same mode both ways (UNSIGNED-PAYLOAD, no checksum)",
        Op::PlainPutSame,
        Op::EcPut,
    ),
    (
        "put-streamed",
        "put, aws-sdk-s3 sending the plaintext as a stream of 256 KiB frames (UNSIGNED-PAYLOAD, no checksum)",
        Op::PlainPutStreamed,
        Op::EcPut,
    ),
    (
        "get-fresh",
        "get into fresh memory (aws-sdk-s3 collect; s3ec in-memory authenticated get, buffer 257 MiB, + collect)",
        Op::PlainGetCollect,
        Op::EcGetCollect,
    ),
    (
        "get-into",
        "get into a reused Vec (aws-sdk-s3 chunks appended; s3ec send_into)",
        Op::PlainGetInto,
        Op::EcGetInto,
    ),
    (
        "get-spooled",
        "get, streamed (aws-sdk-s3 drained; s3ec default 64 MiB buffer: spooled to disk, authenticated, then released)",
        Op::PlainDrain,
        Op::EcSpooledDrain,
    ),
];

/// `only`: comma-separated names of [`COMPARISONS`] and `rss` (the 1 GiB spooled get); all when `None`.
async fn garage(rounds: usize, only: Option<&str>) -> Result<()> {
    let selected = |name: &str| only.is_none_or(|o| o.split(',').any(|n| n == name));
    let (Some(endpoint), Some(id), Some(secret), Some(region), Some(bucket)) = (
        env("S3EC_TEST_GARAGE_ENDPOINT"),
        env("S3EC_TEST_GARAGE_ACCESS_KEY_ID"),
        env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY"),
        env("S3EC_TEST_GARAGE_REGION"),
        env("S3EC_TEST_GARAGE_BUCKET"),
    ) else {
        println!("garage: not run (export the S3EC_TEST_GARAGE_* variables printed by `cargo xtask servers`)");
        return Ok(());
    };
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(Credentials::new(id, secret, None, None, "bench"))
        .force_path_style(true)
        .build();
    let plain = aws_sdk_s3::Client::from_conf(conf);
    let size = 256 * MIB;
    let ec = s3ec::Client::builder()
        .s3_client(plain.clone())
        .keyring(keyring()?)
        .buffer_size((size + MIB) as u64)
        .build()?;
    let ec_spooling = s3ec::Client::builder()
        .s3_client(plain.clone())
        .keyring(keyring()?)
        .build()?;
    println!(
        "loopback Garage (plain HTTP), {} MiB, {rounds} interleaved pairs each; load average {}",
        size / MIB,
        load_average()
    );
    if selected("rss") {
        // First, while the process holds nothing object-sized: the peak RSS is then the get's own.
        spooled_rss(&ec, &ec_spooling, &bucket).await?;
    }
    let mut bench = GarageBench {
        ec,
        ec_spooling,
        plain,
        bucket,
        body: Bytes::from(data(size)),
        version: 0,
        reused: Vec::new(),
    };
    let mut seeded = false;
    for &(name, what, plain_op, ec_op) in COMPARISONS {
        if !selected(name) {
            continue;
        }
        if !seeded && name.starts_with("get") {
            // Both objects hold the same body, which the gets check.
            bench.run(Op::PlainPutSame).await?;
            bench.run(Op::EcPut).await?;
            seeded = true;
        }
        bench.compare(what, plain_op, ec_op, rounds).await?;
    }
    for key in ["bench-plain", "bench-s3ec"] {
        bench
            .ec
            .delete_object()
            .bucket(&bench.bucket)
            .key(key)
            .send()
            .await?;
    }
    Ok(())
}

/// Uploads 1 GiB in parts from a generated stream, then reads it back through the spool path and prints the
/// peak RSS against the target (buffer + 32 MiB).
async fn spooled_rss(ec: &s3ec::Client, spooling: &s3ec::Client, bucket: &str) -> Result<()> {
    let gib = 1024 * MIB;
    let frames = (0..gib / MIB).map(|i| {
        let mut chunk = data(MIB);
        chunk[0] = i as u8;
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(chunk)))
    });
    let stream = ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    )));
    ec.upload()
        .bucket(bucket)
        .key("bench-1gib")
        .body(stream)
        .part_size(16 * MIB as u64)
        .concurrency(2)
        .send()
        .await?;
    reset_peak();
    let before = kib("VmRSS:");
    let t = Instant::now();
    let out = spooling
        .get_object()
        .bucket(bucket)
        .key("bench-1gib")
        .send()
        .await?;
    let n = drain(out.body).await?;
    let took = t.elapsed();
    anyhow::ensure!(n == gib);
    println!(
        "  1 GiB spooled get: {:.2} GB/s, peak RSS {:.0} MiB (target: buffer 64 MiB + 32 MiB = 96 MiB; {:.0} MiB before the get)",
        gbps(gib, took),
        mib(kib("VmHWM:")),
        mib(before)
    );
    ec.delete_object()
        .bucket(bucket)
        .key("bench-1gib")
        .send()
        .await?;
    Ok(())
}

async fn drain(mut body: ByteStream) -> Result<usize> {
    let mut n = 0;
    while let Some(chunk) = body.try_next().await? {
        n += chunk.len();
    }
    Ok(n)
}
