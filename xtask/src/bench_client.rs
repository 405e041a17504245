//! `cargo xtask bench client`: the s3ec client's content pipeline, in process and against Garage.
//!
//! 1. In process (`pipeline`): a put and a get of 64 MiB through the whole `s3ec::Client` (AES keyring), with an
//!    in-memory S3 behind the SDK's HTTP seam (no sockets). Reports GB/s and peak RSS above the baseline (the
//!    baseline already holds the input plaintext and, for the get, the stored ciphertext of the fake server).
//! 2. Against Garage (`garage`, needs the `S3EC_TEST_GARAGE_*` variables of `cargo xtask servers`): 256 MiB put and
//!    get through s3ec beside plain aws-sdk-s3 with the same bytes, and the peak RSS of a 1 GiB spooled get.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
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

const MIB: usize = 1024 * 1024;

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
            pipeline(rounds).await?;
        }
        if matches!(what, "all" | "garage") {
            garage(rounds.min(3)).await?;
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

/// An in-memory S3 behind the SDK's HTTP connector seam: PUT stores body and `x-amz-meta-*`, GET returns them.
#[derive(Debug, Default, Clone)]
struct MemS3 {
    objects: Arc<Mutex<HashMap<String, Stored>>>,
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
            let meta: Vec<(String, String)> = request
                .headers()
                .iter()
                .filter(|(k, _)| k.starts_with("x-amz-meta-"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let body = request.take_body();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let mut response = match method.as_str() {
                "PUT" => {
                    store.lock().unwrap().insert(path, (bytes, meta));
                    let mut r = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
                    r.headers_mut().insert("etag", "\"bench\"");
                    r
                }
                _ => match store.lock().unwrap().get(&path).cloned() {
                    Some((bytes, meta)) => {
                        let len = bytes.len();
                        let mut r =
                            Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(bytes));
                        for (k, v) in meta {
                            r.headers_mut().insert(k, v);
                        }
                        r.headers_mut().insert("content-length", len.to_string());
                        r
                    }
                    None => Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()),
                },
            };
            response.headers_mut().insert("x-amz-request-id", "bench");
            Ok(response)
        })
    }
}

fn keyring() -> Result<s3ec_local::AesKeyring> {
    Ok(s3ec_local::AesKeyring::new(
        s3ec_crypto::wrap::AesWrappingKey::from_raw(&[7u8; 32])?,
    ))
}

async fn pipeline(rounds: usize) -> Result<()> {
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
    println!("s3ec client pipeline, in process (AES keyring, suite 0x0073, {} MiB, {rounds} rounds, best round)", size / MIB);
    let base = kib("VmRSS:");
    reset_peak();
    let mut best_put = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        client
            .put_object()
            .bucket("b")
            .key("k")
            .body(ByteStream::from(plain.clone()))
            .send()
            .await?;
        best_put = best_put.min(t.elapsed());
    }
    let put_peak = kib("VmHWM:");
    let stored = kib("VmRSS:");
    reset_peak();
    let mut best_get = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let out = client.get_object().bucket("b").key("k").send().await?;
        let got = out.body.collect().await?.into_bytes();
        best_get = best_get.min(t.elapsed());
        anyhow::ensure!(got == plain, "round trip differs");
    }
    let get_peak = kib("VmHWM:");
    // The same calls through plain aws-sdk-s3 and the same in-memory S3: the SDK's own share (SigV4 payload
    // hash, CRC32, copies) of the figures above.
    let (mut sdk_put, mut sdk_get) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        client
            .inner()
            .put_object()
            .bucket("b")
            .key("plain")
            .body(ByteStream::from(plain.clone()))
            .send()
            .await?;
        sdk_put = sdk_put.min(t.elapsed());
        let t = Instant::now();
        let out = client
            .inner()
            .get_object()
            .bucket("b")
            .key("plain")
            .send()
            .await?;
        let got = out.body.collect().await?.into_bytes();
        sdk_get = sdk_get.min(t.elapsed());
        anyhow::ensure!(got.len() == size);
    }
    println!(
        "  put: {:.2} GB/s ({:.1} ms); peak RSS {:.0} MiB above a baseline of {:.0} MiB (which holds the plaintext)",
        gbps(size, best_put),
        best_put.as_secs_f64() * 1e3,
        mib(put_peak.saturating_sub(base)),
        mib(base)
    );
    println!(
        "  get: {:.2} GB/s ({:.1} ms); peak RSS {:.0} MiB above a baseline of {:.0} MiB (which also holds the stored ciphertext)",
        gbps(size, best_get),
        best_get.as_secs_f64() * 1e3,
        mib(get_peak.saturating_sub(stored)),
        mib(stored)
    );
    println!(
        "  plain aws-sdk-s3 through the same in-memory S3: put {:.2} GB/s, get {:.2} GB/s",
        gbps(size, sdk_put),
        gbps(size, sdk_get)
    );
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn garage(rounds: usize) -> Result<()> {
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
    let plain_s3 = aws_sdk_s3::Client::from_conf(conf);
    let client = s3ec::Client::builder()
        .s3_client(plain_s3.clone())
        .keyring(keyring()?)
        .build()?;
    let size = 256 * MIB;
    let body = Bytes::from(data(size));
    println!("loopback Garage, {} MiB, best of {rounds}", size / MIB);
    let (mut s3_put, mut s3_get, mut ec_put, mut ec_get) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        plain_s3
            .put_object()
            .bucket(&bucket)
            .key("bench-plain")
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
        s3_put = s3_put.min(t.elapsed());
        let t = Instant::now();
        client
            .put_object()
            .bucket(&bucket)
            .key("bench-s3ec")
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
        ec_put = ec_put.min(t.elapsed());
        let t = Instant::now();
        let out = plain_s3
            .get_object()
            .bucket(&bucket)
            .key("bench-plain")
            .send()
            .await?;
        let n = drain(out.body).await?;
        s3_get = s3_get.min(t.elapsed());
        anyhow::ensure!(n == size);
        let t = Instant::now();
        let out = client
            .get_object()
            .bucket(&bucket)
            .key("bench-s3ec")
            .send()
            .await?;
        let n = drain(out.body).await?;
        ec_get = ec_get.min(t.elapsed());
        anyhow::ensure!(n == size);
    }
    let line = |what: &str, plain: Duration, ec: Duration| {
        println!(
            "  {what}: aws-sdk-s3 {:.0} ms ({:.2} GB/s), s3ec {:.0} ms ({:.2} GB/s), ratio {:.2}x",
            plain.as_secs_f64() * 1e3,
            gbps(size, plain),
            ec.as_secs_f64() * 1e3,
            gbps(size, ec),
            ec.as_secs_f64() / plain.as_secs_f64()
        )
    };
    line("put", s3_put, ec_put);
    line("get (256 MiB > 64 MiB buffer: spooled)", s3_get, ec_get);
    drop(body);

    // 1 GiB spooled get: upload it in parts from a generated stream, then read it back and watch the peak RSS.
    let gib = 1024 * MIB;
    let frames = (0..gib / MIB).map(|i| {
        let mut chunk = data(MIB);
        chunk[0] = i as u8;
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(chunk)))
    });
    let stream = ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    )));
    client
        .upload()
        .bucket(&bucket)
        .key("bench-1gib")
        .body(stream)
        .part_size(16 * MIB as u64)
        .concurrency(2)
        .send()
        .await?;
    reset_peak();
    let before = kib("VmRSS:");
    let t = Instant::now();
    let out = client
        .get_object()
        .bucket(&bucket)
        .key("bench-1gib")
        .send()
        .await?;
    let n = drain(out.body).await?;
    let took = t.elapsed();
    anyhow::ensure!(n == gib);
    println!(
        "  1 GiB spooled get: {:.2} GB/s, peak RSS {:.0} MiB (buffer 64 MiB + 32 MiB = 96 MiB target; {:.0} MiB before)",
        gbps(gib, took),
        mib(kib("VmHWM:")),
        mib(before)
    );
    for key in ["bench-plain", "bench-s3ec", "bench-1gib"] {
        client
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await?;
    }
    Ok(())
}

async fn drain(mut body: ByteStream) -> Result<usize> {
    let mut n = 0;
    while let Some(chunk) = body.try_next().await? {
        n += chunk.len();
    }
    Ok(n)
}
