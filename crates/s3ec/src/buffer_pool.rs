//! Buffers lent to the HTTP stack as `Bytes` and given back when it drops them, so that transfers write into
//! the same few buffers again and again instead of into fresh memory: every first touch of fresh memory costs a
//! page fault and the kernel's zeroing of the page, which for a part of several MiB takes longer than
//! encrypting it (`cargo xtask bench client pipeline`, the upload lines).
//!
//! A client keeps one pool for the part buffers of all its uploads and the spool blocks of its puts of unknown
//! length ([`ClientBuilder::buffer_pool_size`]), so a request also writes into the memory of the ones before it:
//! an upload of 64 MiB in 8 MiB parts, two at once, otherwise faulted in 24 MiB of fresh memory each time and
//! spent twice the engine's CPU time per byte.
//!
//! Only ciphertext goes through a pool (it is no secret), so nothing is wiped. A buffer comes back only when
//! the last `Bytes` pointing into it is dropped, so a reused buffer is never seen by anyone else.
//!
//! [`ClientBuilder::buffer_pool_size`]: crate::ClientBuilder::buffer_pool_size

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// A pool of buffers keeping at most `budget` bytes of capacity between loans.
#[derive(Clone)]
pub(crate) struct BufferPool(Arc<Shared>);

struct Shared {
    kept: Mutex<Kept>,
    budget: usize,
    /// Buffers lent again from `kept`.
    #[cfg(test)]
    reused: std::sync::atomic::AtomicUsize,
}

/// The buffers kept, oldest first, and their capacity in all.
#[derive(Default)]
struct Kept {
    buffers: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    /// A pool that keeps buffers of up to `budget` bytes of capacity in all (0: none).
    pub(crate) fn new(budget: usize) -> Self {
        Self(Arc::new(Shared {
            kept: Mutex::new(Kept::default()),
            budget,
            #[cfg(test)]
            reused: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// An empty buffer with room for `capacity` bytes: the smallest kept one that is large enough but not more
    /// than twice that (a frame never takes a part's buffer), else a new one.
    pub(crate) fn take(&self, capacity: usize) -> Vec<u8> {
        let mut kept = self.kept();
        let fits = |b: &Vec<u8>| b.capacity() >= capacity && b.capacity() / 2 <= capacity;
        let best = (kept.buffers.iter().enumerate())
            .filter(|(_, b)| fits(b))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best.and_then(|i| kept.buffers.remove(i)) {
            Some(buf) => {
                kept.bytes -= buf.capacity();
                #[cfg(test)]
                self.0
                    .reused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Whether this pool keeps any buffer at all (a budget above 0).
    pub(crate) fn keeps_any(&self) -> bool {
        self.0.budget > 0
    }

    /// `buf` as `Bytes`, without a copy; its memory comes back to the pool when the last `Bytes` goes.
    pub(crate) fn lend(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            buf,
            pool: self.clone(),
        })
    }

    /// Keeps `buf` (emptied), the newest; the oldest kept go while the budget is exceeded, so the pool follows
    /// the sizes in use now.
    fn keep(&self, mut buf: Vec<u8>) {
        buf.clear();
        if buf.capacity() == 0 || buf.capacity() > self.0.budget {
            return;
        }
        let mut kept = self.kept();
        kept.bytes += buf.capacity();
        kept.buffers.push_back(buf);
        while kept.bytes > self.0.budget {
            let Some(old) = kept.buffers.pop_front() else {
                break;
            };
            kept.bytes -= old.capacity();
        }
    }

    /// Capacity kept now, in bytes.
    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        self.kept().bytes
    }

    /// How many buffers were lent again from those kept.
    #[cfg(test)]
    pub(crate) fn reused(&self) -> usize {
        self.0.reused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept();
        f.debug_struct("BufferPool")
            .field("kept", &kept.buffers.len())
            .field("kept_bytes", &kept.bytes)
            .field("budget", &self.0.budget)
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
        self.pool.keep(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_only_when_its_last_bytes_is_dropped() {
        let pool = BufferPool::new(128);
        let mut buf = pool.take(64);
        assert!(buf.capacity() >= 64);
        buf.extend_from_slice(b"ciphertext");
        let at = buf.as_ptr();
        let lent = pool.lend(buf);
        let slice = lent.slice(2..);
        drop(lent);
        // Still lent (a slice holds it): a new buffer.
        let other = pool.take(64);
        assert_ne!(other.as_ptr(), at);
        assert_eq!(&slice[..], b"phertext");
        drop(slice);
        let again = pool.take(64);
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
    }

    #[test]
    fn it_keeps_no_more_than_its_budget_dropping_the_oldest_first() {
        let pool = BufferPool::new(200);
        let loans: Vec<Bytes> = (0..4).map(|_| pool.lend(pool.take(64))).collect();
        drop(loans);
        assert!(pool.kept_bytes() <= 200 && pool.kept_bytes() >= 128);
        // A larger size in use now pushes the old ones out.
        let big: Vec<Vec<u8>> = (0..2).map(|_| Vec::with_capacity(100)).collect();
        let addresses: Vec<*const u8> = big.iter().map(|b| b.as_ptr()).collect();
        drop(big.into_iter().map(|b| pool.lend(b)).collect::<Vec<_>>());
        assert_eq!(pool.kept_bytes(), 200);
        let taken: Vec<Vec<u8>> = (0..2).map(|_| pool.take(100)).collect();
        let mut again: Vec<*const u8> = taken.iter().map(|b| b.as_ptr()).collect();
        again.sort();
        let mut addresses = addresses;
        addresses.sort();
        assert_eq!(again, addresses);
        assert_eq!(pool.kept_bytes(), 0);
        // A buffer larger than the whole budget is never kept.
        drop(pool.lend(Vec::with_capacity(300)));
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn a_budget_of_zero_keeps_nothing() {
        let pool = BufferPool::new(0);
        drop(pool.lend(pool.take(64)));
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn it_lends_the_smallest_fitting_buffer_and_never_one_over_twice_the_size() {
        let pool = BufferPool::new(10_000);
        let sizes = [4096, 1024, 300];
        let bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
        let by_size: Vec<(usize, *const u8)> =
            bufs.iter().map(|b| (b.capacity(), b.as_ptr())).collect();
        drop(bufs.into_iter().map(|b| pool.lend(b)).collect::<Vec<_>>());
        let at = |n: usize| by_size.iter().find(|(c, _)| *c == n).unwrap().1;
        // 1000 fits in 1024 (and in 4096, over twice its size): the 1024.
        let mid = pool.take(1000);
        assert_eq!(mid.as_ptr(), at(1024));
        // Nothing kept is within twice 100 (300 is over): a new buffer, the 300 stays.
        let small = pool.take(100);
        assert!(small.capacity() >= 100 && small.as_ptr() != at(300));
        let fit = pool.take(200);
        assert_eq!(fit.as_ptr(), at(300));
        assert_eq!(pool.kept_bytes(), 4096);
    }
}
