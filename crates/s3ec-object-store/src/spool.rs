//! Objects larger than the buffer: the ciphertext goes to an anonymous temporary file (deleted by the OS when
//! closed, readable by no other process), GCM authenticates it there, and only then is plaintext decrypted from
//! the file as the caller reads. No plaintext is ever written to disk, and none is released before the tag
//! verifies; memory stays at one chunk.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use s3ec_crypto::{ContentDecryptor, CtrRangeDecryptor, BLOCK_LEN, TAG_LEN};
use s3ec_format::ContentNonce;
use s3ec_materials::DecryptionMaterials;
use tokio::io::AsyncWriteExt;
use zeroize::Zeroize;

use crate::error::Error;

/// Chunk size of every pass over the file.
const CHUNK: usize = 1 << 20;

/// An authenticated object in a temporary file.
pub(crate) struct Spooled {
    file: std::fs::File,
    /// Ciphertext length without the tag (= plaintext length for GCM).
    len: u64,
    materials: Arc<DecryptionMaterials>,
    nonce: ContentNonce,
}

fn io(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: crate::error::STORE_NAME,
        source: Box::new(e),
    }
}

fn join(e: tokio::task::JoinError) -> object_store::Error {
    object_store::Error::Generic {
        store: crate::error::STORE_NAME,
        source: Box::new(e),
    }
}

/// Writes `body` (`size` bytes announced) to an anonymous temporary file.
pub(crate) async fn spool(
    mut body: BoxStream<'static, object_store::Result<Bytes>>,
    size: u64,
) -> object_store::Result<std::fs::File> {
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(join)?
        .map_err(io)?;
    let mut file = tokio::io::BufWriter::with_capacity(CHUNK, tokio::fs::File::from_std(file));
    let mut got = 0u64;
    while let Some(chunk) = body.try_next().await? {
        got += chunk.len() as u64;
        if got > size {
            return Err(Error::ShortBody {
                expected: size,
                got,
            }
            .into());
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    if got != size {
        return Err(Error::ShortBody {
            expected: size,
            got,
        }
        .into());
    }
    file.flush().await.map_err(io)?;
    Ok(file.into_inner().into_std().await)
}

/// Authenticates the GCM object in `file` (`stored` bytes, tag last); the plaintext of this pass is discarded.
pub(crate) async fn authenticate(
    mut file: std::fs::File,
    stored: u64,
    materials: DecryptionMaterials,
    nonce: ContentNonce,
) -> object_store::Result<Spooled> {
    let len = stored
        .checked_sub(TAG_LEN as u64)
        .ok_or(Error::Truncated(stored))?;
    tokio::task::spawn_blocking(move || -> object_store::Result<Spooled> {
        let mut dec =
            ContentDecryptor::new(materials.content_suite(), materials.data_key(), &nonce)
                .map_err(Error::from)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut buf = vec![0u8; CHUNK];
        let mut left = len;
        let result = (|| {
            while left > 0 {
                // At most CHUNK, which is a usize.
                let n = left.min(CHUNK as u64) as usize;
                file.read_exact(&mut buf[..n]).map_err(io)?;
                dec.decrypt_in_place_unverified(&mut buf[..n])
                    .map_err(Error::from)?;
                left -= n as u64;
            }
            Ok::<_, object_store::Error>(())
        })();
        buf.zeroize();
        result?;
        let mut tag = [0u8; TAG_LEN];
        file.read_exact(&mut tag).map_err(io)?;
        dec.finish(&tag).map_err(Error::from)?;
        Ok(Spooled {
            file,
            len,
            materials: Arc::new(materials),
            nonce,
        })
    })
    .await
    .map_err(join)?
}

impl Spooled {
    /// The plaintext length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// A second handle on the same file (each stream seeks before every read).
    pub(crate) fn duplicate(&self) -> object_store::Result<Spooled> {
        Ok(Spooled {
            file: self.file.try_clone().map_err(io)?,
            len: self.len,
            materials: self.materials.clone(),
            nonce: self.nonce.clone(),
        })
    }

    /// The plaintext bytes `range` (within `0..len`), decrypted from the file chunk by chunk as they are read.
    /// The whole object authenticated already, so the counter-mode half of GCM decrypts any window of it.
    pub(crate) fn stream(
        self,
        range: Range<u64>,
    ) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        let block = BLOCK_LEN as u64;
        let aligned = range.start - range.start % block;
        let ctr = CtrRangeDecryptor::new(
            self.materials.content_suite(),
            self.materials.data_key(),
            &self.nonce,
            aligned / block,
        )
        .map_err(Error::from)?;
        let state = (self.file, ctr, aligned, range.end, range.start - aligned);
        Ok(
            stream::try_unfold(state, |(mut file, mut ctr, pos, end, skip)| async move {
                if pos >= end {
                    return Ok(None);
                }
                // At most CHUNK, which is a usize.
                let n = (end - pos).min(CHUNK as u64) as usize;
                let (file, ctr, chunk) = tokio::task::spawn_blocking(move || {
                    let mut buf = BytesMut::zeroed(n);
                    file.seek(SeekFrom::Start(pos)).map_err(io)?;
                    file.read_exact(&mut buf).map_err(io)?;
                    ctr.apply(&mut buf).map_err(Error::from)?;
                    Ok::<_, object_store::Error>((file, ctr, buf.freeze()))
                })
                .await
                .map_err(join)??;
                // `skip` < one block, only on the first chunk.
                let chunk = chunk.slice(skip as usize..);
                Ok(Some((chunk, (file, ctr, pos + n as u64, end, 0))))
            })
            .boxed(),
        )
    }
}
