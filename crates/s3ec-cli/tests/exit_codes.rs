//! Each class of `s3ec::Error`, produced by a real scenario against the in-memory S3 and KMS, has the typed variant
//! a program matches on and the exit code the command line gives it.

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::{
    AlgorithmSuite, Client, CommitmentPolicy, DecryptFailure, Error, ObjectError, PolicyError,
    ServiceFault, StringMap, UsageError,
};
use s3ec_cli::error::{exit, CliError};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_kms::KmsKeyring;
use s3ec_local::AesKeyring;
use s3ec_testkit::{MemKms, MemObject, MemS3, MEM_KMS_KEY_ID};

const B: &str = "bucket";

fn aes(byte: u8) -> AesKeyring {
    AesKeyring::new(AesWrappingKey::from_raw(&[byte; 32]).unwrap())
}

fn client(s3: &MemS3, keyring: impl s3ec::Keyring + 'static, policy: CommitmentPolicy) -> Client {
    let mut b = Client::builder()
        .s3_client(s3.client())
        .keyring(keyring)
        .commitment_policy(policy);
    if policy == CommitmentPolicy::ForbidEncryptAllowDecrypt {
        b = b.encryption_algorithm(AlgorithmSuite::AesGcm);
    }
    b.build().unwrap()
}

async fn put(c: &Client, key: &str, context: StringMap) {
    c.put_object()
        .bucket(B)
        .key(key)
        .encryption_context(context)
        .body(ByteStream::from_static(b"the plaintext of the object"))
        .send()
        .await
        .unwrap();
}

async fn get(c: &Client, key: &str, context: StringMap) -> Error {
    match c
        .get_object()
        .bucket(B)
        .key(key)
        .encryption_context(context)
        .send()
        .await
    {
        Ok(out) => panic!(
            "{key}: released {:?}",
            out.body.collect().await.map(|b| b.into_bytes().len())
        ),
        Err(e) => e,
    }
}

fn code(e: Error) -> i32 {
    CliError::Client(e).exit_code()
}

fn ctx(v: &str) -> StringMap {
    [("tenant".to_string(), v.to_string())].into()
}

#[tokio::test]
async fn every_error_class_has_its_variant_and_exit_code() {
    let s3 = MemS3::new();
    let kms = MemKms::new();
    let strict = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let aes_client = client(&s3, aes(1), strict);
    let kms_client = client(&s3, KmsKeyring::new(kms.clone(), MEM_KMS_KEY_ID), strict);
    put(&aes_client, "aes", StringMap::new()).await;
    put(&kms_client, "kms", ctx("a")).await;

    // Caller misuse: a required field is missing.
    let e = aes_client.get_object().key("aes").send().await.unwrap_err();
    assert!(
        matches!(e, Error::Usage(UsageError::Missing("bucket"))),
        "{e}"
    );
    assert_eq!(code(e), exit::USAGE);

    // Caller misuse: a range that does not parse.
    let e = aes_client
        .get_object()
        .bucket(B)
        .key("aes")
        .range("bytes=oops")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::Range(_))), "{e}");
    assert_eq!(code(e), exit::USAGE);

    // The caller's policy: a non-committing object under REQUIRE_ENCRYPT_REQUIRE_DECRYPT.
    let old = client(&s3, aes(1), CommitmentPolicy::ForbidEncryptAllowDecrypt);
    put(&old, "v2", StringMap::new()).await;
    let e = get(&aes_client, "v2", StringMap::new()).await;
    assert!(
        matches!(e, Error::Policy(PolicyError::CommitmentRequired { .. })),
        "{e}"
    );
    assert_eq!(code(e), exit::POLICY);

    // A hostile or corrupt object: not encrypted at all, or its metadata altered.
    s3.insert(
        B,
        "plain",
        MemObject {
            body: b"hello".to_vec().into(),
            metadata: Default::default(),
        },
    );
    let e = get(&aes_client, "plain", StringMap::new()).await;
    assert!(
        matches!(e, Error::Object(ObjectError::NotEncrypted { .. })),
        "{e}"
    );
    assert_eq!(
        e.code(),
        Some("NoSuchKey"),
        "the 404 of the instruction file"
    );
    assert_eq!(code(e), exit::NOT_ENCRYPTED);
    let mut forged = s3.object(B, "aes").unwrap();
    forged.metadata.insert("x-amz-c".into(), "999".into());
    s3.insert(B, "forged", forged);
    let e = get(&aes_client, "forged", StringMap::new()).await;
    assert!(matches!(e, Error::Object(ObjectError::Format(_))), "{e}");
    assert_eq!(code(e), exit::NOT_ENCRYPTED);

    // The caller's context does not match the stored one: refused before KMS is called.
    let before = kms.calls().decrypt;
    let e = get(&kms_client, "kms", ctx("b")).await;
    assert!(
        matches!(e, Error::Object(ObjectError::ContextMismatch)),
        "{e}"
    );
    assert_eq!(kms.calls().decrypt, before);
    assert_eq!(code(e), exit::DECRYPT);

    // Opaque crypto failures: a wrong key, an altered commitment, an altered body.
    let e = get(&client(&s3, aes(2), strict), "aes", StringMap::new()).await;
    assert!(matches!(e, Error::Decrypt(DecryptFailure::Unwrap)), "{e}");
    assert_eq!(code(e), exit::DECRYPT);
    let mut altered = s3.object(B, "aes").unwrap();
    let d = altered.metadata.get_mut("x-amz-d").unwrap();
    let flipped = if d.starts_with('A') { "B" } else { "A" };
    d.replace_range(0..1, flipped);
    s3.insert(B, "commitment", altered);
    let e = get(&aes_client, "commitment", StringMap::new()).await;
    assert!(
        matches!(e, Error::Decrypt(DecryptFailure::Commitment)),
        "{e}"
    );
    assert_eq!(code(e), exit::DECRYPT);
    let mut altered = s3.object(B, "aes").unwrap();
    let mut body = altered.body.to_vec();
    body[0] ^= 1;
    altered.body = body.into();
    s3.insert(B, "body", altered);
    let e = get(&aes_client, "body", StringMap::new()).await;
    assert!(
        matches!(e, Error::Decrypt(DecryptFailure::Authentication)),
        "{e}"
    );
    assert_eq!(code(e), exit::DECRYPT);

    // The keyring has no key for the object's wrapping algorithm.
    let e = get(&aes_client, "kms", ctx("a")).await;
    assert!(matches!(e, Error::Keyring(_)), "{e}");
    assert_eq!(code(e), exit::KEY);

    // Service errors, with S3's and KMS's codes as typed data.
    let e = get(&aes_client, "missing", StringMap::new()).await;
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!(
        (s.service(), s.code(), s.status()),
        ("S3", Some("NoSuchKey"), Some(404))
    );
    assert_eq!(code(e), exit::NOT_FOUND);
    let other_kms = MemKms::with_keys([("arn:aws:kms:other".to_string(), [7u8; 32])]);
    let stranger = client(&s3, KmsKeyring::new(other_kms, "arn:aws:kms:other"), strict);
    let e = get(&stranger, "kms", ctx("a")).await;
    let Error::Service(s) = &e else { panic!("{e}") };
    assert_eq!(s.service(), "KMS");
    assert_eq!(s.fault(), ServiceFault::Refused);
    assert_eq!(e.code(), Some("IncorrectKeyException"));
    assert_eq!(code(e), exit::DECRYPT);
    s3.push_response(s3ec_testkit::MemResponse::s3_error(
        400,
        "InvalidArgument",
        "not retried",
    ));
    let e = get(&aes_client, "aes", StringMap::new()).await;
    assert_eq!(e.code(), Some("InvalidArgument"), "{e}");
    assert_eq!(code(e), exit::FAILURE);
}
