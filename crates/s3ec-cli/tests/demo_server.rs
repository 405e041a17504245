//! Checks that the in-process demo endpoint does what the encryption client needs from S3: user metadata
//! kept, ranged GET with `Content-Range`, multipart upload, conditional PutObject.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use s3ec_cli::demo_server::DemoServer;

fn client(server: &DemoServer) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint_url())
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            server.access_key_id(),
            server.secret_access_key(),
            None,
            None,
            "test",
        ))
        .build();
    Client::from_conf(conf)
}

async fn body(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn keeps_metadata_serves_ranges_multipart_and_conditions() {
    let server = DemoServer::start().await.unwrap();
    let s3 = client(&server);
    s3.create_bucket().bucket("demo").send().await.unwrap();

    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let put = s3
        .put_object()
        .bucket("demo")
        .key("dir/obj")
        .metadata("x-amz-key-v2", "AAAA+/==")
        .metadata("x-amz-matdesc", r#"{"k":"v"}"#)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();

    let head = s3
        .head_object()
        .bucket("demo")
        .key("dir/obj")
        .send()
        .await
        .unwrap();
    let md = head.metadata().unwrap();
    assert_eq!(md.get("x-amz-key-v2").map(String::as_str), Some("AAAA+/=="));
    assert_eq!(
        md.get("x-amz-matdesc").map(String::as_str),
        Some(r#"{"k":"v"}"#)
    );
    assert_eq!(head.content_length(), Some(1000));

    let ranged = s3
        .get_object()
        .bucket("demo")
        .key("dir/obj")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.content_range(), Some("bytes 100-199/1000"));
    assert_eq!(
        ranged
            .metadata()
            .unwrap()
            .get("x-amz-key-v2")
            .map(String::as_str),
        Some("AAAA+/==")
    );
    assert_eq!(body(ranged).await, &data[100..200]);

    // A conditional overwrite with a stale ETag is refused and leaves the object alone.
    let stale = s3
        .put_object()
        .bucket("demo")
        .key("dir/obj")
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .body(ByteStream::from_static(b"other"))
        .send()
        .await;
    let err = stale.expect_err("stale If-Match must fail");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(412),
        "{err:?}"
    );
    // With the current ETag it goes through.
    s3.put_object()
        .bucket("demo")
        .key("dir/obj")
        .if_match(&etag)
        .body(ByteStream::from_static(b"newer"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("demo")
        .key("dir/obj")
        .send()
        .await
        .unwrap();
    assert_eq!(body(got).await, b"newer");
    // If-None-Match: * refuses to replace an existing object.
    let exists = s3
        .put_object()
        .bucket("demo")
        .key("dir/obj")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(exists.is_err());

    // Multipart: two parts (5 MiB minimum for all but the last), metadata from the create call.
    let part1 = vec![1u8; 5 * 1024 * 1024];
    let part2 = vec![2u8; 1234];
    let up = s3
        .create_multipart_upload()
        .bucket("demo")
        .key("mp")
        .metadata("x-amz-cek-alg", "AES/GCM/NoPadding")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, p) in [(1, &part1), (2, &part2)] {
        let r = s3
            .upload_part()
            .bucket("demo")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("demo")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("demo")
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.metadata()
            .unwrap()
            .get("x-amz-cek-alg")
            .map(String::as_str),
        Some("AES/GCM/NoPadding")
    );
    let all = body(got).await;
    assert_eq!(all.len(), part1.len() + part2.len());
    assert_eq!(&all[..part1.len()], &part1[..]);
    assert_eq!(&all[part1.len()..], &part2[..]);

    // Listing with a prefix sees both objects under it.
    let list = s3
        .list_objects_v2()
        .bucket("demo")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["dir/obj"]);

    // Wrong credentials are refused.
    let bad = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .credentials_provider(Credentials::new("nope", "nope", None, None, "t"))
            .build(),
    );
    assert!(bad
        .head_object()
        .bucket("demo")
        .key("mp")
        .send()
        .await
        .is_err());

    let root = server.root().to_path_buf();
    server.stop().await;
    assert!(
        !root.exists(),
        "stopping the server removes its temporary storage"
    );
}
