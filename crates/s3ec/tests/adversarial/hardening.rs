//! Issue 14, items 2 to 5, against s3ec-testkit's in-memory S3: a multipart upload that fails or is aborted
//! never touches an existing object's instruction file, a lying Content-Length costs no memory or disk, and
//! side objects are read through a limit.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, RequestPayer};
use s3ec::{Client, Error};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_testkit::{MemRequest, MemResponse, MemS3};

const BUCKET: &str = "b";

fn client(s3: &MemS3, instruction_file: bool, buffer: Option<u64>) -> Client {
    let key = AesWrappingKey::from_raw(&[0x24; 32]).unwrap();
    let mut b = Client::builder()
        .s3_client(s3.client())
        .keyring(AesKeyring::new(key))
        .enable_instruction_file_put(instruction_file);
    if let Some(n) = buffer {
        b = b.buffer_size(n);
    }
    b.build().unwrap()
}

async fn put(client: &Client, key: &str, plain: &[u8]) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(plain.to_vec()))
        .send()
        .await
        .unwrap();
}

async fn get(client: &Client, key: &str) -> Result<Vec<u8>, String> {
    let out = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = out.body.collect().await.map_err(|e| e.to_string())?;
    Ok(body.into_bytes().to_vec())
}

fn is_get_of(req: &MemRequest, key: &str) -> bool {
    req.method == "GET" && req.key == key
}

/// Answers the multipart calls MemS3 does not serve (it keeps no parts: the store is left as it was).
fn answer_multipart(req: &MemRequest, stored: MemResponse) -> MemResponse {
    let xml = |body: String| {
        let len = body.len();
        MemResponse::new(200, body)
            .with_header("content-type", "application/xml")
            .with_header("content-length", len.to_string())
    };
    let q = &req.query;
    match req.method.as_str() {
        "POST" if q.contains("uploads") => xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><Bucket>{}</Bucket>\
             <Key>{}</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
            req.bucket, req.key
        )),
        "POST" if q.contains("uploadId=") => xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><Bucket>{}</Bucket>\
             <Key>{}</Key><ETag>\"done\"</ETag></CompleteMultipartUploadResult>",
            req.bucket, req.key
        )),
        "PUT" if q.contains("partNumber=") => MemResponse::new(200, bytes::Bytes::new())
            .with_header("etag", "\"part\"")
            .with_header("content-length", "0"),
        "DELETE" if q.contains("uploadId=") => MemResponse::new(204, bytes::Bytes::new()),
        _ => stored,
    }
}

fn is_multipart_call(req: &MemRequest) -> bool {
    req.query.contains("uploads") || req.query.contains("uploadId=")
}

/// Item 2: an aborted multipart upload over an object whose envelope lives in `k.instruction` leaves that
/// object readable; a completed one writes the instruction file after CompleteMultipartUpload, with the
/// request's expected bucket owner, requester-pays consent and ACL.
pub async fn multipart_leaves_existing_instruction_files_alone() {
    let s3 = MemS3::new();
    let c = client(&s3, true, None);
    put(&c, "k", b"the object already stored").await;
    assert!(s3.object(BUCKET, "k.instruction").is_some());
    s3.set_hook(answer_multipart);
    let before = s3.requests().len();

    let created = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    c.upload_part()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![5u8; 32]))
        .send()
        .await
        .unwrap();
    c.abort_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let touched: Vec<_> = s3.requests()[before..]
        .iter()
        .filter(|r| r.key == "k.instruction")
        .map(|r| format!("{} {}", r.method, r.key))
        .collect();
    assert!(touched.is_empty(), "the aborted upload touched {touched:?}");
    assert_eq!(
        get(&c, "k").await.as_deref(),
        Ok(&b"the object already stored"[..]),
        "the existing object still decrypts"
    );

    // A completed upload: the instruction file is written last, under the request's guard fields.
    let before = s3.requests().len();
    let created = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .customize_request(|b| {
            b.expected_bucket_owner("111122223333")
                .request_payer(RequestPayer::Requester)
                .acl(ObjectCannedAcl::BucketOwnerFullControl)
        })
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_string();
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![6u8; 20]))
        .is_last_part(true)
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .set_e_tag(part.e_tag)
                        .part_number(1)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let log = &s3.requests()[before..];
    let complete = log
        .iter()
        .position(|r| r.method == "POST" && r.query.contains("uploadId="))
        .expect("CompleteMultipartUpload sent");
    let instruction: Vec<(usize, &MemRequest)> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.key == "k.instruction" && !is_multipart_call(r))
        .collect();
    assert_eq!(instruction.len(), 1, "one write of the instruction file");
    let (at, put) = instruction[0];
    assert_eq!(put.method, "PUT");
    assert!(at > complete, "written after the upload completed");
    assert_eq!(
        put.header("x-amz-expected-bucket-owner"),
        Some("111122223333")
    );
    assert_eq!(put.header("x-amz-request-payer"), Some("requester"));
    assert_eq!(put.header("x-amz-acl"), Some("bucket-owner-full-control"));
}

/// Item 3, run in a child process whose address space and file sizes are capped: a server declaring a 64 GiB
/// object and sending 1 KiB gets an error from every read path, never an abort or a 64 GiB reservation.
pub async fn lying_content_length() {
    const CLAIM: u64 = 64 << 30;
    let s3 = MemS3::new();
    put(&client(&s3, false, None), "big", &[7u8; 1024]).await;
    s3.set_hook(|req, mut stored| {
        if is_get_of(req, "big") {
            stored.set_header("content-length", CLAIM.to_string());
        }
        stored
    });
    // Above the buffer size: the spooled path, which must not reserve the declared length on disk.
    let r = get(&client(&s3, false, Some(1 << 20)), "big").await;
    assert!(r.is_err(), "spooled: {r:?}");
    // Into the caller's buffer, which must not reserve the declared length in memory.
    let mut buf = Vec::new();
    let r = client(&s3, false, None)
        .get_object()
        .bucket(BUCKET)
        .key("big")
        .send_into(&mut buf)
        .await;
    assert!(r.is_err(), "send_into: {r:?}");
    assert!(buf.is_empty());
    assert!(
        buf.capacity() < 1 << 30,
        "reserved {} bytes",
        buf.capacity()
    );
}

/// Item 4: an instruction file served without Content-Length is read through the 256 KiB limit, not collected
/// whole first. The body fails after 2 MiB: a bounded read stops long before that and says the file is too
/// large; an unbounded one runs into the failure.
pub async fn instruction_file_reads_are_bounded() {
    let s3 = MemS3::new();
    let c = client(&s3, true, None);
    put(&c, "k", b"envelope in the instruction file").await;
    s3.set_hook(|req, stored| {
        if is_get_of(req, "k.instruction") {
            let mut r = MemResponse::new(200, vec![b' '; 4 << 20]);
            r.chunk_size = Some(64 << 10);
            r.fail_after = Some(2 << 20);
            r
        } else {
            stored
        }
    });
    let e = c
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .expect_err("an oversized instruction file");
    let text = format!("{e} {:?}", std::error::Error::source(&e));
    assert!(
        matches!(
            e,
            Error::Object(s3ec::ObjectError::InstructionFileTooLarge { .. })
        ),
        "{e:?}"
    );
    assert!(text.contains("larger than"), "{text}");
}

/// A CMM that answers every encryption request with materials for the non-committing GCM suite.
struct DowngradingCmm(s3ec_materials::DefaultCmm);

#[async_trait::async_trait]
impl s3ec::CryptoMaterialsManager for DowngradingCmm {
    async fn get_encryption_materials(
        &self,
        request: &s3ec_materials::EncryptRequest,
    ) -> Result<s3ec_materials::EncryptionMaterials, s3ec_materials::Error> {
        let weaker = s3ec_materials::EncryptRequest::new(
            s3ec::CommitmentPolicy::ForbidEncryptAllowDecrypt,
            s3ec::AlgorithmSuite::AesGcm,
            request.context().clone(),
        )?;
        self.0.get_encryption_materials(&weaker).await
    }

    async fn decrypt_materials(
        &self,
        request: &s3ec_materials::DecryptRequest<'_>,
    ) -> Result<s3ec_materials::DecryptionMaterials, s3ec_materials::Error> {
        self.0.decrypt_materials(request).await
    }
}

/// Item 9: a custom CMM's materials are checked against the commitment policy again: one that swaps in a
/// non-committing suite under a policy requiring commitment writes nothing.
pub async fn custom_cmm_suite_is_checked_against_the_policy() {
    let s3 = MemS3::new();
    let key = AesWrappingKey::from_raw(&[0x24; 32]).unwrap();
    let c = Client::builder()
        .s3_client(s3.client())
        .cmm(DowngradingCmm(s3ec_materials::DefaultCmm::new(
            AesKeyring::new(key),
        )))
        .commitment_policy(s3ec::CommitmentPolicy::RequireEncryptRequireDecrypt)
        .build()
        .unwrap();
    let r = c
        .put_object()
        .bucket(BUCKET)
        .key("weak")
        .body(ByteStream::from_static(b"must be committed"))
        .send()
        .await;
    assert!(matches!(r, Err(Error::Policy(_))), "{r:?}");
    assert!(s3.object(BUCKET, "weak").is_none(), "nothing written");
}
