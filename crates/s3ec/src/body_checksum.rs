//! The checksum a request's encrypted body carries as a header (an UploadPart's part, a spooled PutObject's
//! body; S3 verifies it on arrival), taken in the encryption pass: each piece is read by the checksum right after
//! its encryption, while it is still in cache, instead of in a second pass over the whole body by the SDK, and
//! handed to the SDK as the request's checksum value, which it then sends as is. Sans IO.

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_smithy_checksums::http::HttpChecksum;
use aws_smithy_checksums::ChecksumAlgorithm;

/// Bytes encrypted before the checksum reads them: small enough to be read back from the core's own cache.
pub(crate) const PIECE: usize = 256 * 1024;

/// A checksum being taken over a ciphertext, or none.
pub(crate) struct BodyChecksum(Option<(ChecksumAlgorithm, Box<dyn HttpChecksum>)>);

impl BodyChecksum {
    /// A checksum of `algorithm` (or none), over nothing yet.
    pub(crate) fn of(algorithm: Option<ChecksumAlgorithm>) -> Self {
        Self(algorithm.map(|a| (a, a.into_impl())))
    }

    /// The checksum the S3 client's configuration asks of a part, over nothing yet: the SDK's default (CRC32)
    /// unless the client is configured `request_checksum_calculation(WhenRequired)`, under which the SDK sends
    /// none with an UploadPart either.
    pub(crate) fn for_config(config: &aws_sdk_s3::Config) -> Self {
        match config.request_checksum_calculation() {
            Some(RequestChecksumCalculation::WhenRequired) => Self::none(),
            _ => Self::of(Some(ChecksumAlgorithm::Crc32)),
        }
    }

    /// No checksum.
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// The algorithm, if there is a checksum.
    pub(crate) fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.0.as_ref().map(|(a, _)| *a)
    }

    /// Adds ciphertext to the checksum.
    pub(crate) fn update(&mut self, ciphertext: &[u8]) {
        if let Some((_, c)) = &mut self.0 {
            c.update(ciphertext);
        }
    }

    /// The value S3 expects in the algorithm's `x-amz-checksum-*` header (base64), if there is a checksum.
    pub(crate) fn value(self) -> Option<String> {
        self.0
            .map(|(_, c)| String::from_utf8_lossy(c.header_value().as_bytes()).into_owned())
    }
}

impl std::fmt::Debug for BodyChecksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.0.as_ref().map(|(_, c)| c.header_name());
        f.debug_tuple("BodyChecksum").field(&name).finish()
    }
}

/// Encrypts `data` in place with `encrypt`, a piece at a time, and adds each piece to `checksum` right after,
/// while it is still in cache: one pass over memory instead of two.
pub(crate) fn encrypt_summed<E>(
    data: &mut [u8],
    checksum: &mut BodyChecksum,
    mut encrypt: impl FnMut(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    for piece in data.chunks_mut(PIECE) {
        encrypt(piece)?;
        checksum.update(piece);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_follows_the_clients_configuration() {
        let config = |c: Option<RequestChecksumCalculation>| {
            let mut b = aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest());
            b.set_request_checksum_calculation(c);
            b.build()
        };
        let mut sum = BodyChecksum::for_config(&config(None));
        sum.update(b"hello");
        // CRC32 of "hello", as S3 spells it.
        assert_eq!(sum.value().as_deref(), Some("NhCmhg=="));
        let when_supported = Some(RequestChecksumCalculation::WhenSupported);
        assert!(BodyChecksum::for_config(&config(when_supported))
            .0
            .is_some());
        let off = Some(RequestChecksumCalculation::WhenRequired);
        assert_eq!(BodyChecksum::for_config(&config(off)).value(), None);
    }

    #[test]
    fn pieces_are_encrypted_then_summed_in_order() {
        let mut data: Vec<u8> = (0..3 * PIECE + 5).map(|i| i as u8).collect();
        let mut seen = Vec::new();
        let mut sum = BodyChecksum::of(Some(ChecksumAlgorithm::Crc32));
        encrypt_summed(&mut data, &mut sum, |piece| {
            seen.push(piece.len());
            piece.iter_mut().for_each(|b| *b ^= 0x5A);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen, [PIECE, PIECE, PIECE, 5]);
        let mut whole = ChecksumAlgorithm::Crc32.into_impl();
        whole.update(&data);
        assert_eq!(
            sum.value().as_deref(),
            Some(String::from_utf8_lossy(whole.header_value().as_bytes()).as_ref())
        );
        assert!(data.iter().enumerate().all(|(i, b)| *b == (i as u8) ^ 0x5A));
    }

    #[test]
    fn a_failed_piece_stops_the_pass() {
        let mut data = vec![0u8; 2 * PIECE];
        let mut calls = 0;
        let r = encrypt_summed(&mut data, &mut BodyChecksum::none(), |_| {
            calls += 1;
            Err("refused")
        });
        assert_eq!((r, calls), (Err("refused"), 1));
    }
}
