//! The cipher state of one multipart upload, sans IO: one GCM stream across parts, in order, the tag on the
//! last part.

use s3ec_crypto::ContentEncryptor;

use crate::body_checksum::{encrypt_summed, BodyChecksum};
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
        if self.poisoned {
            return Err(MultipartError::Poisoned);
        }
        if self.finished {
            return Err(MultipartError::AfterLastPart);
        }
        if !(1..=10_000).contains(&part) {
            return Err(MultipartError::PartNumber(part));
        }
        if let Some(after) = self.last_part {
            if part <= after {
                return Err(MultipartError::OutOfOrder { after, got: part });
            }
        }
        let len = data.len() as u64;
        if !is_last && !len.is_multiple_of(16) {
            return Err(MultipartError::Unaligned { part, len });
        }
        if self.total.saturating_add(len) > self.max {
            return Err(MultipartError::TooLarge);
        }
        let encryptor = self.encryptor.as_mut().ok_or(MultipartError::Poisoned)?;
        if encrypt_summed(data, checksum, |piece| encryptor.encrypt_in_place(piece)).is_err() {
            self.poisoned = true;
            return Err(MultipartError::Poisoned);
        }
        self.total += len;
        self.last_part = Some(part);
        if is_last {
            let encryptor = self.encryptor.take().ok_or(MultipartError::Poisoned)?;
            match encryptor.finish() {
                Ok(tag) => {
                    data.extend_from_slice(&tag);
                    checksum.update(&tag);
                }
                Err(_) => {
                    self.poisoned = true;
                    return Err(MultipartError::Poisoned);
                }
            }
            self.finished = true;
        }
        Ok(())
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
        let out = ContentDecryptor::open_in_place(
            AlgorithmSuite::AesGcmCommitKey,
            &key,
            &nonce,
            &mut object,
        )
        .unwrap();
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
        let out = ContentDecryptor::open_in_place(
            AlgorithmSuite::AesGcmCommitKey,
            &key,
            &nonce,
            &mut object,
        )
        .unwrap();
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
}
