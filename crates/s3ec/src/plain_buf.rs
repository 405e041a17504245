//! Where an authenticated get puts the plaintext before releasing it: a `Vec` (the caller's, or a fresh one),
//! or, for a large object read into fresh memory, an anonymous mapping that asks the kernel for huge pages.
//!
//! Why the mapping: the first touch of fresh memory costs a page fault per 4 KiB page. Measured here (64 MiB
//! in-memory get, `cargo xtask bench client pipeline`), those faults held a get into a fresh `Vec` to about
//! 1.5 GB/s, while the same get into a reused buffer ran at about 5.5 GB/s. With `MADV_HUGEPAGE` a fault maps
//! 2 MiB at a time. Where the kernel gives no huge pages the mapping behaves as ordinary memory.

use bytes::Bytes;
use memmap2::MmapMut;
use s3ec_crypto::{ContentDecryptor, CryptoError};
use zeroize::Zeroize;

/// Objects from this size on are read into a [`Mapped`] buffer: below it, the faults cost little and a mapping
/// its own system calls.
const MAPPED_FROM: usize = 4 << 20;

/// A fresh plaintext buffer of a known final size: a `Vec`, or a [`Mapped`] buffer from [`MAPPED_FROM`] on.
pub(crate) enum PlainBuf {
    /// A small buffer.
    Vec(Vec<u8>),
    /// A large buffer.
    Mapped(Mapped),
}

impl PlainBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> std::io::Result<Self> {
        if capacity >= MAPPED_FROM {
            Mapped::new(capacity).map(Self::Mapped)
        } else {
            Ok(Self::Vec(Vec::with_capacity(capacity)))
        }
    }

    /// The contents as `Bytes`, without a copy.
    pub(crate) fn freeze(self) -> Bytes {
        match self {
            Self::Vec(v) => Bytes::from(v),
            Self::Mapped(m) => m.freeze(),
        }
    }
}

impl Grow for PlainBuf {
    fn try_reserve(&mut self, n: usize) -> std::io::Result<()> {
        match self {
            Self::Vec(v) => Grow::try_reserve(v, n),
            Self::Mapped(m) => m.try_reserve(n),
        }
    }

    fn grow(&mut self, n: usize) -> &mut [u8] {
        match self {
            Self::Vec(v) => v.grow(n),
            Self::Mapped(m) => m.grow(n),
        }
    }

    fn decrypt_onto(
        &mut self,
        dec: &mut ContentDecryptor,
        piece: &[u8],
    ) -> Result<(), CryptoError> {
        match self {
            Self::Vec(v) => v.decrypt_onto(dec, piece),
            Self::Mapped(m) => m.decrypt_onto(dec, piece),
        }
    }

    fn wipe(&mut self) {
        match self {
            Self::Vec(v) => v.wipe(),
            Self::Mapped(m) => m.wipe(),
        }
    }
}

/// A plaintext destination that grows by zero-filled tails, so that ciphertext can be decrypted straight into
/// it (out of place, no copy first).
pub(crate) trait Grow {
    /// Makes room for `n` more bytes up front, so that growing up to there never reallocates; an allocation
    /// that fails is an error, never an abort. Callers bound `n` (a length a server declared is no measure of
    /// the bytes that will arrive).
    fn try_reserve(&mut self, n: usize) -> std::io::Result<()>;

    /// Extends the contents by `n` zero bytes and returns them.
    fn grow(&mut self, n: usize) -> &mut [u8];

    /// Decrypts `piece` (unverified) onto the end of the contents, in one pass.
    fn decrypt_onto(
        &mut self,
        dec: &mut ContentDecryptor,
        piece: &[u8],
    ) -> Result<(), CryptoError> {
        dec.decrypt_unverified_to(piece, self.grow(piece.len()))
    }

    /// Zeroes everything written and empties the buffer.
    fn wipe(&mut self);
}

impl Grow for Vec<u8> {
    fn try_reserve(&mut self, n: usize) -> std::io::Result<()> {
        self.try_reserve_exact(n)
            .map_err(|_| std::io::ErrorKind::OutOfMemory.into())
    }

    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.len();
        if self.capacity() - start < n {
            move_to_larger(self, start + n);
        }
        // With the capacity reserved this zero-fills in place: cheaper than copying the ciphertext in first,
        // and it leaves the tail in cache for the decryption that follows.
        self.resize(start + n, 0);
        &mut self[start..]
    }

    /// Into the spare capacity, without zero-filling it first: for a reused buffer, whose memory is not in
    /// cache, that fill was a pass over memory as costly as the decryption (a quarter of the CPU time of a
    /// get into a reused buffer in `cargo xtask bench client pipeline`).
    fn decrypt_onto(
        &mut self,
        dec: &mut ContentDecryptor,
        piece: &[u8],
    ) -> Result<(), CryptoError> {
        let start = self.len();
        if self.capacity() - start < piece.len() {
            move_to_larger(self, start + piece.len());
        }
        dec.decrypt_unverified_append(piece, self)
    }

    fn wipe(&mut self) {
        // Only what was written: the spare capacity (of a caller's reused buffer, or never touched) holds
        // nothing of this read, since growing moves the contents itself and wipes the old allocation.
        self.as_mut_slice().zeroize();
        self.clear();
    }
}

/// Moves `v` into an allocation of at least `needed` bytes (doubling), wiping the old one: a plain `Vec`
/// reallocation would leave a copy of the plaintext behind in freed memory.
fn move_to_larger(v: &mut Vec<u8>, needed: usize) {
    let mut larger = Vec::with_capacity(needed.max(v.capacity().saturating_mul(2)));
    larger.extend_from_slice(v);
    v.as_mut_slice().zeroize();
    *v = larger;
}

/// A fixed-size anonymous mapping advised into huge pages, filled from the front.
pub(crate) struct Mapped {
    map: MmapMut,
    len: usize,
}

impl Mapped {
    /// A mapping of `capacity` bytes (the kernel hands it out zeroed).
    pub(crate) fn new(capacity: usize) -> std::io::Result<Self> {
        let map = MmapMut::map_anon(capacity)?;
        // Advice only: a kernel without transparent huge pages refuses it and the mapping stays as it is.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self { map, len: 0 })
    }

    /// Bytes that can still be added.
    pub(crate) fn room(&self) -> usize {
        self.map.len() - self.len
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The contents as `Bytes`, without a copy; the mapping is released when the last `Bytes` goes.
    pub(crate) fn freeze(self) -> Bytes {
        if self.len == self.map.len() {
            Bytes::from_owner(self.map)
        } else {
            Bytes::from_owner(self.map).slice(..self.len)
        }
    }
}

impl Grow for Mapped {
    fn try_reserve(&mut self, n: usize) -> std::io::Result<()> {
        // The mapping's size is fixed when it is made.
        debug_assert!(self.map.len() - self.len >= n, "a mapping cannot grow");
        Ok(())
    }

    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.len;
        self.len += n;
        // Callers grow by at most the capacity they asked for; a slice index past it panics, never overflows.
        &mut self.map[start..start + n]
    }

    fn wipe(&mut self) {
        self.map[..self.len].zeroize();
        self.len = 0;
    }
}

/// Wipes the buffer when dropped armed: on an error return and on cancellation alike.
pub(crate) struct Wipe<'a, B: Grow>(Option<&'a mut B>);

impl<'a, B: Grow> Wipe<'a, B> {
    /// Guards `buf` until [`Wipe::disarm`].
    pub(crate) fn new(buf: &'a mut B) -> Self {
        Self(Some(buf))
    }

    /// The guarded buffer.
    pub(crate) fn buf(&mut self) -> &mut B {
        self.0.as_mut().expect("armed until disarmed")
    }

    /// Keeps the contents: the plaintext is authenticated.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<B: Grow> Drop for Wipe<'_, B> {
    fn drop(&mut self) {
        if let Some(buf) = self.0.take() {
            buf.wipe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill<B: Grow>(buf: &mut B, pieces: &[&[u8]]) {
        for p in pieces {
            buf.grow(p.len()).copy_from_slice(p);
        }
    }

    #[test]
    fn both_buffers_grow_by_zeroed_tails_and_keep_order() {
        let mut v = Vec::with_capacity(10);
        assert_eq!(v.grow(3), &[0, 0, 0]);
        v.clear();
        fill(&mut v, &[b"abc", b"", b"defg"]);
        assert_eq!(v, b"abcdefg");

        let mut m = Mapped::new(MAPPED_FROM).unwrap();
        assert!(matches!(
            PlainBuf::with_capacity(MAPPED_FROM).unwrap(),
            PlainBuf::Mapped(_)
        ));
        assert!(matches!(
            PlainBuf::with_capacity(MAPPED_FROM - 1).unwrap(),
            PlainBuf::Vec(_)
        ));
        assert!(m.grow(5).iter().all(|&b| b == 0));
        m.wipe();
        fill(&mut m, &[b"abc", b"", b"defg"]);
        assert_eq!(&m.freeze()[..], b"abcdefg");

        let mut full = Mapped::new(4).unwrap();
        fill(&mut full, &[b"wxyz"]);
        assert_eq!(&full.freeze()[..], b"wxyz");
    }

    #[test]
    fn an_armed_guard_wipes_and_a_disarmed_one_keeps() {
        let mut v = Vec::with_capacity(8);
        {
            let mut g = Wipe::new(&mut v);
            fill(g.buf(), &[b"secret"]);
        }
        assert!(v.is_empty());
        assert!(v.spare_capacity_mut().len() >= 6);

        let mut m = Mapped::new(16).unwrap();
        {
            let mut g = Wipe::new(&mut m);
            fill(g.buf(), &[b"secret"]);
        }
        assert_eq!(m.len, 0);
        assert!(m.map.iter().all(|&b| b == 0), "the mapping is zeroed");

        let mut kept = Vec::new();
        let mut g = Wipe::new(&mut kept);
        fill(g.buf(), &[b"plain"]);
        g.disarm();
        assert_eq!(kept, b"plain");
    }
}
