//! Buffers lent to the HTTP stack as `Bytes` and given back when it drops them, so that a long transfer writes
//! into the same few buffers again and again instead of into fresh memory: every first touch of fresh memory
//! costs a page fault and the kernel's zeroing of the page, which for a part of several MiB takes longer than
//! encrypting it (`cargo xtask bench client pipeline`, the upload lines).
//!
//! Only ciphertext goes through a pool (it is no secret), so nothing is wiped. A buffer comes back only when
//! the last `Bytes` pointing into it is dropped, so a reused buffer is never seen by anyone else.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// A pool of buffers of at least `capacity` bytes, keeping at most `keeps` of them between loans.
#[derive(Clone)]
pub(crate) struct BufferPool(Arc<Shared>);

struct Shared {
    kept: Mutex<Vec<Vec<u8>>>,
    keeps: usize,
    capacity: usize,
}

impl BufferPool {
    /// A pool that keeps up to `keeps` buffers of `capacity` bytes.
    pub(crate) fn new(keeps: usize, capacity: usize) -> Self {
        Self(Arc::new(Shared {
            kept: Mutex::new(Vec::new()),
            keeps,
            capacity,
        }))
    }

    /// An empty buffer with room for `capacity` bytes: a kept one, else a new one.
    pub(crate) fn take(&self) -> Vec<u8> {
        let kept = self.kept().pop();
        kept.unwrap_or_else(|| Vec::with_capacity(self.0.capacity))
    }

    /// `buf` as `Bytes`, without a copy; its memory comes back to the pool when the last `Bytes` goes.
    pub(crate) fn lend(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            buf,
            pool: self.clone(),
        })
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("kept", &self.kept().len())
            .field("keeps", &self.0.keeps)
            .field("capacity", &self.0.capacity)
            .finish()
    }
}

/// A buffer out on loan.
struct Lent {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let shared = &self.pool.0;
        let mut kept = self.pool.kept();
        if kept.len() < shared.keeps && buf.capacity() >= shared.capacity {
            kept.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_only_when_its_last_bytes_is_dropped() {
        let pool = BufferPool::new(2, 64);
        let mut buf = pool.take();
        assert!(buf.capacity() >= 64);
        buf.extend_from_slice(b"ciphertext");
        let at = buf.as_ptr();
        let lent = pool.lend(buf);
        let slice = lent.slice(2..);
        drop(lent);
        // Still lent (a slice holds it): a new buffer.
        let other = pool.take();
        assert_ne!(other.as_ptr(), at);
        assert_eq!(&slice[..], b"phertext");
        drop(slice);
        let again = pool.take();
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
    }

    #[test]
    fn it_keeps_at_most_its_number_and_only_big_enough_buffers() {
        let pool = BufferPool::new(2, 64);
        let loans: Vec<Bytes> = (0..4).map(|_| pool.lend(pool.take())).collect();
        drop(loans);
        assert_eq!(pool.kept().len(), 2);
        drop(pool.lend(Vec::with_capacity(8)));
        assert_eq!(pool.kept().len(), 2);
        let small = BufferPool::new(2, 64);
        drop(small.lend(Vec::with_capacity(8)));
        assert_eq!(small.kept().len(), 0);
    }
}
