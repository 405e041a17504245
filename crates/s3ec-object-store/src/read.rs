//! Turning fetched ciphertext into plaintext: whole objects (authenticated before anything is returned), CTR
//! windows (unauthenticated, legacy opt-in), and the cache of verified plaintext.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{Attributes, GetRange, ObjectMeta};
use s3ec_crypto::{CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, DataKey, BLOCK_LEN, TAG_LEN};
use s3ec_format::{AlgorithmSuite, ContentNonce, StringMap};

use crate::error::Error;

/// A whole object, authenticated, with what a reader sees of it.
#[derive(Clone)]
pub(crate) struct Verified {
    /// The inner store's metadata with the plaintext size.
    pub(crate) meta: ObjectMeta,
    /// The attributes without the envelope.
    pub(crate) attributes: Attributes,
    /// The encryption context the read asserted: a cached copy serves only reads asserting the same one.
    pub(crate) context: StringMap,
    pub(crate) plaintext: Bytes,
}

// Plaintext never reaches Debug output: only its length.
impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("meta", &self.meta)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

/// Decrypts a whole stored object (ciphertext, then the tag for GCM) held in `buf`; nothing comes back unless
/// it authenticated (GCM) or unpadded (legacy CBC, admitted by the policy before the key was unwrapped).
pub(crate) fn open_whole(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    mut buf: BytesMut,
) -> Result<Bytes, Error> {
    let len = match suite {
        AlgorithmSuite::AesCbc => {
            let ContentNonce::Iv(iv) = nonce else {
                return Err(s3ec_crypto::CryptoError::InvalidNonce("CBC needs an IV").into());
            };
            CbcDecryptor::open_in_place(key, iv, &mut buf)?.len()
        }
        _ => ContentDecryptor::open_in_place(suite, key, nonce, &mut buf)?.len(),
    };
    buf.truncate(len);
    Ok(buf.freeze())
}

/// The plaintext size of a GCM object of `stored` bytes, as `head` and `list` report it.
///
/// Listings carry no metadata, so the suite is assumed to be GCM (every object written by this store and by the
/// V2+ clients); a legacy CBC object is listed 16 bytes short of its ciphertext, and `get` returns its exact size.
pub(crate) fn listed_size(stored: u64) -> u64 {
    stored.saturating_sub(TAG_LEN as u64)
}

/// Resolves `range` against a plaintext of `len` bytes with `object_store`'s rules.
pub(crate) fn resolve(range: &GetRange, len: u64) -> Result<Range<u64>, Error> {
    range.as_range(len).map_err(|_| {
        let (start, end) = match range {
            GetRange::Bounded(r) => (r.start, r.end),
            GetRange::Offset(o) => (*o, u64::MAX),
            GetRange::Suffix(n) => (len.saturating_sub(*n), len),
        };
        Error::InvalidRange { start, end, len }
    })
}

/// The ciphertext to fetch for a plaintext `range` of a GCM object whose size is not known yet: from the AES
/// block holding the first byte; a suffix is widened by the tag and one block so that its first block is
/// covered whatever the object's size.
pub(crate) fn ciphertext_request(range: &GetRange) -> GetRange {
    let block = BLOCK_LEN as u64;
    match range {
        GetRange::Bounded(r) => GetRange::Bounded(r.start - r.start % block..r.end),
        GetRange::Offset(o) => GetRange::Offset(o - o % block),
        GetRange::Suffix(n) => GetRange::Suffix(n.saturating_add(TAG_LEN as u64 + block - 1)),
    }
}

/// Decrypts plaintext `want` out of `fetched`, the ciphertext bytes starting at stored offset `fetched_start`,
/// with AES-CTR. UNAUTHENTICATED: callers reach this only under `RangePolicy::UnauthenticatedCtr`.
pub(crate) fn ctr_window(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    fetched: &[u8],
    fetched_start: u64,
    want: Range<u64>,
) -> Result<Bytes, Error> {
    let block = BLOCK_LEN as u64;
    let aligned = want.start - want.start % block;
    let end_in = want.end.checked_sub(fetched_start);
    let start_in = aligned.checked_sub(fetched_start);
    let (Some(start_in), Some(end_in)) = (start_in, end_in) else {
        return Err(Error::ShortBody {
            expected: want.end - want.start,
            got: fetched.len() as u64,
        });
    };
    if end_in > fetched.len() as u64 {
        return Err(Error::ShortBody {
            expected: end_in,
            got: fetched.len() as u64,
        });
    }
    // Both bounds are within `fetched`, a slice in memory, so they fit in usize.
    let mut buf = BytesMut::from(&fetched[start_in as usize..end_in as usize]);
    let mut ctr = CtrRangeDecryptor::new(suite, key, nonce, aligned / block)?;
    ctr.apply(&mut buf)?;
    Ok(buf.freeze().slice((want.start - aligned) as usize..))
}

/// Verified plaintext of recently read objects, keyed by path and ETag, bounded in bytes (oldest out first).
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: u64,
    entries: Mutex<(VecDeque<(Path, Verified)>, u64)>,
}

impl Cache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            capacity,
            entries: Mutex::new((VecDeque::new(), 0)),
        }
    }

    /// The entry of `path`, if any (its ETag must still be checked against the store).
    pub(crate) fn get(&self, path: &Path) -> Option<Verified> {
        let guard = self.entries.lock().ok()?;
        guard
            .0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `entry` if it has an ETag and fits.
    pub(crate) fn insert(&self, path: &Path, entry: &Verified) {
        let size = entry.plaintext.len() as u64;
        if entry.meta.e_tag.is_none() || size > self.capacity {
            return;
        }
        let Ok(mut guard) = self.entries.lock() else {
            return;
        };
        let (entries, total) = &mut *guard;
        if let Some(i) = entries.iter().position(|(p, _)| p == path) {
            if let Some((_, old)) = entries.remove(i) {
                *total -= old.plaintext.len() as u64;
            }
        }
        while *total + size > self.capacity {
            match entries.pop_front() {
                Some((_, old)) => *total -= old.plaintext.len() as u64,
                None => break,
            }
        }
        *total += size;
        entries.push_back((path.clone(), entry.clone()));
    }

    /// Forgets `path` (written, copied over or deleted through this store).
    pub(crate) fn remove(&self, path: &Path) {
        if let Ok(mut guard) = self.entries.lock() {
            let (entries, total) = &mut *guard;
            if let Some(i) = entries.iter().position(|(p, _)| p == path) {
                if let Some((_, old)) = entries.remove(i) {
                    *total -= old.plaintext.len() as u64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_requests_cover_the_first_block() {
        // For any stored size, the widened suffix starts at or before the block of the first wanted byte.
        for stored in 16u64..200 {
            for n in 1u64..200 {
                let GetRange::Suffix(k) = ciphertext_request(&GetRange::Suffix(n)) else {
                    unreachable!()
                };
                let fetched_start = stored.saturating_sub(k);
                let plain = stored - 16;
                let want = plain.saturating_sub(n);
                assert!(fetched_start <= want - want % 16, "stored {stored} n {n}");
            }
        }
    }

    #[test]
    fn cache_is_bounded_and_replaces() {
        let cache = Cache::new(10);
        let entry = |n: usize, tag: &str| Verified {
            meta: ObjectMeta {
                location: Path::from("x"),
                last_modified: Default::default(),
                size: n as u64,
                e_tag: Some(tag.into()),
                version: None,
            },
            attributes: Attributes::new(),
            context: StringMap::new(),
            plaintext: Bytes::from(vec![0; n]),
        };
        cache.insert(&Path::from("a"), &entry(6, "1"));
        cache.insert(&Path::from("b"), &entry(6, "1"));
        assert!(cache.get(&Path::from("a")).is_none(), "oldest evicted");
        cache.insert(&Path::from("b"), &entry(4, "2"));
        assert_eq!(
            cache.get(&Path::from("b")).unwrap().meta.e_tag.as_deref(),
            Some("2")
        );
        cache.insert(&Path::from("c"), &entry(11, "1"));
        assert!(
            cache.get(&Path::from("c")).is_none(),
            "larger than the cache"
        );
        cache.remove(&Path::from("b"));
        assert!(cache.get(&Path::from("b")).is_none());
    }
}
