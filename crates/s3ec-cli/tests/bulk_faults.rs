//! Throttling injected into `s3ec migrate` through the SDK's interceptor seam (issue 15): S3 answers 503
//! SlowDown to the first GET and the first write of every object. Writes are turned into a harmless HEAD before
//! they are signed, so the server never applies a throttled write, as S3 does not. The SDK's own retries are off,
//! so the engine's retries (backoff with jitter) are what carries each object to the end; afterwards every
//! object is V3 with its original plaintext: no failure, no half-written object.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::primitives::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use clap::Parser;
use common::{ruby_aes_key, Backend};
use s3ec_cli::cli::{Cli, Command};
use s3ec_cli::setup::{ClientTweak, Env};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Set in the request's config bag when the request is throttled (the request itself is gone by the time its
/// response is read).
#[derive(Debug, Clone)]
struct Throttled;

impl Storable for Throttled {
    type Storer = StoreReplace<Self>;
}

/// Throttles the first GET and the first PUT/DELETE of each URI.
#[derive(Debug, Default)]
struct Throttle {
    seen: Mutex<HashSet<(String, String)>>,
    writes: AtomicUsize,
    reads: AtomicUsize,
}

impl Intercept for Throttle {
    fn name(&self) -> &'static str {
        "Throttle"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        let method = req.method().to_string();
        if method == "HEAD" {
            return Ok(());
        }
        let path = req.uri().split('?').next().unwrap_or_default().to_string();
        if !self.seen.lock().unwrap().insert((method.clone(), path)) {
            return Ok(());
        }
        if method == "GET" {
            self.reads.fetch_add(1, Ordering::SeqCst);
        } else {
            // The throttled write never reaches the store: it goes out as a HEAD with no body.
            self.writes.fetch_add(1, Ordering::SeqCst);
            req.set_method("HEAD")?;
            *req.body_mut() = SdkBody::empty();
            for h in [
                "content-length",
                "content-md5",
                "content-encoding",
                "transfer-encoding",
                "x-amz-decoded-content-length",
                "if-match",
            ] {
                req.headers_mut().remove(h);
            }
        }
        cfg.interceptor_state().store_put(Throttled);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Throttled>().is_some() {
            let resp = ctx.response_mut();
            *resp.status_mut() = 503.try_into()?;
            resp.headers_mut().remove("content-length");
            *resp.body_mut() = SdkBody::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                 <Message>Please reduce your request rate.</Message></Error>",
            );
        }
        Ok(())
    }
}

fn throttled_migrate(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    let mut expected = HashMap::new();
    for (i, case) in [
        "v1-aes-meta-17",
        "v1-aes-instr-17",
        "v2-aes-meta-4103",
        "v2-aes-instr-4103",
        "v2-aes-meta-1",
        "v1-aes-meta-1",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("t{i}");
        expected.insert(
            name.clone(),
            b.put_vector("ruby-aws-sdk-s3-1.117.2", case, &name),
        );
    }
    let prefix = b.prefix_url();
    let args: Vec<std::ffi::OsString> = vec![
        "s3ec".into(),
        "--endpoint-url".into(),
        b.endpoint.clone().into(),
        "--aes-key".into(),
        key.clone().into(),
        "migrate".into(),
        "--concurrency".into(),
        "3".into(),
        prefix.into(),
    ];
    let cli = Cli::try_parse_from(args).unwrap();
    let Command::Migrate(migrate) = &cli.command else {
        unreachable!()
    };
    let sdk = b.sdk_config();
    let mut env = Env::from_sdk(&cli.global, sdk.clone());
    let throttle = Arc::new(Throttle::default());
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .interceptor(SharedThrottle(throttle.clone()))
        .build();
    env.s3 = aws_sdk_s3::Client::from_conf(conf);
    b.block_on(s3ec_cli::commands::migrate::run(&env, migrate))
        .unwrap_or_else(|e| panic!("migrate under throttling: {e}"));
    // The stale instruction files were deleted too (their DELETE was throttled once as well).
    for name in ["t1.instruction", "t3.instruction"] {
        assert!(b.get_raw(name).is_none(), "{name} left behind");
    }
    let (reads, writes) = (
        throttle.reads.load(Ordering::SeqCst),
        throttle.writes.load(Ordering::SeqCst),
    );
    eprintln!("{}: {reads} GETs and {writes} writes throttled", b.name);
    assert!(reads >= 6 && writes >= 6, "{reads} reads, {writes} writes");
    // Checked with an unthrottled client under the committing-only policy.
    let strict = Env::from_sdk(&cli.global, sdk)
        .client(ClientTweak::default())
        .unwrap();
    for (name, plain) in &expected {
        let got = b
            .block_on(async {
                strict
                    .get_object()
                    .bucket(&b.bucket)
                    .key(b.key(name))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .body
                    .collect()
                    .await
            })
            .unwrap();
        assert_eq!(&got.into_bytes()[..], &plain[..], "{name}");
    }
}

/// [`Throttle`] shared between the client and the test.
#[derive(Debug)]
struct SharedThrottle(Arc<Throttle>);

impl Intercept for SharedThrottle {
    fn name(&self) -> &'static str {
        "SharedThrottle"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_signing(ctx, rc, cfg)
    }
    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_deserialization(ctx, rc, cfg)
    }
}

#[test]
fn garage_throttled_migrate_retries_to_success() {
    throttled_migrate(&Backend::garage("throttled"));
}

#[test]
fn moto_throttled_migrate_retries_to_success() {
    throttled_migrate(&Backend::moto("throttled"));
}
