//! `EncryptedStore<AmazonS3>` against the two test servers (moto and Garage): `object_store`'s conformance suite,
//! and interop with `s3ec::Client` both ways. The servers come from the `S3EC_TEST_*` variables that
//! `cargo xtask servers` prints; a missing variable is a failure, never a skip.
//!
//! The functions are those `object_store` runs on `AmazonS3` itself, less the `MultipartStore` one (not
//! implemented: see `EncryptedStore`'s documentation), and less two the inner store fails without encryption:
//! `copy_rename_nonexistent_object` (`copy_if_not_exists` needs an `S3CopyIfNotExists` setting) and, on Garage only,
//! `put_get_delete_list` (a plain `PrefixStore<AmazonS3>` on Garage gets no objects back from `list_with_offset`
//! when the offset equals the prefix; measured with the unencrypted store).

use std::sync::atomic::{AtomicU64, Ordering};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::integration as oi;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStoreExt;
use s3ec::aws_sdk_s3;
use s3ec::aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_object_store::EncryptedStore;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test servers with `cargo xtask servers` and export what it prints")
    })
}

/// Where one server is and how to sign for it.
struct Server {
    endpoint: String,
    id: String,
    secret: String,
    region: String,
    bucket: String,
}

fn moto() -> Server {
    Server {
        endpoint: env("S3EC_TEST_MOTO_ENDPOINT"),
        id: "test".into(),
        secret: "test".into(),
        region: "us-west-2".into(),
        bucket: format!("s3ec-object-store-{}", std::process::id()),
    }
}

fn garage() -> Server {
    Server {
        endpoint: env("S3EC_TEST_GARAGE_ENDPOINT"),
        id: env("S3EC_TEST_GARAGE_ACCESS_KEY_ID"),
        secret: env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY"),
        region: env("S3EC_TEST_GARAGE_REGION"),
        bucket: env("S3EC_TEST_GARAGE_BUCKET"),
    }
}

impl Server {
    fn sdk(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(
                &self.id,
                &self.secret,
                None,
                None,
                "tests",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The bucket exists (moto starts empty; Garage's is made by the server script).
    async fn ensure_bucket(&self) {
        let s3 = self.sdk();
        if s3.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return;
        }
        let mut create = s3.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(self.region.as_str().into())
                    .build(),
            );
        }
        if let Err(e) = create.send().await {
            let e = e.into_service_error();
            assert!(
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists(),
                "CreateBucket: {e}"
            );
        }
    }

    fn amazon_s3(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(&self.region)
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.id)
            .with_secret_access_key(&self.secret)
            .with_virtual_hosted_style_request(false)
            .build()
            .unwrap()
    }
}

fn keyring() -> AesKeyring {
    AesKeyring::new(AesWrappingKey::from_raw(&[9; 32]).unwrap())
}

/// A prefix no other test uses, so that the suite's fixture cleanup touches nothing else.
fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "object-store/{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn store(server: &Server, prefix: &str) -> EncryptedStore<PrefixStore<AmazonS3>> {
    server.ensure_bucket().await;
    EncryptedStore::builder(PrefixStore::new(server.amazon_s3(), prefix))
        .keyring(keyring())
        .build()
        .unwrap()
}

macro_rules! conformance {
    ($server:ident: $($name:ident => |$s:ident| $call:expr;)*) => {
        mod $server {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let server = super::$server();
                    let $s = store(&server, &unique_prefix(stringify!($name))).await;
                    $call.await;
                }
            )*

            #[tokio::test(flavor = "multi_thread")]
            async fn list_paginated() {
                paginated(super::$server(), stringify!($server) == "moto").await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn written_here_read_by_the_s3ec_client() {
                interop_store_to_client(&super::$server(), false).await;
                interop_store_to_client(&super::$server(), true).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn written_by_the_s3ec_client_read_here() {
                interop_client_to_store(&super::$server(), false).await;
                interop_client_to_store(&super::$server(), true).await;
            }
        }
    };
}

/// `object_store`'s `list_paginated` (with `conformance`: on a bucket of its own, since it lists and deletes
/// from the root; moto only, where the test may create buckets), then pages over objects with instruction files
/// under a prefix of their own: those never appear, sizes are plaintext sizes, and the page token still reaches
/// every object.
async fn paginated(server: Server, conformance: bool) {
    use object_store::list::{PaginatedListOptions, PaginatedListStore};
    let mut own = server;
    if conformance {
        own.bucket = format!("s3ec-os-paginated-{}", std::process::id());
        own.ensure_bucket().await;
        let store = EncryptedStore::builder(own.amazon_s3())
            .keyring(keyring())
            .build()
            .unwrap();
        oi::list_paginated(&store, &store).await;
    }
    own.ensure_bucket().await;
    let prefix = unique_prefix("paged");
    let with_files = EncryptedStore::builder(own.amazon_s3())
        .keyring(keyring())
        .enable_instruction_file_put(true)
        .build()
        .unwrap();
    for i in 0..3 {
        with_files
            .put(&Path::from(format!("{prefix}/{i}")), vec![7; 100].into())
            .await
            .unwrap();
    }
    let raw = own
        .amazon_s3()
        .list_paginated(Some(&format!("{prefix}/")), Default::default())
        .await
        .unwrap();
    assert_eq!(
        raw.result.objects.len(),
        6,
        "each object has its instruction file"
    );
    let mut opts = PaginatedListOptions {
        max_keys: Some(2),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = with_files
            .list_paginated(Some(&format!("{prefix}/")), opts.clone())
            .await
            .unwrap();
        for o in &page.result.objects {
            assert_eq!(o.size, 100, "{}", o.location);
            seen.push(o.location.to_string());
        }
        match page.page_token {
            Some(t) => opts.page_token = Some(t),
            None => break,
        }
    }
    seen.sort();
    let want: Vec<String> = (0..3).map(|i| format!("{prefix}/{i}")).collect();
    assert_eq!(seen, want);
    for i in 0..3 {
        with_files
            .delete(&Path::from(format!("{prefix}/{i}")))
            .await
            .unwrap();
    }
}

fn client(server: &Server, instruction_file: bool) -> s3ec::Client {
    s3ec::Client::builder()
        .s3_client(server.sdk())
        .keyring(keyring())
        .enable_instruction_file_put(instruction_file)
        .build()
        .unwrap()
}

fn plaintext() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 253) as u8).collect()
}

async fn interop_store_to_client(server: &Server, instruction_file: bool) {
    let prefix = unique_prefix("to-client");
    server.ensure_bucket().await;
    let store = EncryptedStore::builder(PrefixStore::new(server.amazon_s3(), prefix.as_str()))
        .keyring(keyring())
        .enable_instruction_file_put(instruction_file)
        .build()
        .unwrap();
    store
        .put(&Path::from("one"), plaintext().into())
        .await
        .unwrap();
    let upload = store.put_multipart(&Path::from("multi")).await.unwrap();
    let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, 5 << 20);
    let big: Vec<u8> = (0..(11 << 20)).map(|i: u32| (i % 241) as u8).collect();
    w.write(&big);
    w.finish().await.unwrap();
    let c = client(server, false);
    for (key, want) in [("one", plaintext()), ("multi", big)] {
        let out = c
            .get_object()
            .bucket(&server.bucket)
            .key(format!("{prefix}/{key}"))
            .send()
            .await
            .unwrap();
        let got = out.body.collect().await.unwrap().into_bytes();
        assert_eq!(got.len(), want.len(), "{key}");
        assert!(got == want, "{key}: s3ec::Client read other bytes");
    }
}

async fn interop_client_to_store(server: &Server, instruction_file: bool) {
    let prefix = unique_prefix("from-client");
    let store = store(server, &prefix).await;
    let c = client(server, instruction_file);
    c.put_object()
        .bucket(&server.bucket)
        .key(format!("{prefix}/from-client"))
        .body(ByteStream::from(plaintext()))
        .send()
        .await
        .unwrap();
    let path = Path::from("from-client");
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert!(got == plaintext(), "EncryptedStore read other bytes");
    assert_eq!(
        store.head(&path).await.unwrap().size,
        plaintext().len() as u64
    );
    let range = store.get_range(&path, 70_000..70_100).await.unwrap();
    assert_eq!(range, plaintext()[70_000..70_100]);
}

conformance! { moto:
    put_get_delete_list => |s| oi::put_get_delete_list(&s);
    list_with_offset_exclusivity => |s| oi::list_with_offset_exclusivity(&s);
    get_opts => |s| oi::get_opts(&s);
    list_uses_directories_correctly => |s| oi::list_uses_directories_correctly(&s);
    list_with_delimiter => |s| oi::list_with_delimiter(&s);
    rename_and_copy => |s| oi::rename_and_copy(&s);
    stream_get => |s| oi::stream_get(&s);
    put_get_attributes => |s| oi::put_get_attributes(&s);
    multipart_out_of_order => |s| oi::multipart_out_of_order(&s);
    multipart_race_condition => |s| oi::multipart_race_condition(&s, true);
}

conformance! { garage:
    list_with_offset_exclusivity => |s| oi::list_with_offset_exclusivity(&s);
    get_opts => |s| oi::get_opts(&s);
    list_uses_directories_correctly => |s| oi::list_uses_directories_correctly(&s);
    list_with_delimiter => |s| oi::list_with_delimiter(&s);
    rename_and_copy => |s| oi::rename_and_copy(&s);
    stream_get => |s| oi::stream_get(&s);
    put_get_attributes => |s| oi::put_get_attributes(&s);
    multipart_out_of_order => |s| oi::multipart_out_of_order(&s);
    multipart_race_condition => |s| oi::multipart_race_condition(&s, true);
}
