//! Over HTTPS, against a real S3 store: Garage (from `cargo xtask test`) behind a TLS front made by this test,
//! its certificate generated at run time and trusted by the SDK's HTTP client.
//!
//! Over HTTPS s3ec sends its bodies without a SigV4 payload hash: `UNSIGNED-PAYLOAD` for a spooled put and
//! for every multipart part, `STREAMING-UNSIGNED-PAYLOAD-TRAILER` for a put it frames itself, each with the
//! CRC32 s3ec took while encrypting. The in-memory S3 of the other suites only shows what is sent; here a
//! server that checks signatures must accept every one of those requests, the front sees on the wire that
//! they went unsigned, and each object reads back. For a single put, Garage's own CRC32 of what it stored
//! must also equal the CRC32 of the stored ciphertext.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_types::body::SdkBody;
use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

mod common;
mod upload_paths;

use common::Server;
use upload_paths::{upload, PATHS};

const MIB: usize = 1024 * 1024;

/// A TLS front on 127.0.0.1 for a plain-HTTP S3 endpoint: it forwards bytes both ways unchanged (so SigV4
/// signatures made for its address stay valid) and keeps the request bytes it forwarded.
struct TlsFront {
    endpoint: String,
    ca_pem: String,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl TlsFront {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("the test server is plain HTTP")
            .trim_end_matches('/')
            .to_string();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let tap = sent.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, upstream, tap) = (acceptor.clone(), upstream.clone(), tap.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let server = TcpStream::connect(&upstream).await.unwrap();
                    forward(tls, server, tap).await;
                });
            }
        });
        Self {
            endpoint: format!("https://127.0.0.1:{port}"),
            ca_pem: cert.cert.pem(),
            sent,
        }
    }

    /// The request bytes forwarded since the last call, as text (bodies are ciphertext: lossy).
    fn take_sent(&self) -> String {
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        String::from_utf8_lossy(&sent).to_ascii_lowercase()
    }
}

/// Copies client to server (keeping a copy) and server to client until either side closes.
async fn forward(
    client: tokio_rustls::server::TlsStream<TcpStream>,
    server: TcpStream,
    tap: Arc<Mutex<Vec<u8>>>,
) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            tap.lock().unwrap().extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Garage, reached through a TLS front: the server (its S3 client over HTTPS) and the front.
async fn garage_over_tls() -> (Server, TlsFront) {
    let plain = common::garage().await;
    let endpoint = std::env::var("S3EC_TEST_GARAGE_ENDPOINT").unwrap();
    let front = TlsFront::start(&endpoint).await;
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(front.ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let conf = plain
        .s3
        .config()
        .to_builder()
        .endpoint_url(&front.endpoint)
        .http_client(http)
        .build();
    let server = Server {
        s3: aws_sdk_s3::Client::from_conf(conf),
        ..plain
    };
    (server, front)
}

async fn client(server: &Server, buffer: Option<u64>) -> s3ec::Client {
    let keyring = std::sync::Arc::new(s3ec_local::AesKeyring::new(
        s3ec_crypto::wrap::AesWrappingKey::from_raw(&[5u8; 32]).unwrap(),
    ));
    let opts = common::Opts {
        buffer_size: buffer,
        ..common::Opts::default()
    };
    common::client(server, keyring, opts)
}

/// How many requests the front saw with this `x-amz-content-sha256` value.
fn payloads(sent: &str, value: &str) -> usize {
    sent.matches(&format!("x-amz-content-sha256: {value}\r\n"))
        .count()
}

fn crc32(data: &[u8]) -> String {
    let mut sum = aws_smithy_checksums::ChecksumAlgorithm::Crc32.into_impl();
    sum.update(data);
    base64::engine::general_purpose::STANDARD.encode(sum.finalize())
}

/// The plaintext as a stream that does not say how long it is.
fn unknown_length(plain: &[u8]) -> ByteStream {
    let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = plain
        .chunks(100_000)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_go_unsigned_over_https_and_garage_stores_the_crc32_s3ec_sent() {
    let (server, front) = garage_over_tls().await;
    let plain = common::data(3 * MIB + 11, 7);
    // Framed by s3ec (known length), spooled in memory, spooled to a file.
    let cases: [(&str, Option<u64>, &str); 3] = [
        ("framed", None, "streaming-unsigned-payload-trailer"),
        ("spooled-memory", None, "unsigned-payload"),
        ("spooled-file", Some(MIB as u64), "unsigned-payload"),
    ];
    for (case, buffer, payload) in cases {
        let client = client(&server, buffer).await;
        let key = common::unique_key(&format!("tls/{case}"));
        let body = if case == "framed" {
            ByteStream::from(plain.clone())
        } else {
            unknown_length(&plain)
        };
        front.take_sent();
        client
            .put_object()
            .bucket(&server.bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case}: Garage refused the put over HTTPS: {e}"));
        let sent = front.take_sent();
        assert_eq!(payloads(&sent, payload), 1, "{case}: {payload} on the wire");
        let header_or_trailer = if case == "framed" {
            "x-amz-trailer: x-amz-checksum-crc32\r\n"
        } else {
            "x-amz-checksum-crc32: "
        };
        assert!(
            sent.contains(header_or_trailer),
            "{case}: the CRC32 s3ec sent"
        );
        assert_eq!(
            common::get_bytes(&client, &server, &key).await.unwrap(),
            plain,
            "{case}: read back"
        );
        let head = server
            .s3
            .head_object()
            .bucket(&server.bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let stored = common::raw(&server, &key).await;
        assert_eq!(
            head.checksum_crc32(),
            Some(crc32(&stored).as_str()),
            "{case}: Garage's CRC32 of what it stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_multipart_path_sends_unsigned_parts_over_https_that_garage_accepts() {
    let (server, front) = garage_over_tls().await;
    let client = client(&server, None).await;
    let plain = common::data(12 * MIB + 5, 11);
    for path in PATHS {
        let key = common::unique_key(&format!("tls/{path:?}"));
        front.take_sent();
        upload(&client, path, &server.bucket, &key, &plain).await;
        let sent = front.take_sent();
        let parts = sent.matches("partnumber=").count();
        assert_eq!(parts, 3, "{path:?}: three UploadPart requests");
        assert_eq!(
            payloads(&sent, "unsigned-payload"),
            3,
            "{path:?}: every part unsigned"
        );
        assert_eq!(
            sent.matches("x-amz-checksum-crc32: ").count(),
            3,
            "{path:?}: every part with its CRC32"
        );
        assert_eq!(
            common::get_bytes(&client, &server, &key).await.unwrap(),
            plain,
            "{path:?}: read back"
        );
    }
}

/// What makes the CRC32 above worth sending: Garage refuses a body that does not match the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_refuses_a_body_whose_crc32_header_does_not_match() {
    let (server, _front) = garage_over_tls().await;
    let err = server
        .s3
        .put_object()
        .bucket(&server.bucket)
        .key(common::unique_key("tls/bad-crc"))
        .checksum_crc32(crc32(b"some other body"))
        .body(ByteStream::from_static(b"the body sent"))
        .send()
        .await
        .expect_err("a mismatched CRC32 is refused");
    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err).map(str::to_string);
    assert!(
        matches!(
            code.as_deref(),
            Some("BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch")
        ),
        "{code:?}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
}
