//! The test doubles themselves: round trips through `s3ec::Client`, S3's range answers, KMS's refusals,
//! scripted and hooked responses.

use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_kms::KmsClient;
use s3ec_testkit::{CountingKeyring, MemKms, MemResponse, MemS3, StringMap, MEM_KMS_KEY_ID};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn aes() -> s3ec_local::AesKeyring {
    s3ec_local::AesKeyring::new(AesWrappingKey::from_raw(&[9u8; 32]).unwrap())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

async fn read(out: s3ec::aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[test]
fn aes_round_trip_through_mem_s3_stores_ciphertext_and_envelope() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let keyring = CountingKeyring::new(aes());
        let probe = keyring.clone();
        let client = s3ec::Client::builder()
            .s3_client(s3.client())
            .keyring(keyring)
            .build()
            .unwrap();
        let plain = data(1000);
        client
            .put_object()
            .bucket("b")
            .key("k")
            .body(ByteStream::from(plain.clone()))
            .send()
            .await
            .unwrap();
        let stored = s3.object("b", "k").unwrap();
        assert_eq!(stored.body.len(), plain.len() + 16, "ciphertext plus tag");
        assert_ne!(&stored.body[..plain.len()], &plain[..]);
        assert_eq!(
            stored.metadata.get("x-amz-c").map(String::as_str),
            Some("115")
        );
        assert!(stored.metadata.contains_key("x-amz-3"));
        let out = client
            .get_object()
            .bucket("b")
            .key("k")
            .send()
            .await
            .unwrap();
        assert_eq!(read(out).await, plain);
        assert_eq!((probe.encrypt_calls(), probe.decrypt_calls()), (1, 1));
        let methods: Vec<String> = s3.requests().iter().map(|r| r.method.clone()).collect();
        assert_eq!(methods, ["PUT", "GET"]);
    });
}

#[test]
fn instruction_file_round_trip_and_delete() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let client = s3ec::Client::builder()
            .s3_client(s3.client())
            .keyring(aes())
            .enable_instruction_file_put(true)
            .build()
            .unwrap();
        client
            .put_object()
            .bucket("b")
            .key("dir/k 1")
            .body(ByteStream::from(data(17)))
            .send()
            .await
            .unwrap();
        let instr = s3
            .object("b", "dir/k 1.instruction")
            .expect("instruction file");
        let json: serde_json::Value = serde_json::from_slice(&instr.body).unwrap();
        assert!(json.get("x-amz-3").is_some());
        let out = client
            .get_object()
            .bucket("b")
            .key("dir/k 1")
            .send()
            .await
            .unwrap();
        assert_eq!(read(out).await, data(17));
        client
            .delete_object()
            .bucket("b")
            .key("dir/k 1")
            .send()
            .await
            .unwrap();
        assert!(s3.keys().is_empty(), "object and instruction file deleted");
    });
}

#[test]
fn kms_keyring_over_mem_kms_round_trips_and_binds_the_context() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let kms = MemKms::new();
        let client = s3ec::Client::builder()
            .s3_client(s3.client())
            .keyring(s3ec_kms::KmsKeyring::new(kms.clone(), MEM_KMS_KEY_ID))
            .build()
            .unwrap();
        let ctx: StringMap = [("tenant".to_string(), "a".to_string())].into();
        client
            .put_object()
            .bucket("b")
            .key("k")
            .encryption_context(ctx.clone())
            .body(ByteStream::from(data(64)))
            .send()
            .await
            .unwrap();
        assert_eq!(kms.calls().generate_data_key, 1);
        let out = client
            .get_object()
            .bucket("b")
            .key("k")
            .encryption_context(ctx.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(read(out).await, data(64));
        assert_eq!(kms.calls().decrypt, 1);

        // The stored context is what KMS checks: change it in the metadata and KMS refuses.
        let mut stored = s3.object("b", "k").unwrap();
        let mat = stored.metadata.get_mut("x-amz-t").expect("V3 context key");
        *mat = mat.replace("\"a\"", "\"b\"");
        s3.insert("b", "k", stored);
        let forged: StringMap = [("tenant".to_string(), "b".to_string())].into();
        let err = client
            .get_object()
            .bucket("b")
            .key("k")
            .encryption_context(forged)
            .send()
            .await;
        assert!(err.is_err(), "a changed context must not decrypt");
        assert_eq!(kms.calls().decrypt, 2, "refused by KMS, not before");
    });
}

#[test]
fn mem_kms_refuses_wrong_key_context_and_blob() {
    rt().block_on(async {
        let kms = MemKms::with_keys([("k1".to_string(), [1u8; 32]), ("k2".to_string(), [2u8; 32])]);
        let ctx: StringMap = [("a".to_string(), "b".to_string())].into();
        let key = kms.generate_data_key("k1", &ctx).await.unwrap();
        let back = kms
            .decrypt(Some("k1"), &key.ciphertext_blob, &ctx)
            .await
            .unwrap();
        assert_eq!(back.expose_secret(), key.plaintext.expose_secret());
        assert!(kms
            .decrypt(Some("k2"), &key.ciphertext_blob, &ctx)
            .await
            .is_err());
        assert!(kms
            .decrypt(None, &key.ciphertext_blob, &StringMap::new())
            .await
            .is_err());
        let mut bad = key.ciphertext_blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(kms.decrypt(None, &bad, &ctx).await.is_err());
        assert!(kms.decrypt(None, &[], &ctx).await.is_err());
        assert!(kms.generate_data_key("nope", &ctx).await.is_err());
        let again = kms.encrypt("k2", &key.plaintext, &ctx).await.unwrap();
        let back = kms.decrypt(None, &again, &ctx).await.unwrap();
        assert_eq!(back.expose_secret(), key.plaintext.expose_secret());
        let calls = kms.calls();
        assert_eq!(
            (calls.generate_data_key, calls.encrypt, calls.decrypt),
            (2, 1, 6)
        );
    });
}

#[test]
fn ranges_are_answered_like_s3() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let raw = s3.client();
        raw.put_object()
            .bucket("b")
            .key("k")
            .metadata("color", "blue")
            .body(ByteStream::from(data(100)))
            .send()
            .await
            .unwrap();
        let out = raw
            .get_object()
            .bucket("b")
            .key("k")
            .range("bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_range(), Some("bytes 10-19/100"));
        assert_eq!(out.content_length(), Some(10));
        assert_eq!(
            out.metadata()
                .and_then(|m| m.get("color"))
                .map(String::as_str),
            Some("blue")
        );
        assert_eq!(read(out).await, data(100)[10..20]);
        let out = raw
            .get_object()
            .bucket("b")
            .key("k")
            .range("bytes=-5")
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_range(), Some("bytes 95-99/100"));
        let err = raw
            .get_object()
            .bucket("b")
            .key("k")
            .range("bytes=100-")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(416));
        assert_eq!(
            s3ec::aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
            Some("InvalidRange")
        );
        let head = raw.head_object().bucket("b").key("k").send().await.unwrap();
        assert_eq!(head.content_length(), Some(100));
        let missing = raw
            .get_object()
            .bucket("b")
            .key("nope")
            .send()
            .await
            .unwrap_err();
        assert!(missing.into_service_error().is_no_such_key());
    });
}

#[test]
fn ranged_decrypting_get_over_mem_s3() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let client = s3ec::Client::builder()
            .s3_client(s3.client())
            .keyring(aes())
            .enable_legacy_unauthenticated_modes(true)
            .build()
            .unwrap();
        let plain = data(300);
        client
            .put_object()
            .bucket("b")
            .key("k")
            .body(ByteStream::from(plain.clone()))
            .send()
            .await
            .unwrap();
        let out = client
            .get_object()
            .bucket("b")
            .key("k")
            .range("bytes=37-201")
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_range(), Some("bytes 37-201/300"));
        assert_eq!(read(out).await, plain[37..=201]);
        let sent = s3
            .requests()
            .last()
            .unwrap()
            .header("range")
            .map(String::from);
        assert!(sent.is_some(), "the client asked S3 for a range");
    });
}

#[test]
fn scripted_responses_and_hooks_override_the_store() {
    rt().block_on(async {
        let s3 = MemS3::new();
        let raw = s3.client();
        s3.push_response(
            MemResponse::new(206, &b"xyz"[..])
                .with_header("content-range", "bytes 0-2/9")
                .with_header("content-length", "3"),
        );
        let out = raw
            .get_object()
            .bucket("b")
            .key("nothing")
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_range(), Some("bytes 0-2/9"));
        assert_eq!(read(out).await, b"xyz");
        // The queue is used up: the store answers again.
        assert!(raw
            .get_object()
            .bucket("b")
            .key("nothing")
            .send()
            .await
            .is_err());

        s3.insert(
            "b",
            "k",
            s3ec_testkit::MemObject {
                body: data(50).into(),
                metadata: Default::default(),
            },
        );
        s3.set_hook(|req, mut stored| {
            if req.key == "k" {
                stored.set_header("x-amz-meta-injected", "yes");
                stored.chunk_size = Some(7);
            }
            stored
        });
        let out = raw.get_object().bucket("b").key("k").send().await.unwrap();
        assert_eq!(
            out.metadata()
                .and_then(|m| m.get("injected"))
                .map(String::as_str),
            Some("yes")
        );
        assert_eq!(read(out).await, data(50));
        s3.set_hook(|_, mut stored| {
            stored.fail_after = Some(10);
            stored
        });
        let out = raw.get_object().bucket("b").key("k").send().await.unwrap();
        assert!(
            out.body.collect().await.is_err(),
            "cut connection surfaces as an error"
        );
        s3.clear_hook();
        let out = raw.get_object().bucket("b").key("k").send().await.unwrap();
        assert_eq!(read(out).await, data(50));
    });
}
