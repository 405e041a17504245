//! The participant `s3ec-os`: the same command line over `s3ec_object_store::EncryptedStore<AmazonS3>`, so the
//! interop matrix checks the object_store adapter against the official clients both ways. `put --parquet ROWS`
//! writes a Parquet file with the `parquet` crate's async writer instead of `--in`, reads it back with
//! `ParquetObjectReader` under both range policies, and writes the bytes it stored to `--out` for the other
//! readers to compare with.

// parquet 60 deprecates `ParquetObjectReader` (consumers are to write their own `AsyncFileReader` making the same
// calls); it is still the reader most `object_store` users have.
#![allow(deprecated)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{
    Extensions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    WriteMultipart,
};
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::async_writer::AsyncArrowWriter;
use s3ec::{AlgorithmSuite, CommitmentPolicy, Keyring};
use s3ec_object_store::{EncryptedStore, EncryptionContext, RangePolicy};
use serde_json::{json, Map, Value};

use crate::command_line::Command as Args;
use crate::{map, BoxError};

/// What every request of one command shares.
pub struct Setup<'a> {
    pub keyring: Arc<dyn Keyring>,
    pub policy: CommitmentPolicy,
    pub suite: AlgorithmSuite,
    pub region: &'a str,
    pub endpoint: &'a str,
}

fn inner(a: &Args, s: &Setup<'_>) -> Result<AmazonS3, BoxError> {
    Ok(AmazonS3Builder::new()
        .with_endpoint(s.endpoint)
        .with_allow_http(true)
        .with_region(s.region)
        .with_bucket_name(a.need("bucket")?)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_virtual_hosted_style_request(false)
        .build()?)
}

fn encrypted(
    a: &Args,
    s: &Setup<'_>,
    ranges: RangePolicy,
) -> Result<Arc<dyn ObjectStore>, BoxError> {
    Ok(Arc::new(
        EncryptedStore::builder(inner(a, s)?)
            .shared_keyring(s.keyring.clone())
            .commitment_policy(s.policy)
            .encryption_algorithm(s.suite)
            .enable_legacy_wrapping_algorithms(a.legacy)
            .enable_legacy_unauthenticated_modes(
                a.legacy || ranges == RangePolicy::UnauthenticatedCtr,
            )
            .enable_instruction_file_put(a.get("storage") == Some("instruction"))
            .range_policy(ranges)
            .build()?,
    ))
}

/// The request's `--context` as an extension (none asserts the empty context).
fn extensions(a: &Args) -> Extensions {
    let mut e = Extensions::new();
    e.insert(EncryptionContext(map(&a.context)));
    e
}

/// `bytes=a-b` (inclusive) as a plaintext range.
fn range(spec: &str) -> Result<GetRange, BoxError> {
    let (a, b) = spec
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(|| format!("bad range {spec}"))?;
    Ok(GetRange::Bounded(a.parse()?..b.parse::<u64>()? + 1))
}

pub async fn run(a: &Args, s: &Setup<'_>) -> Result<Map<String, Value>, BoxError> {
    for unsupported in ["suffix", "parallel"] {
        if a.get(unsupported).is_some() {
            return Err(format!("--{unsupported} has no EncryptedStore equivalent").into());
        }
    }
    let path = Path::parse(a.need("key")?)?;
    let mut out = Map::new();
    match a.op.as_str() {
        "put" if a.get("parquet").is_some() => {
            if !a.context.is_empty() {
                // ParquetObjectReader passes no GetOptions, so its reads assert the empty context.
                return Err("--parquet takes no --context".into());
            }
            let rows: usize = a.need("parquet")?.parse()?;
            let store = encrypted(a, s, RangePolicy::VerifyWholeObject)?;
            write_parquet(store.clone(), &path, rows).await?;
            for ranges in [
                RangePolicy::VerifyWholeObject,
                RangePolicy::UnauthenticatedCtr,
            ] {
                let read = read_parquet(encrypted(a, s, ranges)?, &path).await?;
                if read != rows {
                    return Err(format!("{ranges:?}: read {read} rows of {rows}").into());
                }
            }
            let bytes = store.get(&path).await?.bytes().await?;
            std::fs::write(a.need("out")?, &bytes)?;
            out.insert("len".into(), json!(bytes.len()));
        }
        "put" => {
            let body = std::fs::read(a.need("in")?)?;
            let store = encrypted(a, s, RangePolicy::VerifyWholeObject)?;
            if let Some(part) = a.get("multipart") {
                let options = PutMultipartOptions {
                    extensions: extensions(a),
                    ..Default::default()
                };
                let upload = store.put_multipart_opts(&path, options).await?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, part.parse()?);
                w.write(&body);
                w.finish().await?;
            } else {
                let options = PutOptions {
                    extensions: extensions(a),
                    ..Default::default()
                };
                store.put_opts(&path, body.into(), options).await?;
            }
        }
        "get" => {
            let store = encrypted(a, s, RangePolicy::VerifyWholeObject)?;
            let options = GetOptions {
                range: a.get("range").map(range).transpose()?,
                extensions: extensions(a),
                ..Default::default()
            };
            let bytes = store.get_opts(&path, options).await?.bytes().await?;
            if let Some(file) = a.get("out") {
                std::fs::write(file, &bytes)?;
            }
            out.insert("len".into(), json!(bytes.len()));
        }
        other => return Err(format!("{other} has no EncryptedStore equivalent").into()),
    }
    Ok(out)
}

fn batch(first: usize, rows: usize) -> Result<RecordBatch, BoxError> {
    let ids: Vec<i64> = (first..first + rows).map(|i| i as i64).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
    Ok(RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
    ])?)
}

/// `rows` rows in batches of 10 000 through `AsyncArrowWriter` over `object_store`'s `BufWriter`.
async fn write_parquet(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    rows: usize,
) -> Result<(), BoxError> {
    let first = batch(0, 0)?;
    let writer = BufWriter::new(store, path.clone());
    let mut w = AsyncArrowWriter::try_new(writer, first.schema(), None)?;
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(10_000);
        w.write(&batch(done, n)?).await?;
        done += n;
    }
    w.close().await?;
    Ok(())
}

/// Rows read back through `ParquetObjectReader` (footer by suffix range, then the column chunks), each row's
/// values checked.
async fn read_parquet(store: Arc<dyn ObjectStore>, path: &Path) -> Result<usize, BoxError> {
    let reader = ParquetObjectReader::new(store, path.clone());
    let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await?
        .build()?;
    let mut next = 0i64;
    while let Some(b) = stream.try_next().await? {
        let ids = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or("id is not Int64")?;
        let names = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("name is not Utf8")?;
        for (id, name) in ids.values().iter().zip(names.iter()) {
            if *id != next || name != Some(format!("row-{next}").as_str()) {
                return Err(format!("row {next} differs").into());
            }
            next += 1;
        }
    }
    Ok(next as usize)
}
