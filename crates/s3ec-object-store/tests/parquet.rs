//! A real consumer: the `parquet` crate's async arrow writer and `ParquetObjectReader` through
//! `EncryptedStore<AmazonS3>` on Garage (`S3EC_TEST_GARAGE_*`; a missing variable is a failure). The file is
//! written through `object_store`'s `BufWriter` (a multipart upload: it is larger than its 10 MiB buffer), read
//! back footer first and then by row group and column under both range policies, and read whole by
//! `s3ec::Client` as an ordinary S3EC object.

// parquet 60 deprecates `ParquetObjectReader` in favour of each consumer's own `AsyncFileReader` making the same
// calls (a suffix `get_opts` for the footer, `get_range`/`get_ranges` for column chunks); it is still the reader
// most `object_store` users have, so it is the one tested here.
#![allow(deprecated)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::file::properties::WriterProperties;
use s3ec::aws_sdk_s3;
use s3ec::aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_object_store::{EncryptedStore, RangePolicy};

/// Rows per row group and row groups: 16 bytes a row, plain encoding, about 12.8 MB in all.
const ROWS_PER_GROUP: usize = 200_000;
const GROUPS: usize = 4;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test servers with `cargo xtask servers` and export what it prints")
    })
}

fn garage() -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(env("S3EC_TEST_GARAGE_ENDPOINT"))
        .with_allow_http(true)
        .with_region(env("S3EC_TEST_GARAGE_REGION"))
        .with_bucket_name(env("S3EC_TEST_GARAGE_BUCKET"))
        .with_access_key_id(env("S3EC_TEST_GARAGE_ACCESS_KEY_ID"))
        .with_secret_access_key(env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY"))
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

fn sdk() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(env("S3EC_TEST_GARAGE_ENDPOINT"))
            .region(Region::new(env("S3EC_TEST_GARAGE_REGION")))
            .credentials_provider(Credentials::new(
                env("S3EC_TEST_GARAGE_ACCESS_KEY_ID"),
                env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY"),
                None,
                None,
                "tests",
            ))
            .force_path_style(true)
            .build(),
    )
}

fn keyring() -> AesKeyring {
    AesKeyring::new(AesWrappingKey::from_raw(&[5; 32]).unwrap())
}

fn store(policy: RangePolicy) -> Arc<dyn ObjectStore> {
    Arc::new(
        EncryptedStore::builder(garage())
            .keyring(keyring())
            .enable_legacy_unauthenticated_modes(policy == RangePolicy::UnauthenticatedCtr)
            .range_policy(policy)
            .build()
            .unwrap(),
    )
}

fn value(row: i64) -> f64 {
    (row as f64) * 0.5 - 7.0
}

fn batch(group: usize) -> RecordBatch {
    let ids: Vec<i64> = (0..ROWS_PER_GROUP)
        .map(|i| (group * ROWS_PER_GROUP + i) as i64)
        .collect();
    let values: Vec<f64> = ids.iter().map(|&i| value(i)).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("value", Arc::new(Float64Array::from(values)) as ArrayRef),
    ])
    .unwrap()
}

async fn write(path: &Path) {
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    let writer = BufWriter::new(store(RangePolicy::VerifyWholeObject), path.clone());
    let mut w = AsyncArrowWriter::try_new(writer, batch(0).schema(), Some(props)).unwrap();
    for g in 0..GROUPS {
        w.write(&batch(g)).await.unwrap();
    }
    w.close().await.unwrap();
}

/// Reads row group 2's `value` column only (the footer, then that column chunk's range).
async fn read_one_column_chunk(store: Arc<dyn ObjectStore>, path: &Path) {
    let reader = ParquetObjectReader::new(store, path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap();
    assert_eq!(builder.metadata().num_row_groups(), GROUPS);
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [1]);
    let batches: Vec<RecordBatch> = builder
        .with_row_groups(vec![2])
        .with_projection(mask)
        .build()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut row = (2 * ROWS_PER_GROUP) as i64;
    for b in &batches {
        assert_eq!(b.num_columns(), 1);
        let col = b.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
        for v in col.values() {
            assert_eq!(*v, value(row));
            row += 1;
        }
    }
    assert_eq!(row as usize, 3 * ROWS_PER_GROUP, "the whole row group");
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_written_and_read_through_the_encrypted_store() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = Path::from(format!("parquet/{}-{nanos}.parquet", std::process::id()));
    write(&path).await;

    for policy in [
        RangePolicy::VerifyWholeObject,
        RangePolicy::UnauthenticatedCtr,
    ] {
        read_one_column_chunk(store(policy), &path).await;
        // Every row, through the whole-file reader as well.
        let reader = ParquetObjectReader::new(store(policy), path.clone());
        let meta = ArrowReaderMetadata::load_async(&mut reader.clone(), Default::default())
            .await
            .unwrap();
        let rows: i64 = meta.metadata().file_metadata().num_rows();
        assert_eq!(rows as usize, GROUPS * ROWS_PER_GROUP, "{policy:?}");
        let all: Vec<RecordBatch> =
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta)
                .build()
                .unwrap()
                .try_collect()
                .await
                .unwrap();
        let ids: Vec<i64> = all
            .iter()
            .flat_map(|b| {
                let c = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                c.values().to_vec()
            })
            .collect();
        assert!(
            ids.iter().copied().eq(0..(GROUPS * ROWS_PER_GROUP) as i64),
            "{policy:?}"
        );
    }

    // The same object is an ordinary S3EC object: s3ec::Client reads the very bytes the store returns.
    let through_store = store(RangePolicy::VerifyWholeObject)
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(through_store.starts_with(b"PAR1") && through_store.ends_with(b"PAR1"));
    let client = s3ec::Client::builder()
        .s3_client(sdk())
        .keyring(keyring())
        .build()
        .unwrap();
    let got = client
        .get_object()
        .bucket(env("S3EC_TEST_GARAGE_BUCKET"))
        .key(path.as_ref())
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(got == through_store, "s3ec::Client read other bytes");
    store(RangePolicy::VerifyWholeObject)
        .delete(&path)
        .await
        .unwrap();
}
