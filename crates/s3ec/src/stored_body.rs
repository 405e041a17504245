//! The body of a stored GCM object as it arrives, chunk by chunk: which bytes are ciphertext, which the 16-byte
//! tag at its end, and whether it has exactly the declared length.

use s3ec_crypto::TAG_LEN;

use crate::error::{DecryptFailure, Error, ObjectError};

/// Splits a `stored_len`-byte body (ciphertext then tag) into its two parts across any chunking.
#[derive(Debug)]
pub(crate) struct TagSplitter {
    stored_len: u64,
    seen: u64,
    tag: [u8; TAG_LEN],
}

impl TagSplitter {
    /// For a body declared `stored_len` bytes long; shorter than a tag cannot be a GCM object.
    pub(crate) fn new(stored_len: u64) -> Result<Self, Error> {
        if stored_len < TAG_LEN as u64 {
            return Err(Error::Decrypt(DecryptFailure::Authentication));
        }
        Ok(Self {
            stored_len,
            seen: 0,
            tag: [0; TAG_LEN],
        })
    }

    /// Length of the ciphertext.
    pub(crate) fn body_len(&self) -> u64 {
        self.stored_len - TAG_LEN as u64
    }

    /// Takes the next chunk and returns how many of its leading bytes are ciphertext; the rest belongs to the
    /// tag and is kept. A body running past its declared length is an error.
    pub(crate) fn split(&mut self, chunk: &[u8]) -> Result<usize, Error> {
        let before = self.seen;
        self.seen += chunk.len() as u64;
        if self.seen > self.stored_len {
            return Err(Error::Object(ObjectError::BodyLength {
                declared: self.stored_len,
                actual: self.seen,
            }));
        }
        let body_len = self.body_len();
        let content = body_len.saturating_sub(before).min(chunk.len() as u64) as usize;
        let tail = &chunk[content..];
        if !tail.is_empty() {
            // The tail starts at or after the end of the ciphertext, and `seen <= stored_len` bounds it.
            let at = (before + content as u64 - body_len) as usize;
            self.tag[at..at + tail.len()].copy_from_slice(tail);
        }
        Ok(content)
    }

    /// The tag, once the whole body arrived; a body that ended early is an error.
    pub(crate) fn tag(&self) -> Result<&[u8; TAG_LEN], Error> {
        if self.seen != self.stored_len {
            return Err(Error::Object(ObjectError::BodyLength {
                declared: self.stored_len,
                actual: self.seen,
            }));
        }
        Ok(&self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_chunking_gives_the_same_split() {
        let stored: Vec<u8> = (0..40u8).collect();
        for size in 1..=stored.len() {
            let mut s = TagSplitter::new(40).unwrap();
            let mut body = Vec::new();
            for chunk in stored.chunks(size) {
                let n = s.split(chunk).unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(body, &stored[..24], "chunk size {size}");
            assert_eq!(s.tag().unwrap(), &stored[24..], "chunk size {size}");
        }
    }

    #[test]
    fn lengths_other_than_declared_are_refused() {
        assert!(matches!(
            TagSplitter::new(15),
            Err(Error::Decrypt(DecryptFailure::Authentication))
        ));
        let mut s = TagSplitter::new(20).unwrap();
        s.split(&[0; 19]).unwrap();
        assert!(matches!(
            s.tag(),
            Err(Error::Object(ObjectError::BodyLength {
                declared: 20,
                actual: 19
            }))
        ));
        assert!(matches!(
            s.split(&[0; 2]),
            Err(Error::Object(ObjectError::BodyLength {
                declared: 20,
                actual: 21
            }))
        ));
    }
}
