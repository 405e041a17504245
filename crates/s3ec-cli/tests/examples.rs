//! Runs the examples of `crates/s3ec/examples/` against the embedded endpoint of `s3ec serve` (KMS at moto) and
//! checks their reports.

#[path = "../../s3ec/examples/put_get.rs"]
#[allow(dead_code)]
mod put_get;

#[path = "../../s3ec/examples/kms.rs"]
#[allow(dead_code)]
mod kms;

#[path = "../../s3ec/examples/rotate_key.rs"]
#[allow(dead_code)]
mod rotate_key;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use s3ec_cli::demo_server::DemoServer;

/// The embedded endpoint with the bucket `s3ec-demo`, and the SDK configuration the `export` lines of
/// `s3ec serve` give an example's environment.
async fn endpoint(dir: &std::path::Path) -> (DemoServer, aws_config::SdkConfig) {
    // One folder per bucket, as `s3ec serve --bucket` makes it.
    std::fs::create_dir(dir.join("s3ec-demo")).unwrap();
    let server = DemoServer::start_in(dir).await.unwrap();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.endpoint_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            server.access_key_id(),
            server.secret_access_key(),
            None,
            None,
            "s3ec serve",
        ))
        .load()
        .await;
    (server, sdk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_example_runs_against_the_embedded_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (server, sdk) = endpoint(dir.path()).await;
    let mut report = String::new();
    let result = put_get::run(&sdk, "s3ec-demo", &mut report).await;
    server.stop().await;
    result.unwrap_or_else(|e| panic!("{e}\nreport so far:\n{report}"));
    for line in [
        "put s3://s3ec-demo/example/hello.txt (56 bytes)\n",
        "get: Hello from s3ec: encrypted before it left this process.\n",
        "stored metadata keys: x-amz-3, x-amz-c, x-amz-d, x-amz-i, x-amz-w\n",
        "ranged get bytes=6-9: from\n",
        "upload + get of 6291456 bytes in 2 parts: identical\n",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_example_runs_against_the_embedded_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (server, sdk) = endpoint(dir.path()).await;
    let mut report = String::new();
    let result = rotate_key::run(&sdk, "s3ec-demo", &mut report).await;
    server.stop().await;
    result.unwrap_or_else(|e| panic!("{e}\nreport so far:\n{report}"));
    assert_eq!(
        report,
        "put s3://s3ec-demo/example/rotated.txt with its envelope in example/rotated.txt.instruction\n\
         re-encrypted example/rotated.txt.instruction under the new key\n\
         new key reads: kept as it is, under a new key\n\
         old key refused: true\n"
    );
}

/// A KMS client for moto (`S3EC_TEST_MOTO_ENDPOINT`, set by `cargo xtask test`) and a fresh key there.
async fn moto_kms() -> (aws_sdk_kms::Client, String) {
    let endpoint = std::env::var("S3EC_TEST_MOTO_ENDPOINT").expect(
        "S3EC_TEST_MOTO_ENDPOINT is not set: run under `cargo xtask test`, or `cargo xtask servers` and export \
         what it prints",
    );
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "examples",
        ))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let key = kms.create_key().send().await.expect("moto CreateKey");
    let id = key.key_metadata().unwrap().key_id().to_string();
    (kms, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_example_runs_against_the_embedded_endpoint_and_moto() {
    let (kms_client, key_id) = moto_kms().await;
    let dir = tempfile::tempdir().unwrap();
    let (server, sdk) = endpoint(dir.path()).await;
    let mut report = String::new();
    let result = kms::run(&sdk, kms_client, "s3ec-demo", &key_id, &mut report).await;
    server.stop().await;
    result.unwrap_or_else(|e| panic!("{e}\nreport so far:\n{report}"));
    assert_eq!(
        report,
        "put s3://s3ec-demo/example/kms.txt with context tenant=acme\n\
         get with tenant=acme: wrapped by KMS\n\
         get with tenant=globex refused: true\n"
    );
}
