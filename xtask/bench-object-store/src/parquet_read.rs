//! `--parquet MIB` (default 1024; 0 skips it): a Parquet file of that size written on Garage through
//! `EncryptedStore<AmazonS3>`, then its footer and one column chunk read with `ParquetObjectReader` under each
//! range policy: bytes fetched from Garage, requests, and wall time, beside the bytes the reader asked for.

// parquet 60 deprecates `ParquetObjectReader` in favour of each consumer's own `AsyncFileReader` making the same
// calls; it is still the reader most `object_store` users have.
#![allow(deprecated)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::file::properties::WriterProperties;
use s3ec_object_store::{EncryptedStore, Keyring, RangePolicy};

/// Columns of the file (`Int64`, plain encoding: 8 bytes a value).
const COLUMNS: usize = 4;
/// Rows per row group: 8 MiB column chunks.
const ROWS_PER_GROUP: usize = 1 << 20;

/// An inner store that counts what its reads return: bodies (range lengths) and requests.
#[derive(Debug)]
struct Counting {
    inner: AmazonS3,
    bytes: AtomicU64,
    gets: AtomicU64,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let head = options.head;
        let r = self.inner.get_opts(location, options).await?;
        if !head {
            self.bytes
                .fetch_add(r.range.end - r.range.start, Ordering::Relaxed);
        }
        Ok(r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn batch(first: usize, rows: usize) -> Result<RecordBatch> {
    let columns = (0..COLUMNS).map(|c| {
        let values: Vec<i64> = (first..first + rows)
            .map(|r| (r as i64).wrapping_mul(0x9E37_79B9 + c as i64))
            .collect();
        (
            format!("c{c}"),
            Arc::new(Int64Array::from(values)) as ArrayRef,
        )
    });
    Ok(RecordBatch::try_from_iter(columns)?)
}

/// A store over `inner`; with `hold`, buffer and cache are large enough to keep a verified object of `hold`
/// bytes in memory (otherwise the defaults: 64 MiB buffer, larger objects spooled and never cached).
fn store(
    inner: Arc<Counting>,
    keyring: &Arc<dyn Keyring>,
    policy: RangePolicy,
    hold: Option<u64>,
) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = EncryptedStore::builder(inner);
    if let Some(bytes) = hold {
        builder = builder.buffer_size(bytes).cache_size(bytes);
    }
    Ok(Arc::new(
        builder
            .shared_keyring(keyring.clone())
            .enable_legacy_unauthenticated_modes(policy == RangePolicy::UnauthenticatedCtr)
            .range_policy(policy)
            .build()?,
    ))
}

/// Runs the Parquet part of the bench.
pub async fn measure(garage: AmazonS3, mib: u64) -> Result<()> {
    let counting = Arc::new(Counting {
        inner: garage,
        bytes: AtomicU64::new(0),
        gets: AtomicU64::new(0),
    });
    let keyring: Arc<dyn Keyring> = Arc::new(s3ec_local::AesKeyring::new(
        s3ec_crypto::wrap::AesWrappingKey::generate()?,
    ));
    let path = Path::from("bench-object-store/big.parquet");
    let rows = (mib << 20) as usize / (8 * COLUMNS);
    let started = Instant::now();
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    let writer = BufWriter::new(
        store(
            counting.clone(),
            &keyring,
            RangePolicy::VerifyWholeObject,
            None,
        )?,
        path.clone(),
    );
    let mut w = AsyncArrowWriter::try_new(writer, batch(0, 0)?.schema(), Some(props))?;
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(1 << 16);
        w.write(&batch(done, n)?).await?;
        done += n;
    }
    w.close().await?;
    let size = counting.inner.head(&path).await?.size;
    println!(
        "parquet: {rows} rows x {COLUMNS} Int64 columns, {} bytes stored, written in {:.1}s",
        size,
        started.elapsed().as_secs_f64()
    );
    for (policy, hold) in [
        (RangePolicy::VerifyWholeObject, None),
        (RangePolicy::VerifyWholeObject, Some(size + (64 << 20))),
        (RangePolicy::UnauthenticatedCtr, None),
    ] {
        counting.bytes.store(0, Ordering::Relaxed);
        counting.gets.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let reader = ParquetObjectReader::new(
            store(counting.clone(), &keyring, policy, hold)?,
            path.clone(),
        );
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let group = builder.metadata().num_row_groups() / 2;
        let chunk = builder.metadata().row_group(group).column(1).byte_range();
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [1]);
        let batches: Vec<RecordBatch> = builder
            .with_row_groups(vec![group])
            .with_projection(mask)
            .build()?
            .try_collect()
            .await?;
        let read: usize = batches.iter().map(RecordBatch::num_rows).sum();
        anyhow::ensure!(read == ROWS_PER_GROUP.min(rows), "{policy:?}: {read} rows");
        println!(
            "parquet {policy:?}{}: footer + row group {group} column c1 ({} bytes wanted) in {:.2}s: {} bytes fetched in {} GETs ({:.2}x the object)",
            if hold.is_some() { " (buffer and cache hold the object)" } else { "" },
            chunk.1,
            started.elapsed().as_secs_f64(),
            counting.bytes.load(Ordering::Relaxed),
            counting.gets.load(Ordering::Relaxed),
            counting.bytes.load(Ordering::Relaxed) as f64 / size as f64
        );
    }
    counting.inner.delete(&path).await?;
    Ok(())
}
