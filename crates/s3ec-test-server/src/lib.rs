//! s3ec behind AWS's cross-language S3 Encryption Client test-server protocol, so the conformance suite
//! that drives the official clients' servers (Java, Go, Python, ...) can drive s3ec too.
//!
//! The protocol is the Smithy model `test-server/model/` of `aws/amazon-s3-encryption-client-python`
//! (restJson1): `POST /client` creates an encryption client from a JSON configuration and returns its id;
//! `PUT`/`GET /object/{bucket}/{key}` put and get through it, with the encryption context in the
//! `Content-Metadata` header; `POST /object/{bucket}/{key}/reencrypt` re-wraps an instruction file. S3 and KMS
//! come from the standard AWS environment. See the README beside this crate for the capability list.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let registry = s3ec_test_server::Registry::new(s3ec_test_server::Aws::from_sdk(&sdk));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = s3ec_test_server::Server::start(listener, registry, s3ec_test_server::DEFAULT_MAX_BODY)?;
//! println!("serving on http://{}", server.addr());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod config;
pub mod errors;
mod ops;
mod server;
pub mod wire;

pub use config::Aws;
pub use ops::Registry;
pub use server::{route, Route, Server, DEFAULT_MAX_BODY};
