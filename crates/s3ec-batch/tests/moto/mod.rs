//! moto as the tests reach it: the SDK configuration and a fresh bucket.

/// The region the tests use on moto.
pub const REGION: &str = "us-west-2";

/// The SDK configuration for moto at `S3EC_TEST_MOTO_ENDPOINT` (the test fails without it).
pub fn sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("S3EC_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("S3EC_TEST_MOTO_ENDPOINT is not set: run this test through `cargo xtask test` or with `cargo xtask servers`")
    });
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .build()
}

/// A path-style S3 client.
pub fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Creates `bucket` in [`REGION`].
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
}
