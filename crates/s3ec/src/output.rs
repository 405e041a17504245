//! What a get hands the caller: the response without the stored object's checksums, and a plaintext stream
//! drained into the caller's buffer.

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::Error;
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
