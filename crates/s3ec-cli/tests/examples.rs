//! Runs `crates/s3ec/examples/put_get.rs` against the embedded endpoint of `s3ec serve` and checks its report.

#[path = "../../s3ec/examples/put_get.rs"]
#[allow(dead_code)]
mod put_get;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use s3ec_cli::demo_server::DemoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_example_runs_against_the_embedded_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // One folder per bucket, as `s3ec serve --bucket` makes it.
    std::fs::create_dir(dir.path().join("s3ec-demo")).unwrap();
    let server = DemoServer::start_in(dir.path()).await.unwrap();
    // What the `export` lines of `s3ec serve` give the example's environment.
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
