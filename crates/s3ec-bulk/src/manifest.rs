//! S3 Inventory manifests as an object source: `manifest.json` names CSV files (gzip-compressed, as S3
//! Inventory writes them, or plain), each checked against the manifest's `MD5checksum` before a row of it is
//! used.
//!
//! Columns come from `fileSchema` (`Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, ETag, ...`):
//! `Bucket` and `Key` are required, `Size` and `ETag` used when present. Rows of delete markers and of
//! non-current versions (`IsDeleteMarker` true, `IsLatest` false) are left out: the operations work on current
//! objects. Keys are URL-encoded in inventory files (`+` for a space, `%XX` for other bytes) and decoded here.
//!
//! Where the files are read from: for a manifest in S3, from the manifest's `destinationBucket`; for a manifest
//! on local disk, from the manifest's folder (the file's `key` as a relative path, or its last segment).
//! One file is held at a time, in a temporary file, and its rows are streamed.

use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use futures_util::stream::{self, StreamExt};
use md5::{Digest, Md5};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::object::{bare_etag, ObjectRef};

/// Why a manifest or one of its files cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest is not the JSON of an S3 Inventory manifest.
    #[error("{what}: not an S3 Inventory manifest: {problem}")]
    Json {
        /// The manifest.
        what: String,
        /// The parser's message.
        problem: String,
    },
    /// The inventory is not in CSV (ORC and Parquet inventories are not read).
    #[error("inventory format {0} is not supported (CSV only: choose CSV in the inventory configuration)")]
    UnsupportedFormat(String),
    /// `fileSchema` lacks a column the run needs.
    #[error("the manifest's fileSchema has no {0} column")]
    MissingColumn(&'static str),
    /// A file is not what the manifest says (truncated, replaced, or corrupted).
    #[error("{file}: MD5 {actual} differs from the manifest's MD5checksum {expected}")]
    Checksum {
        /// The file's key.
        file: String,
        /// What the manifest says.
        expected: String,
        /// What was read.
        actual: String,
    },
    /// A row of a file is not CSV with the manifest's columns, or its key does not decode.
    #[error("{file}, row {row}: {problem}")]
    Row {
        /// The file's key.
        file: String,
        /// 1-based row.
        row: u64,
        /// What is wrong.
        problem: String,
    },
    /// S3 refused to give the manifest or a file.
    #[error("s3://{bucket}/{key}: {error}")]
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// S3's answer.
        error: s3ec::ServiceError,
    },
}

/// Where a manifest is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestLocation {
    /// In S3.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key of `manifest.json`.
        key: String,
    },
    /// On local disk.
    Local(PathBuf),
}

impl ManifestLocation {
    /// `s3://bucket/key` or a local path.
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
            Some((bucket, key)) => Self::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            None => Self::Local(PathBuf::from(s)),
        }
    }
}

/// The fields of `manifest.json` a run uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `CSV`, `ORC` or `Parquet`.
    pub file_format: String,
    /// Comma-separated column names.
    pub file_schema: String,
    /// ARN of the bucket holding the files (`arn:aws:s3:::name`).
    #[serde(default)]
    pub destination_bucket: Option<String>,
    /// The data files.
    pub files: Vec<ManifestFile>,
}

/// One data file of a manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    /// Its key in the destination bucket.
    pub key: String,
    /// Its size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// MD5 of the file as stored (compressed), lowercase hex.
    #[serde(rename = "MD5checksum")]
    pub md5: String,
}

/// Column positions from `fileSchema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    bucket: usize,
    key: usize,
    size: Option<usize>,
    etag: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
}

impl Manifest {
    /// Parses `manifest.json` (named `what` in errors) and checks it is a CSV inventory.
    pub fn parse(what: &str, json: &[u8]) -> Result<Self, ManifestError> {
        let m: Manifest = serde_json::from_slice(json).map_err(|e| ManifestError::Json {
            what: what.to_string(),
            problem: e.to_string(),
        })?;
        if !m.file_format.eq_ignore_ascii_case("CSV") {
            return Err(ManifestError::UnsupportedFormat(m.file_format));
        }
        m.columns()?;
        Ok(m)
    }

    /// The columns of `fileSchema`.
    pub fn columns(&self) -> Result<Columns, ManifestError> {
        let names: Vec<&str> = self.file_schema.split(',').map(str::trim).collect();
        let find = |n: &str| names.iter().position(|c| c.eq_ignore_ascii_case(n));
        Ok(Columns {
            bucket: find("Bucket").ok_or(ManifestError::MissingColumn("Bucket"))?,
            key: find("Key").ok_or(ManifestError::MissingColumn("Key"))?,
            size: find("Size"),
            etag: find("ETag"),
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
        })
    }

    /// The bucket the files are in (from the `destinationBucket` ARN).
    pub fn files_bucket(&self) -> Option<&str> {
        let arn = self.destination_bucket.as_deref()?;
        Some(arn.rsplit(':').next().unwrap_or(arn))
    }
}

/// Decodes an inventory key: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
pub fn decode_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// The objects of one CSV file (gzip or plain, told by its first bytes), as read from `reader`; `file` names it
/// in errors. Calls `emit` for each object; stops at the first error or when `emit` returns false.
pub fn read_rows(
    file: &str,
    reader: impl Read,
    columns: Columns,
    mut emit: impl FnMut(Result<ObjectRef, ManifestError>) -> bool,
) {
    let mut reader = BufReader::new(reader);
    let gz = matches!(
        std::io::BufRead::fill_buf(&mut reader),
        Ok([0x1f, 0x8b, ..])
    );
    let inner: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(inner);
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        row += 1;
        let bad = |problem: String| ManifestError::Row {
            file: file.to_string(),
            row,
            problem,
        };
        match csv.read_record(&mut record) {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                emit(Err(bad(e.to_string())));
                return;
            }
        }
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        if field(columns.is_delete_marker).is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || field(columns.is_latest).is_some_and(|v| v.eq_ignore_ascii_case("false"))
        {
            continue;
        }
        let object = (|| {
            let bucket = field(Some(columns.bucket)).ok_or_else(|| bad("no Bucket".into()))?;
            let raw_key = field(Some(columns.key)).ok_or_else(|| bad("no Key".into()))?;
            let key = decode_key(raw_key)
                .ok_or_else(|| bad(format!("key {raw_key:?} does not URL-decode to UTF-8")))?;
            let size = match field(columns.size) {
                None => None,
                Some(s) => Some(s.parse().map_err(|_| bad(format!("Size {s:?}")))?),
            };
            Ok(ObjectRef {
                bucket: bucket.to_string(),
                key,
                size,
                etag: field(columns.etag).map(|e| bare_etag(e).to_string()),
            })
        })();
        let failed = object.is_err();
        if !emit(object) || failed {
            return;
        }
    }
}

/// Copies `reader` into a temporary file, returning it (rewound) and the lowercase hex MD5 of what was copied.
fn spool_hashed(
    mut reader: impl Read,
    path: &Path,
) -> Result<(std::fs::File, String), ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = tempfile::tempfile().map_err(io)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io)?;
    }
    out.rewind().map_err(io)?;
    Ok((out, hex(&md5.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a spooled file against the manifest's checksum.
fn verify(file: &ManifestFile, actual: String) -> Result<(), ManifestError> {
    if actual.eq_ignore_ascii_case(file.md5.trim()) {
        Ok(())
    } else {
        Err(ManifestError::Checksum {
            file: file.key.clone(),
            expected: file.md5.clone(),
            actual,
        })
    }
}

/// Reads the manifest at `location` (through `s3` when it is in S3).
pub async fn load(
    s3: &aws_sdk_s3::Client,
    location: &ManifestLocation,
) -> Result<Manifest, ManifestError> {
    match location {
        ManifestLocation::Local(path) => {
            let json = std::fs::read(path).map_err(|source| ManifestError::Io {
                path: path.clone(),
                source,
            })?;
            Manifest::parse(&path.display().to_string(), &json)
        }
        ManifestLocation::S3 { bucket, key } => {
            let bytes = get_bytes(s3, bucket, key, MAX_MANIFEST).await?;
            Manifest::parse(&format!("s3://{bucket}/{key}"), &bytes)
        }
    }
}

/// The largest manifest.json read (a manifest lists file names only; real ones are a few KiB).
const MAX_MANIFEST: usize = 16 << 20;

async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    limit: usize,
) -> Result<Vec<u8>, ManifestError> {
    let s3_err = |error| ManifestError::S3 {
        bucket: bucket.to_string(),
        key: key.to_string(),
        error,
    };
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_err(s3ec::s3_service_error("GetObject", e)))?;
    let mut body = out.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(|e| {
        s3_err(s3ec::ServiceError::unreachable(
            s3ec::S3,
            "GetObject",
            e.to_string(),
        ))
    })? {
        if bytes.len() + chunk.len() > limit {
            return Err(ManifestError::Json {
                what: format!("s3://{bucket}/{key}"),
                problem: format!("larger than {limit} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Downloads one data file from S3 into a temporary file, hashing it on the way.
async fn fetch_s3_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    file: &ManifestFile,
) -> Result<(std::fs::File, String), ManifestError> {
    let where_ = PathBuf::from(format!("s3://{bucket}/{}", file.key));
    let io = |source| ManifestError::Io {
        path: where_.clone(),
        source,
    };
    let s3_err = |error| ManifestError::S3 {
        bucket: bucket.to_string(),
        key: file.key.clone(),
        error,
    };
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(&file.key)
        .send()
        .await
        .map_err(|e| s3_err(s3ec::s3_service_error("GetObject", e)))?;
    let mut spool = tempfile::tempfile().map_err(io)?;
    let mut md5 = Md5::new();
    let mut body = out.body;
    while let Some(chunk) = body.try_next().await.map_err(|e| {
        s3_err(s3ec::ServiceError::unreachable(
            s3ec::S3,
            "GetObject",
            e.to_string(),
        ))
    })? {
        md5.update(&chunk);
        spool.write_all(&chunk).map_err(io)?;
    }
    spool.rewind().map_err(io)?;
    Ok((spool, hex(&md5.finalize())))
}

/// Opens one data file of a local manifest: `folder/key`, else `folder/<last segment of key>`.
fn open_local_file(
    folder: &Path,
    file: &ManifestFile,
) -> Result<(std::fs::File, String), ManifestError> {
    let full = folder.join(&file.key);
    let path = if full.exists() {
        full
    } else {
        folder.join(file.key.rsplit('/').next().unwrap_or(&file.key))
    };
    let f = std::fs::File::open(&path).map_err(|source| ManifestError::Io {
        path: path.clone(),
        source,
    })?;
    spool_hashed(f, &path)
}

/// The rows of a manifest's files as a stream; an `Err` ends it.
pub type Rows = futures_util::stream::BoxStream<'static, Result<ObjectRef, ManifestError>>;

/// Every current object the manifest at `location` lists, file by file; each file is verified against its
/// MD5 before its first row is given out. ([`crate::source::manifest`] gives them as a run's source.)
pub async fn objects(
    s3: aws_sdk_s3::Client,
    location: ManifestLocation,
) -> Result<Rows, ManifestError> {
    let manifest = load(&s3, &location).await?;
    let columns = manifest.columns()?;
    // A small buffer: the reader runs ahead of the run by at most this many rows.
    let (tx, rx) = mpsc::channel::<Result<ObjectRef, ManifestError>>(1024);
    tokio::spawn(async move {
        for file in &manifest.files {
            let spooled = match &location {
                ManifestLocation::Local(path) => {
                    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    open_local_file(&folder, file)
                }
                ManifestLocation::S3 { bucket, .. } => {
                    let files_bucket = manifest.files_bucket().unwrap_or(bucket).to_string();
                    fetch_s3_file(&s3, &files_bucket, file).await
                }
            };
            let spool = match spooled.and_then(|(f, md5)| verify(file, md5).map(|()| f)) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let (tx2, name) = (tx.clone(), file.key.clone());
            let parsed = tokio::task::spawn_blocking(move || {
                let mut open = true;
                read_rows(&name, spool, columns, |row| {
                    open = tx2.blocking_send(row).is_ok();
                    open
                });
                open
            })
            .await;
            if !matches!(parsed, Ok(true)) {
                return;
            }
        }
    });
    Ok(stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) }).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, ETag";

    fn manifest(files: &[(&str, &[u8])]) -> String {
        let files: Vec<serde_json::Value> = files
            .iter()
            .map(|(k, b)| {
                serde_json::json!({"key": k, "size": b.len(), "MD5checksum": hex(&Md5::digest(b))})
            })
            .collect();
        serde_json::json!({
            "sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv", "version": "2016-11-30",
            "fileFormat": "CSV", "fileSchema": SCHEMA, "files": files,
        })
        .to_string()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const ROWS: &str = "\"src\",\"a%2Fb+c.txt\",\"\",\"true\",\"false\",\"10\",\"e1\"\n\
                        \"src\",\"old\",\"v1\",\"false\",\"false\",\"5\",\"e0\"\n\
                        \"src\",\"gone\",\"v2\",\"true\",\"true\",\"\",\"\"\n\
                        \"src\",\"caf%C3%A9%2B1\",\"\",\"true\",\"false\",\"7\",\"\"\"e2\"\"\"\n";

    async fn collect(location: ManifestLocation) -> Vec<Result<ObjectRef, ManifestError>> {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        objects(s3, location).await.unwrap().collect().await
    }

    #[tokio::test]
    async fn gz_and_plain_files_url_encoded_keys_current_versions_only() {
        let dir = tempfile::tempdir().unwrap();
        let zipped = gz(ROWS.as_bytes());
        std::fs::create_dir_all(dir.path().join("inv/files")).unwrap();
        std::fs::write(dir.path().join("inv/files/one.csv.gz"), &zipped).unwrap();
        std::fs::write(dir.path().join("two.csv"), ROWS).unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(
            &path,
            manifest(&[
                ("inv/files/one.csv.gz", &zipped),
                ("elsewhere/two.csv", ROWS.as_bytes()),
            ]),
        )
        .unwrap();
        let got: Vec<ObjectRef> = collect(ManifestLocation::Local(path))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let keys: Vec<&str> = got.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a/b c.txt", "café+1", "a/b c.txt", "café+1"]);
        assert_eq!(got[0].size, Some(10));
        assert_eq!(got[0].etag.as_deref(), Some("e1"));
        assert_eq!(got[1].etag.as_deref(), Some("e2"), "quotes dropped");
        assert_eq!(got[0].bucket, "src");
    }

    #[tokio::test]
    async fn a_checksum_mismatch_is_a_typed_error_before_any_row() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("one.csv"), ROWS).unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, manifest(&[("one.csv", b"something else")])).unwrap();
        let got = collect(ManifestLocation::Local(path)).await;
        assert_eq!(got.len(), 1, "no row of an unverified file is used");
        assert!(
            matches!(&got[0], Err(ManifestError::Checksum { file, .. }) if file == "one.csv"),
            "{got:?}"
        );
    }

    #[test]
    fn manifests_without_csv_or_columns_are_refused() {
        let orc = r#"{"fileFormat":"ORC","fileSchema":"struct<bucket:string>","files":[]}"#;
        assert!(matches!(
            Manifest::parse("m", orc.as_bytes()),
            Err(ManifestError::UnsupportedFormat(_))
        ));
        let nokey = r#"{"fileFormat":"CSV","fileSchema":"Bucket, Size","files":[]}"#;
        assert!(matches!(
            Manifest::parse("m", nokey.as_bytes()),
            Err(ManifestError::MissingColumn("Key"))
        ));
        assert!(matches!(
            Manifest::parse("m", b"[1,2]"),
            Err(ManifestError::Json { .. })
        ));
    }

    #[test]
    fn keys_decode_as_inventory_encodes_them() {
        assert_eq!(
            decode_key("a+b%2Bc%2F%E2%82%AC").as_deref(),
            Some("a b+c/€")
        );
        assert_eq!(decode_key("%FF"), None, "not UTF-8");
        assert_eq!(
            ManifestLocation::parse("s3://b/x/manifest.json"),
            ManifestLocation::S3 {
                bucket: "b".into(),
                key: "x/manifest.json".into()
            }
        );
        assert_eq!(
            ManifestLocation::parse("./m.json"),
            ManifestLocation::Local("./m.json".into())
        );
    }
}
