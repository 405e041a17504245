//! The cipher state of one multipart upload, sans IO: one GCM stream across parts, in order, the tag on the
//! last part.

use s3ec_crypto::{ContentEncryptor, CryptoError};

use crate::body_checksum::{BodyChecksum, PIECE};
use crate::error::MultipartError;

/// The cipher state of one upload; sans IO.
pub struct PartCipher {
    encryptor: Option<ContentEncryptor>,
    last_part: Option<i32>,
    finished: bool,
    poisoned: bool,
    max: u64,
    total: u64,
}

impl std::fmt::Debug for PartCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartCipher")
            .field("last_part", &self.last_part)
            .field("finished", &self.finished)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl PartCipher {
    /// A cipher for an upload whose plaintext may not exceed `max` bytes.
    pub fn new(encryptor: ContentEncryptor, max: u64) -> Self {
        Self {
            encryptor: Some(encryptor),
            last_part: None,
            finished: false,
            poisoned: false,
            max,
            total: 0,
        }
    }

    /// Encrypts part `part` in place (`data` holds its plaintext); on the last part appends the tag.
    /// Any refusal leaves the state as it was; a cipher failure poisons it.
    pub fn encrypt_part(
        &mut self,
        part: i32,
        data: &mut Vec<u8>,
        is_last: bool,
    ) -> Result<(), MultipartError> {
        self.encrypt_part_summed(part, data, is_last, &mut BodyChecksum::none())
    }

    /// [`PartCipher::encrypt_part`], taking the part's checksum over its ciphertext (the tag included) in the
    /// same pass.
    pub(crate) fn encrypt_part_summed(
        &mut self,
        part: i32,
        data: &mut Vec<u8>,
        is_last: bool,
        checksum: &mut BodyChecksum,
    ) -> Result<(), MultipartError> {
        let len = data.len() as u64;
        // Refused before the cipher moves, so that a refusal leaves the state as it was.
        self.check_next(part)?;
        if !is_last && !len.is_multiple_of(16) {
            return Err(MultipartError::Unaligned { part, len });
        }
        if self.total.saturating_add(len) > self.max {
            return Err(MultipartError::TooLarge);
        }
        let mut pieces = self.part_in_pieces(part)?;
        for piece in data.chunks_mut(PIECE) {
            pieces.seal(piece, checksum)?;
        }
        pieces.end(is_last, data, checksum)
    }

    /// Starts part `part`, to be encrypted piece by piece as its plaintext arrives ([`PartInPieces`]): each
    /// piece in cache right after it was copied, instead of the whole part read first and encrypted after.
    /// Once a piece is encrypted, a refusal poisons the upload (the cipher has moved).
    pub(crate) fn part_in_pieces(&mut self, part: i32) -> Result<PartInPieces<'_>, MultipartError> {
        self.check_next(part)?;
        Ok(PartInPieces {
            cipher: self,
            part,
            len: 0,
        })
    }

    /// Whether `part` may come next.
    fn check_next(&self, part: i32) -> Result<(), MultipartError> {
        if self.poisoned {
            return Err(MultipartError::Poisoned);
        }
        if self.finished {
            return Err(MultipartError::AfterLastPart);
        }
        if !(1..=10_000).contains(&part) {
            return Err(MultipartError::PartNumber(part));
        }
        match self.last_part {
            Some(after) if part <= after => Err(MultipartError::OutOfOrder { after, got: part }),
            _ => Ok(()),
        }
    }

    /// Refuses for good: the cipher may have moved.
    fn poisoned(&mut self, error: MultipartError) -> MultipartError {
        self.poisoned = true;
        error
    }

    /// Marks the stream broken (an encrypted part was lost).
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Whether the upload may be completed.
    pub fn check_complete(&self) -> Result<(), MultipartError> {
        if self.poisoned {
            return Err(MultipartError::Poisoned);
        }
        if !self.finished {
            return Err(MultipartError::NoLastPart);
        }
        Ok(())
    }
}

/// A part being encrypted piece by piece; from [`PartCipher::part_in_pieces`].
pub(crate) struct PartInPieces<'a> {
    cipher: &'a mut PartCipher,
    part: i32,
    len: u64,
}

impl PartInPieces<'_> {
    /// Encrypts the part's next piece of plaintext in place and adds it to `checksum`.
    pub(crate) fn seal(
        &mut self,
        piece: &mut [u8],
        checksum: &mut BodyChecksum,
    ) -> Result<(), MultipartError> {
        self.encrypt(piece.len(), |e| e.encrypt_in_place(piece))?;
        checksum.update(piece);
        Ok(())
    }

    /// Encrypts the part's next piece of plaintext onto the end of `out` (whose spare capacity holds it) and
    /// adds the ciphertext to `checksum`: one pass from the caller's bytes, where a copy then [`Self::seal`]
    /// would take two.
    pub(crate) fn seal_append(
        &mut self,
        piece: &[u8],
        out: &mut Vec<u8>,
        checksum: &mut BodyChecksum,
    ) -> Result<(), MultipartError> {
        let start = out.len();
        self.encrypt(piece.len(), |e| e.encrypt_append(piece, out))?;
        checksum.update(&out[start..]);
        Ok(())
    }

    /// Runs `encrypt` on `n` more bytes of the part, unless that passes the stream's limit; a refusal or a
    /// failure poisons the upload (the cipher may have moved).
    fn encrypt(
        &mut self,
        n: usize,
        encrypt: impl FnOnce(&mut ContentEncryptor) -> Result<(), CryptoError>,
    ) -> Result<(), MultipartError> {
        let cipher = &mut *self.cipher;
        let len = self.len + n as u64;
        if cipher.total.saturating_add(len) > cipher.max {
            return Err(cipher.poisoned(MultipartError::TooLarge));
        }
        let Some(encryptor) = cipher.encryptor.as_mut() else {
            return Err(cipher.poisoned(MultipartError::Poisoned));
        };
        if encrypt(encryptor).is_err() {
            return Err(cipher.poisoned(MultipartError::Poisoned));
        }
        self.len = len;
        Ok(())
    }

    /// Ends the part whose ciphertext is `data` (every piece sealed); on the last part appends the tag to it and
    /// to `checksum`.
    pub(crate) fn end(
        self,
        is_last: bool,
        data: &mut Vec<u8>,
        checksum: &mut BodyChecksum,
    ) -> Result<(), MultipartError> {
        let cipher = self.cipher;
        let (part, len) = (self.part, self.len);
        if data.len() as u64 != len {
            return Err(cipher.poisoned(MultipartError::Poisoned));
        }
        if !is_last && !len.is_multiple_of(16) {
            return Err(cipher.poisoned(MultipartError::Unaligned { part, len }));
        }
        cipher.total += len;
        cipher.last_part = Some(part);
        if is_last {
            let tag = match cipher.encryptor.take().map(ContentEncryptor::finish) {
                Some(Ok(tag)) => tag,
                _ => return Err(cipher.poisoned(MultipartError::Poisoned)),
            };
            data.extend_from_slice(&tag);
            checksum.update(&tag);
            cipher.finished = true;
        }
        Ok(())
    }
}

/// A low-level upload in progress.
#[derive(Debug)]
pub(crate) struct UploadState {
    pub(crate) cipher: PartCipher,
    /// The instruction file to write once the upload completes.
    pub(crate) instruction: Option<crate::instruction::PendingInstruction>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_crypto::{ContentDecryptor, DataKey, TAG_LEN};
    use s3ec_format::AlgorithmSuite;

    /// Decrypts and authenticates a whole object made by [`cipher`].
    fn open(key: &DataKey, nonce: &s3ec_format::ContentNonce, object: &mut [u8]) -> Vec<u8> {
        ContentDecryptor::open_in_place(AlgorithmSuite::AesGcmCommitKey, key, nonce, object)
            .unwrap()
            .to_vec()
    }

    fn cipher() -> (PartCipher, DataKey, s3ec_format::ContentNonce) {
        let key = DataKey::generate().unwrap();
        let (enc, nonce) = ContentEncryptor::new(AlgorithmSuite::AesGcmCommitKey, &key).unwrap();
        (PartCipher::new(enc, u64::MAX), key, nonce)
    }

    #[test]
    fn parts_concatenate_into_one_authenticated_stream() {
        let (mut c, key, nonce) = cipher();
        let plain: Vec<u8> = (0..100u8).collect();
        let mut object = Vec::new();
        for (i, piece) in [&plain[..32], &plain[32..64], &plain[64..]]
            .into_iter()
            .enumerate()
        {
            let mut part = piece.to_vec();
            c.encrypt_part(i as i32 + 1, &mut part, i == 2).unwrap();
            object.extend_from_slice(&part);
        }
        c.check_complete().unwrap();
        assert_eq!(object.len(), 100 + TAG_LEN);
        let out = open(&key, &nonce, &mut object);
        assert_eq!(out, &plain[..]);
    }

    #[test]
    fn misuse_is_refused_without_advancing_the_cipher() {
        let (mut c, key, nonce) = cipher();
        let mut unaligned = vec![0u8; 17];
        assert_eq!(
            c.encrypt_part(1, &mut unaligned, false),
            Err(MultipartError::Unaligned { part: 1, len: 17 })
        );
        assert_eq!(
            c.encrypt_part(0, &mut vec![0; 16], false),
            Err(MultipartError::PartNumber(0))
        );
        assert_eq!(c.check_complete(), Err(MultipartError::NoLastPart));
        let mut first = vec![7u8; 16];
        c.encrypt_part(2, &mut first, false).unwrap();
        assert_eq!(
            c.encrypt_part(2, &mut vec![0; 16], false),
            Err(MultipartError::OutOfOrder { after: 2, got: 2 })
        );
        assert_eq!(
            c.encrypt_part(1, &mut vec![0; 16], false),
            Err(MultipartError::OutOfOrder { after: 2, got: 1 })
        );
        let mut last = vec![9u8; 5];
        c.encrypt_part(3, &mut last, true).unwrap();
        assert_eq!(
            c.encrypt_part(4, &mut vec![0; 16], true),
            Err(MultipartError::AfterLastPart)
        );
        // The refused calls did not touch the stream: the two accepted parts still decrypt.
        let mut object = [first, last].concat();
        let out = open(&key, &nonce, &mut object);
        assert_eq!(out, [[7u8; 16].as_slice(), &[9u8; 5]].concat());
    }

    #[test]
    fn a_poisoned_upload_cannot_continue_or_complete() {
        let (mut c, _, _) = cipher();
        c.encrypt_part(1, &mut vec![0; 16], false).unwrap();
        c.poison();
        assert_eq!(
            c.encrypt_part(2, &mut vec![0; 1], true),
            Err(MultipartError::Poisoned)
        );
        assert_eq!(c.check_complete(), Err(MultipartError::Poisoned));
    }

    #[test]
    fn the_length_limit_is_enforced() {
        let key = DataKey::generate().unwrap();
        let (enc, _) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key).unwrap();
        let mut c = PartCipher::new(enc, 20);
        c.encrypt_part(1, &mut vec![0; 16], false).unwrap();
        assert_eq!(
            c.encrypt_part(2, &mut vec![0; 16], true),
            Err(MultipartError::TooLarge)
        );
    }

    /// A part encrypted piece by piece, in any cut, in place or appended from the caller's bytes, continues the
    /// one GCM stream and sums exactly its ciphertext and tag.
    #[test]
    fn pieces_encrypt_and_sum_the_part() {
        use aws_smithy_checksums::ChecksumAlgorithm;
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 31) as u8).collect();
        let (first, last) = plain.split_at(512);
        for appended in [false, true] {
            for cut in [1, 7, 16, 100, 512] {
                let (mut c, key, nonce) = cipher();
                let mut object = Vec::new();
                let mut sum = BodyChecksum::of(Some(ChecksumAlgorithm::Crc32));
                for (i, part) in [first, last].into_iter().enumerate() {
                    let mut pieces = c.part_in_pieces(i as i32 + 1).unwrap();
                    let mut data = if appended {
                        let mut data = Vec::with_capacity(part.len() + TAG_LEN);
                        for piece in part.chunks(cut) {
                            pieces.seal_append(piece, &mut data, &mut sum).unwrap();
                        }
                        data
                    } else {
                        let mut data = part.to_vec();
                        for piece in data.chunks_mut(cut) {
                            pieces.seal(piece, &mut sum).unwrap();
                        }
                        data
                    };
                    pieces.end(i == 1, &mut data, &mut sum).unwrap();
                    object.extend_from_slice(&data);
                }
                c.check_complete().unwrap();
                let mut whole = BodyChecksum::of(Some(ChecksumAlgorithm::Crc32));
                whole.update(&object);
                let case = format!("pieces of {cut}, appended {appended}");
                assert_eq!(sum.value(), whole.value(), "{case}");
                let out = open(&key, &nonce, &mut object);
                assert_eq!(out, &plain[..], "{case}");
            }
        }
    }

    /// Once a piece is encrypted the cipher has moved: a refusal after that poisons the upload.
    #[test]
    fn a_refusal_after_a_piece_poisons_the_upload() {
        let key = DataKey::generate().unwrap();
        let (enc, _) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key).unwrap();
        let mut c = PartCipher::new(enc, 40);
        let mut pieces = c.part_in_pieces(1).unwrap();
        pieces
            .seal(&mut [0; 16], &mut BodyChecksum::none())
            .unwrap();
        assert_eq!(
            pieces.seal(&mut [0; 25], &mut BodyChecksum::none()),
            Err(MultipartError::TooLarge)
        );
        assert_eq!(c.part_in_pieces(2).err(), Some(MultipartError::Poisoned));

        // A piece appended where there is no room is refused, and poisons too.
        let (enc, _) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key).unwrap();
        let mut c = PartCipher::new(enc, u64::MAX);
        let mut pieces = c.part_in_pieces(1).unwrap();
        let mut full = Vec::with_capacity(8);
        assert_eq!(
            pieces.seal_append(&[0; 16], &mut full, &mut BodyChecksum::none()),
            Err(MultipartError::Poisoned)
        );
        assert!(full.is_empty());
        assert_eq!(c.part_in_pieces(1).err(), Some(MultipartError::Poisoned));

        let (enc, _) = ContentEncryptor::new(AlgorithmSuite::AesGcm, &key).unwrap();
        let mut c = PartCipher::new(enc, u64::MAX);
        let mut pieces = c.part_in_pieces(1).unwrap();
        let mut data = vec![0; 17];
        pieces.seal(&mut data, &mut BodyChecksum::none()).unwrap();
        assert_eq!(
            pieces.end(false, &mut data, &mut BodyChecksum::none()),
            Err(MultipartError::Unaligned { part: 1, len: 17 })
        );
        assert_eq!(c.check_complete(), Err(MultipartError::Poisoned));
    }
}
