//! Keys from AWS Systems Manager Parameter Store (`S3EC_KEY_PARAMETER`), on moto: a `SecureString` parameter
//! holding the key drives a migrate through the function; a plain `String` parameter and a missing one are typed
//! errors that never show the value.
//!
//! Needs `S3EC_TEST_MOTO_ENDPOINT` (set by `cargo xtask test` / `cargo xtask servers`); without it the test fails.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::types::ParameterType;
use s3ec_batch::config::{FunctionConfig, KeySource};
use s3ec_batch::keys::{keyring, KeyError};
use serde_json::json;

mod moto;

use moto::{create_bucket, s3, sdk};

const AES_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn put_parameter(sdk: &aws_config::SdkConfig, name: &str, value: &str, kind: ParameterType) {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter");
}

#[tokio::test]
async fn a_secure_string_parameter_keys_a_migrate_and_plain_or_missing_ones_are_refused() {
    let sdk = sdk();
    let base = format!("/s3ec-test/{}", std::process::id());
    let secure = format!("{base}/aes");
    put_parameter(
        &sdk,
        &secure,
        &json!({"aes": AES_B64}).to_string(),
        ParameterType::SecureString,
    )
    .await;
    // A V2 object under that key.
    let s3 = s3(&sdk);
    let bucket = format!("s3ec-batch-ssm-{}", std::process::id());
    create_bucket(&s3, &bucket).await;
    let aes =
        || s3ec_local::AesKeyring::new(s3ec_local::parse_aes_key(AES_B64.as_bytes()).expect("key"));
    let client = |policy| {
        s3ec::Client::builder()
            .s3_client(s3.clone())
            .keyring(aes())
            .commitment_policy(policy)
            .build()
            .expect("client")
    };
    client(s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .put_object()
        .bucket(&bucket)
        .key("v2")
        .body(ByteStream::from_static(b"under a parameter's key"))
        .send()
        .await
        .expect("put V2");

    // The function configured by the parameter's name migrates it.
    let config = FunctionConfig::from_env(|name| match name {
        "S3EC_KEY_PARAMETER" => Some(secure.clone()),
        _ => None,
    })
    .expect("config");
    let function = s3ec_batch::Function::new(sdk.clone(), Ok(config));
    let event = serde_json::from_value(json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv",
        "job": {"id": "job", "userArguments": {"operation": "migrate"}},
        "tasks": [{"taskId": "t", "s3Bucket": bucket, "s3Key": "v2", "s3VersionId": null}]
    }))
    .expect("event");
    let answer = serde_json::to_value(function.handle(event).await.expect("answer")).unwrap();
    assert_eq!(answer["results"][0]["resultCode"], "Succeeded", "{answer}");
    let got = client(s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt)
        .get_object()
        .bucket(&bucket)
        .key("v2")
        .send()
        .await
        .expect("the migrated object reads as V3")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&got[..], b"under a parameter's key");

    // A key in a plain String parameter is refused (it is stored unencrypted), and the value is not shown.
    let plain = format!("{base}/plain");
    put_parameter(
        &sdk,
        &plain,
        &json!({"aes": AES_B64}).to_string(),
        ParameterType::String,
    )
    .await;
    let e = keyring(&KeySource::Parameter { name: plain }, &sdk)
        .await
        .err()
        .expect("a String parameter is refused");
    assert!(matches!(e, KeyError::BadSecret { .. }), "{e}");
    assert!(e.to_string().contains("SecureString"), "{e}");
    assert!(!e.to_string().contains(AES_B64), "{e}");
    // A missing parameter: not found, which no retry fixes.
    let e = keyring(
        &KeySource::Parameter {
            name: format!("{base}/missing"),
        },
        &sdk,
    )
    .await
    .err()
    .expect("a missing parameter fails");
    assert!(
        matches!(&e, KeyError::Ssm { code, .. } if code == "ParameterNotFound"),
        "{e}"
    );
    assert!(!e.is_retryable());
}
