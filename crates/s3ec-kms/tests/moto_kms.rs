//! Live tests against moto's KMS. The endpoint comes from `S3EC_TEST_MOTO_ENDPOINT` (for example
//! `http://127.0.0.1:5000`), which `cargo xtask test` sets after starting moto. Without it these tests
//! fail: they are never silently skipped.

mod common;

use std::sync::atomic::Ordering;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use common::{ctx, CountingKms, RecordingKms};
use s3ec_crypto::{ContentDecryptor, ContentEncryptor};
use s3ec_format::{
    decode_object, encode, AlgorithmSuite, Located, Storage, StringMap, WrapAlgorithm,
};
use s3ec_kms::{AwsKms, KmsClient, KmsDiscoveryKeyring, KmsKeyring};
use s3ec_materials::{
    CommitmentPolicy, CryptoMaterialsManager, DecryptPolicy, DecryptRequest, DefaultCmm,
    EncryptRequest,
};

fn endpoint() -> String {
    std::env::var("S3EC_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "S3EC_TEST_MOTO_ENDPOINT is not set: run `cargo xtask test`, or start \
             `moto_server -H 127.0.0.1 -p 5123` and export S3EC_TEST_MOTO_ENDPOINT=http://127.0.0.1:5123"
        )
    })
}

fn sdk() -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "s3ec-tests"))
        .endpoint_url(endpoint())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

async fn new_key(client: &aws_sdk_kms::Client) -> String {
    client
        .create_key()
        .send()
        .await
        .expect("moto CreateKey")
        .key_metadata
        .expect("key metadata")
        .key_id
}

struct Object {
    metadata: s3ec_format::Metadata,
    body: Vec<u8>,
}

const PLAINTEXT: &[u8] = b"seventeen bytes!!";

async fn put(keyring: &KmsKeyring, suite: AlgorithmSuite, context: StringMap) -> Object {
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let cmm = DefaultCmm::new(keyring.clone());
    let enc = cmm
        .get_encryption_materials(&EncryptRequest::new(policy, suite, context).unwrap())
        .await
        .unwrap();
    let (mut engine, nonce) = ContentEncryptor::new(suite, enc.data_key()).unwrap();
    let mut body = PLAINTEXT.to_vec();
    engine.encrypt_in_place(&mut body).unwrap();
    body.extend_from_slice(&engine.finish().unwrap());
    let envelope = enc.to_envelope(nonce, Some(PLAINTEXT.len() as u64), Storage::ObjectMetadata);
    Object {
        metadata: encode(&envelope, Storage::ObjectMetadata)
            .unwrap()
            .object_metadata,
        body,
    }
}

/// Decodes and decrypts like a client would; returns the plaintext and how many KMS calls were made.
async fn get(
    kms: AwsKms,
    key_id: Option<&str>,
    object: &Object,
    policy: DecryptPolicy,
    caller: &StringMap,
) -> (Result<Vec<u8>, String>, usize) {
    let (counting, calls) = CountingKms::new(kms);
    let cmm = match key_id {
        Some(id) => DefaultCmm::new(KmsKeyring::new(counting, id)),
        None => DefaultCmm::new(KmsDiscoveryKeyring::new(counting)),
    };
    let result = async {
        let Located::Complete(env) =
            decode_object(&object.metadata).map_err(|e| format!("format: {e}"))?
        else {
            return Err("needs instruction file".to_string());
        };
        let req =
            DecryptRequest::new(&policy, &env, caller).map_err(|e| format!("policy: {e:?}"))?;
        let m = cmm
            .decrypt_materials(&req)
            .await
            .map_err(|e| format!("keyring: {e:?}"))?;
        let mut body = object.body.clone();
        let plain =
            ContentDecryptor::open_in_place(m.content_suite(), m.data_key(), &env.nonce, &mut body)
                .map_err(|e| format!("content: {e}"))?;
        Ok(plain.to_vec())
    }
    .await;
    (result, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn generate_encrypt_and_decrypt_with_a_context() {
    let client = sdk();
    let key = new_key(&client).await;
    let keyring = KmsKeyring::new(AwsKms::new(client.clone()), key.clone());
    let user = ctx(&[("tenant", "acme"), ("purpose", "live-test")]);
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        let object = put(&keyring, suite, user.clone()).await;
        let policy = DecryptPolicy {
            commitment: CommitmentPolicy::RequireEncryptAllowDecrypt,
            ..DecryptPolicy::default()
        };
        let (plain, calls) = get(
            AwsKms::new(client.clone()),
            Some(&key),
            &object,
            policy,
            &user,
        )
        .await;
        assert_eq!(plain.unwrap(), PLAINTEXT, "{suite:?}");
        assert_eq!(calls, 1);
        let (plain, _) = get(AwsKms::new(client.clone()), None, &object, policy, &user).await;
        assert_eq!(plain.unwrap(), PLAINTEXT, "discovery {suite:?}");
    }
    // KMS Encrypt of an existing data key, bound to a context, round trips through Decrypt.
    let kms = AwsKms::new(client);
    let data_key = s3ec_crypto::DataKey::generate().unwrap();
    let blob = kms.encrypt(&key, &data_key, &user).await.unwrap();
    assert!(kms.decrypt(Some(&key), &blob, &user).await.unwrap() == data_key);
    assert!(
        kms.decrypt(Some(&key), &blob, &StringMap::new())
            .await
            .is_err(),
        "KMS binds the context"
    );
}

#[tokio::test]
async fn rewrap_of_an_existing_key_uses_encrypt_and_round_trips() {
    let client = sdk();
    let key = new_key(&client).await;
    let (recording, ops) = RecordingKms::new(AwsKms::new(client.clone()));
    let keyring = KmsKeyring::new(recording, key.clone());
    let user = ctx(&[("tenant", "acme")]);
    let existing = s3ec_crypto::DataKey::generate().unwrap();
    let copy = s3ec_crypto::DataKey::from_slice(existing.expose_secret()).unwrap();
    let request = EncryptRequest::rewrap(
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        AlgorithmSuite::AesGcmCommitKey,
        user.clone(),
        copy,
    )
    .unwrap();
    let materials = DefaultCmm::new(keyring.clone())
        .get_encryption_materials(&request)
        .await
        .unwrap();
    assert_eq!(*ops.lock().unwrap(), ["Encrypt"]);
    assert!(materials.data_key() == &existing);
    assert_eq!(
        materials
            .context()
            .get(s3ec_kms::RESERVED_CEK_ALG_KEY)
            .map(String::as_str),
        Some("115")
    );
    // Through the format and back, as an instruction file would carry it.
    let envelope = materials.to_envelope(
        s3ec_format::ContentNonce::Committed {
            message_id: [7; 28],
            commitment: [8; 28],
        },
        None,
        Storage::ObjectMetadata,
    );
    let metadata = encode(&envelope, Storage::ObjectMetadata)
        .unwrap()
        .object_metadata;
    let Located::Complete(decoded) = decode_object(&metadata).unwrap() else {
        panic!("V3 in object metadata is complete")
    };
    let policy = DecryptPolicy::default();
    let dreq = DecryptRequest::new(&policy, &decoded, &user).unwrap();
    let unwrapped = DefaultCmm::new(keyring)
        .decrypt_materials(&dreq)
        .await
        .unwrap();
    assert!(unwrapped.data_key() == &existing);
    assert_eq!(*ops.lock().unwrap(), ["Encrypt", "Decrypt"]);
    // moto bound the context: the same blob under another context is refused by KMS itself.
    let kms = AwsKms::new(client);
    assert!(kms
        .decrypt(Some(&key), &decoded.encrypted_data_key, &user)
        .await
        .is_err());
}

#[tokio::test]
async fn wrong_context_and_wrong_key_are_refused() {
    let client = sdk();
    let key = new_key(&client).await;
    let other = new_key(&client).await;
    let keyring = KmsKeyring::new(AwsKms::new(client.clone()), key.clone());
    let user = ctx(&[("tenant", "acme")]);
    let object = put(&keyring, AlgorithmSuite::AesGcmCommitKey, user.clone()).await;
    let policy = DecryptPolicy::default();
    for wrong in [StringMap::new(), ctx(&[("tenant", "evil")])] {
        let (r, calls) = get(
            AwsKms::new(client.clone()),
            Some(&key),
            &object,
            policy,
            &wrong,
        )
        .await;
        assert!(r.unwrap_err().contains("ContextMismatch"));
        assert_eq!(calls, 0, "context checked before KMS");
    }
    let (r, calls) = get(
        AwsKms::new(client.clone()),
        Some(&other),
        &object,
        policy,
        &user,
    )
    .await;
    let err = r.unwrap_err();
    assert!(err.contains("Kms"), "{err}");
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn relabelled_and_spoofed_objects_are_refused_before_kms() {
    let client = sdk();
    let key = new_key(&client).await;
    let keyring = KmsKeyring::new(AwsKms::new(client.clone()), key.clone());
    let user = ctx(&[("tenant", "acme")]);
    let v2 = put(&keyring, AlgorithmSuite::AesGcm, user.clone()).await;
    let allow = DecryptPolicy {
        commitment: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptPolicy::default()
    };
    let legacy = DecryptPolicy::legacy(CommitmentPolicy::RequireEncryptAllowDecrypt);

    // kms+context relabelled as kms.
    let mut relabelled = Object {
        metadata: v2.metadata.clone(),
        body: v2.body.clone(),
    };
    relabelled
        .metadata
        .insert("x-amz-wrap-alg", WrapAlgorithm::Kms.as_str());
    let (r, calls) = get(
        AwsKms::new(client.clone()),
        Some(&key),
        &relabelled,
        allow,
        &user,
    )
    .await;
    assert!(r.unwrap_err().contains("LegacyWrap"));
    assert_eq!(calls, 0);
    let (r, calls) = get(
        AwsKms::new(client.clone()),
        Some(&key),
        &relabelled,
        legacy,
        &user,
    )
    .await;
    assert!(r.unwrap_err().contains("ContextOnLegacyKms"));
    assert_eq!(calls, 0);

    // GCM relabelled as CBC.
    let mut cbc = Object {
        metadata: v2.metadata.clone(),
        body: v2.body.clone(),
    };
    cbc.metadata.insert("x-amz-cek-alg", "AES/CBC/PKCS5Padding");
    cbc.metadata.remove("x-amz-tag-len");
    let iv = s3ec_crypto::DataKey::generate().unwrap();
    cbc.metadata
        .insert("x-amz-iv", base64_16(&iv.expose_secret()[..16]));
    let (r, calls) = get(AwsKms::new(client.clone()), Some(&key), &cbc, allow, &user).await;
    let err = r.unwrap_err();
    eprintln!("cbc allow: {err}");
    assert!(err.contains("LegacyContent"), "{err}");
    assert_eq!(calls, 0);
    let (r, calls) = get(AwsKms::new(client.clone()), Some(&key), &cbc, legacy, &user).await;
    let err = r.unwrap_err();
    eprintln!("cbc legacy: {err}");
    assert!(err.contains("CekAlgMismatch"), "{err}");
    assert_eq!(calls, 0);

    // V3 headers spoofed onto the V2 object: never read as a committing object under REQUIRE_DECRYPT.
    let mut spoofed = Object {
        metadata: v2.metadata.clone(),
        body: v2.body.clone(),
    };
    spoofed.metadata.insert("x-amz-c", "115");
    spoofed.metadata.insert("x-amz-w", "12");
    spoofed.metadata.insert("x-amz-d", base64_16(&[1; 28]));
    spoofed.metadata.insert("x-amz-i", base64_16(&[2; 28]));
    let (r, calls) = get(
        AwsKms::new(client.clone()),
        Some(&key),
        &spoofed,
        DecryptPolicy::default(),
        &user,
    )
    .await;
    let err = r.unwrap_err();
    eprintln!("spoofed: {err}");
    // Either the format refuses the mixture of V2 and V3 keys, or it reads a V2 object that the
    // policy then refuses: never a committing read.
    assert!(
        err.starts_with("format") || err.contains("CommitmentRequired"),
        "{err}"
    );
    assert_eq!(calls, 0);
}

fn base64_16(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn kms_calls_carry_the_user_agent_marker() {
    // A one-shot HTTP listener on loopback records the request the adapter sends.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16384];
        let n = sock.read(&mut buf).await.unwrap();
        let body = r#"{"__type":"AccessDeniedException","message":"recorded"}"#;
        let reply = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_lowercase()
    });
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "s3ec-tests"))
        .endpoint_url(format!("http://{addr}"))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    let kms = AwsKms::new(aws_sdk_kms::Client::from_conf(config));
    let result = kms.decrypt(Some("k"), b"blob", &StringMap::new()).await;
    assert!(result.is_err());
    let request = server.await.unwrap();
    let marker = format!("app/{}", s3ec_kms::USER_AGENT_APP_NAME).to_lowercase();
    assert!(request.contains(&marker), "no `{marker}` in:\n{request}");
}
