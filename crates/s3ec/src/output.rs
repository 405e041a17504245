//! What a get hands the caller: the response without the stored object's checksums, and a plaintext stream
//! drained into the caller's buffer or the destination's temporary file, or made of verified ranges.

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::body::channel;
use crate::error::Error;
use crate::partial_file::PartialFile;
use crate::plain_buf::Wipe;

/// Drops the response's checksums: they describe the stored ciphertext, not the plaintext the caller receives.
pub(crate) fn clear_checksums(out: &mut GetObjectOutput) {
    out.checksum_crc32 = None;
    out.checksum_crc32_c = None;
    out.checksum_crc64_nvme = None;
    out.checksum_sha1 = None;
    out.checksum_sha256 = None;
    out.checksum_sha512 = None;
    out.checksum_md5 = None;
    out.checksum_xxhash64 = None;
    out.checksum_xxhash3 = None;
    out.checksum_xxhash128 = None;
    out.checksum_type = None;
}

/// Appends a plaintext stream (a range, or legacy CBC) to `buf`; on error `buf` is zeroed and emptied.
pub(crate) async fn drain_into(mut plain: ByteStream, buf: &mut Vec<u8>) -> Result<(), Error> {
    let mut guard = Wipe::new(buf);
    while let Some(chunk) = plain.try_next().await.map_err(Error::io)? {
        guard.buf().extend_from_slice(&chunk);
    }
    guard.disarm();
    Ok(())
}

/// Verified plaintext ranges, handed out in order as one stream of `len` bytes.
pub(crate) fn in_order(ranges: Vec<Vec<u8>>, len: u64) -> ByteStream {
    if ranges.len() <= 1 {
        return ByteStream::from(ranges.into_iter().next().unwrap_or_default());
    }
    let (sink, stream) = channel(Some(len));
    tokio::spawn(async move {
        for r in ranges {
            if sink.send(Ok(Bytes::from(r))).await.is_err() {
                return;
            }
        }
    });
    stream
}

/// Writes a plaintext stream into the destination's temporary file; returns its length. The stream's own
/// executor decides when plaintext is released; the file is renamed into place only after the stream ended
/// without an error.
pub(crate) async fn write_file(mut plain: ByteStream, file: &PartialFile) -> Result<u64, Error> {
    let mut out = tokio::fs::File::from_std(file.file().try_clone()?);
    let mut n = 0u64;
    while let Some(chunk) = plain.try_next().await.map_err(Error::io)? {
        out.write_all(&chunk).await?;
        n += chunk.len() as u64;
    }
    out.flush().await?;
    Ok(n)
}
