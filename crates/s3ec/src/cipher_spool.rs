//! The spool of a put of unknown length: its ciphertext, encrypted straight into the memory that holds it (blocks
//! that never move), or into a named temporary file past the client's buffer size, complete before the request
//! goes so that the SDK can send it again.
//!
//! Each piece of plaintext is encrypted straight into its place in the spool (out of place: one pass over the
//! bytes, and the plaintext never lands there) and summed there while it is in cache. Copying it in first and
//! encrypting it in place cost a second pass, and that copy, between two buffers not in cache, took more time
//! than the encryption (`cargo xtask bench client pipeline`, the put of unknown length). A spool that grew one
//! contiguous buffer would copy every byte again (each doubling of the buffer) and fault in twice the memory.
//!
//! Memory blocks come from the client's pool of ciphertext buffers (`buffer_pool.rs`) and go back to it once the
//! request is done with them, so a put writes into memory an earlier put or upload already faulted in: fresh
//! memory cost the kernel's zeroing of every page, 28% of a put of unknown length. A pooled block is appended to
//! (never zeroed first). Without a pool (`buffer_pool_size(0)`), blocks are new memory: from [`MAPPED_BLOCK`] on,
//! anonymous mappings advised into huge pages (as a large get's plaintext buffer, `plain_buf.rs`), since the
//! first touch of fresh memory otherwise costs a page fault per 4 KiB.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body_checksum::PIECE;
use crate::buffer_pool::BufferPool;
use crate::error::Error;
use crate::plain_buf::{Grow, Mapped};

/// The first memory block: a small put takes no more than this.
const FIRST_BLOCK: usize = 64 * 1024;
/// The largest heap block (blocks double up to it), and the batch written to a file at once.
const MAX_BLOCK: usize = 4 << 20;
/// The size of every memory block after the heap blocks, each a mapping of its own: only the pages written
/// are ever backed by memory, so the last block's unused room costs address space alone.
const MAPPED_BLOCK: usize = 16 << 20;
/// How a file-backed spool is read back for sending.
const FILE_READ: usize = 1 << 20;

/// Ciphertext collected in memory up to a limit, then in a named temporary file (kept by path, so the SDK can
/// reopen it for a retry).
pub(crate) struct CipherSpool {
    limit: usize,
    /// Full memory blocks, in order (empty once the spool is in a file).
    blocks: Vec<Bytes>,
    /// The block being filled; in file mode, the batch written next.
    current: Block,
    /// Bytes in `blocks` and `current` while in memory.
    held: usize,
    file: Option<(tempfile::NamedTempFile, u64)>,
    /// Where memory blocks come from and go back to once sent (the client's), when it keeps any.
    pool: BufferPool,
}

/// A finished spool and what must live until it is sent.
pub(crate) struct SpooledCipher {
    /// Replayable: each attempt reads the blocks (cheap clones) or reopens the file.
    pub(crate) stream: ByteStream,
    /// The temporary file, deleted when dropped.
    pub(crate) guard: Option<tempfile::TempPath>,
    pub(crate) len: u64,
}

impl std::fmt::Debug for CipherSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherSpool")
            .field("limit", &self.limit)
            .field("blocks", &self.blocks.len())
            .field("held", &self.held)
            .field("in_file", &self.file.is_some())
            .finish()
    }
}

impl CipherSpool {
    /// A spool that keeps up to `limit` bytes in memory, in blocks from `pool`.
    pub(crate) fn new(limit: usize, pool: BufferPool) -> Self {
        Self {
            limit,
            blocks: Vec::new(),
            current: Block::heap(0),
            held: 0,
            file: None,
            pool,
        }
    }

    /// A memory block of `size` bytes: from the pool when it keeps buffers (memory an earlier put or upload
    /// already faulted in), else new memory (a mapping in huge pages from [`MAPPED_BLOCK`] on).
    fn block(&self, size: usize) -> Result<Block, Error> {
        if self.pool.keeps_any() {
            return Ok(Block::Pooled {
                buf: self.pool.take(size),
                size,
                pool: self.pool.clone(),
            });
        }
        if size >= MAPPED_BLOCK {
            return Ok(Block::Mapped(Mapped::new(size)?));
        }
        Ok(Block::heap(size))
    }

    /// Appends the ciphertext of `src`: each piece of it (at most [`PIECE`] bytes) goes to `seal` with its place
    /// in the spool, for `seal` to write exactly the piece's ciphertext there.
    pub(crate) async fn append<F>(&mut self, mut src: &[u8], mut seal: F) -> Result<(), Error>
    where
        F: FnMut(&[u8], Place<'_>) -> Result<(), Error>,
    {
        while !src.is_empty() {
            let mut room = self.room();
            if room == 0 {
                self.make_room().await?;
                room = self.room();
            }
            let n = room.min(src.len()).min(PIECE);
            self.current.seal(&src[..n], &mut seal)?;
            if self.file.is_none() {
                self.held += n;
            }
            src = &src[n..];
        }
        Ok(())
    }

    /// What `current` can take now without growing, and without the memory going over the limit.
    fn room(&self) -> usize {
        let free = self.current.room();
        if self.file.is_some() {
            free
        } else {
            free.min(self.limit - self.held)
        }
    }

    /// Called when `current` is full: a new block in memory, or the batch out to the file.
    async fn make_room(&mut self) -> Result<(), Error> {
        if self.file.is_some() {
            return self.flush().await;
        }
        let left = self.limit - self.held;
        if left == 0 {
            return self.spill().await;
        }
        let size = next_block_size(self.current.size(), left);
        let next = self.block(size)?;
        let full = std::mem::replace(&mut self.current, next);
        if full.len() > 0 {
            self.blocks.push(full.freeze());
        }
        Ok(())
    }

    /// Moves what memory holds to a new temporary file; from now on `current` is the batch written next.
    async fn spill(&mut self) -> Result<(), Error> {
        let named = tokio::task::spawn_blocking(tempfile::NamedTempFile::new)
            .await
            .map_err(std::io::Error::other)??;
        self.file = Some((named, 0));
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.push(std::mem::replace(&mut self.current, Block::heap(0)).freeze());
        self.held = 0;
        self.write_out(blocks).await?;
        self.current = Block::heap(MAX_BLOCK);
        Ok(())
    }

    /// Writes `current` to the file and empties it (its memory is reused).
    async fn flush(&mut self) -> Result<(), Error> {
        let batch = std::mem::replace(&mut self.current, Block::heap(0)).freeze();
        let mut back = self.write_out(vec![batch]).await?;
        let reused = back.pop().and_then(|b| b.try_into_mut().ok());
        self.current = match reused {
            // Its bytes are ciphertext already written out: each place handed out again is overwritten.
            Some(buf) if buf.len() == MAX_BLOCK => Block::Heap {
                buf: buf.into(),
                filled: 0,
            },
            _ => Block::heap(MAX_BLOCK),
        };
        Ok(())
    }

    /// Appends `blocks` to the file on a blocking thread; returns them.
    async fn write_out(&mut self, blocks: Vec<Bytes>) -> Result<Vec<Bytes>, Error> {
        use std::io::Write;
        let (named, len) = self.file.as_mut().expect("file mode");
        let mut file = named.as_file().try_clone()?;
        let blocks = tokio::task::spawn_blocking(move || {
            blocks
                .iter()
                .try_for_each(|b| file.write_all(b))
                .map(|()| blocks)
        })
        .await
        .map_err(std::io::Error::other)??;
        *len += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
        Ok(blocks)
    }

    /// The whole spool as a body the SDK can send again.
    pub(crate) async fn finish(mut self) -> Result<SpooledCipher, Error> {
        if self.file.is_some() {
            self.flush().await?;
            let (named, len) = self.file.take().expect("file mode");
            let path = named.into_temp_path();
            let stream = ByteStream::read_from()
                .path(&path)
                .buffer_size(FILE_READ)
                .build()
                .await
                .map_err(Error::io)?;
            return Ok(SpooledCipher {
                stream,
                guard: Some(path),
                len,
            });
        }
        if self.current.len() > 0 {
            self.blocks.push(self.current.freeze());
        }
        let len = self.held as u64;
        let blocks = self.blocks;
        let body = SdkBody::retryable(move || SdkBody::from_body_1_x(Blocks::new(&blocks)));
        Ok(SpooledCipher {
            stream: ByteStream::new(body),
            guard: None,
            len,
        })
    }
}

/// Where a piece's ciphertext goes: a place exactly as long as the piece (fresh memory, already zero), or the
/// end of a pooled buffer with room for it (old ciphertext there is never shown to anyone: only what is
/// appended becomes part of the block).
pub(crate) enum Place<'a> {
    Slice(&'a mut [u8]),
    Append(&'a mut Vec<u8>),
}

impl Place<'_> {
    /// Puts `bytes` (the piece's own length) there as they are.
    pub(crate) fn copy_from(self, bytes: &[u8]) {
        match self {
            Place::Slice(out) => out.copy_from_slice(bytes),
            Place::Append(buf) => buf.extend_from_slice(bytes),
        }
    }
}

/// The size of the memory block after one of `last` bytes (0: none yet), with `left` bytes of the limit
/// left: doubling from [`FIRST_BLOCK`] to [`MAX_BLOCK`], then [`MAPPED_BLOCK`] (a last, smaller one if the
/// limit is near).
fn next_block_size(last: usize, left: usize) -> usize {
    match last {
        0 => FIRST_BLOCK.min(left),
        n if n < MAX_BLOCK => (n * 2).min(left),
        _ if left < MAPPED_BLOCK => left.min(MAX_BLOCK),
        _ => MAPPED_BLOCK,
    }
}

/// A memory block being filled.
enum Block {
    /// Heap memory, its first `filled` bytes in use. Allocated zeroed (`calloc`), which for a large block is
    /// memory straight from the kernel, zero already: filling it with zeros first cost a pass over memory not
    /// in cache, 7% of a put of unknown length.
    Heap {
        buf: Vec<u8>,
        filled: usize,
    },
    Mapped(Mapped),
    /// A buffer from the client's pool, filled up to its length; it goes back to the pool once sent.
    Pooled {
        buf: Vec<u8>,
        size: usize,
        pool: BufferPool,
    },
}

impl Block {
    fn heap(size: usize) -> Self {
        Self::Heap {
            buf: vec![0; size],
            filled: 0,
        }
    }

    fn room(&self) -> usize {
        match self {
            Self::Heap { buf, filled } => buf.len() - filled,
            Self::Mapped(m) => m.room(),
            Self::Pooled { buf, size, .. } => size - buf.len(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Heap { filled, .. } => *filled,
            Self::Mapped(m) => m.len(),
            Self::Pooled { buf, .. } => buf.len(),
        }
    }

    /// The block's size as planned (what it holds when full).
    fn size(&self) -> usize {
        self.len() + self.room()
    }

    /// Has `seal` write the ciphertext of `piece` (it fits in [`Block::room`]) at the block's end.
    fn seal<F>(&mut self, piece: &[u8], seal: &mut F) -> Result<(), Error>
    where
        F: FnMut(&[u8], Place<'_>) -> Result<(), Error>,
    {
        let n = piece.len();
        match self {
            Self::Heap { buf, filled } => {
                let start = *filled;
                *filled += n;
                seal(piece, Place::Slice(&mut buf[start..start + n]))
            }
            Self::Mapped(m) => seal(piece, Place::Slice(m.grow(n))),
            // Written straight into the spare capacity: zeroing a pooled block first cost a pass over memory
            // not in cache, a quarter of a put of unknown length.
            Self::Pooled { buf, .. } => {
                let start = buf.len();
                seal(piece, Place::Append(buf))?;
                if buf.len() != start + n {
                    return Err(Error::internal("a spool piece is sealed to its own length"));
                }
                Ok(())
            }
        }
    }

    fn freeze(self) -> Bytes {
        match self {
            Self::Heap { mut buf, filled } => {
                buf.truncate(filled);
                Bytes::from(buf)
            }
            Self::Mapped(m) => m.freeze(),
            Self::Pooled { buf, pool, .. } => pool.lend(buf),
        }
    }
}

/// Memory blocks sent one after the other, each as it lies.
struct Blocks {
    left: VecDeque<Bytes>,
    len: u64,
}

impl Blocks {
    fn new(blocks: &[Bytes]) -> Self {
        Self {
            left: blocks.iter().cloned().collect(),
            len: blocks.iter().map(|b| b.len() as u64).sum(),
        }
    }
}

impl Body for Blocks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.left.pop_front();
        if let Some(b) = &next {
            self.len -= b.len() as u64;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.left.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes each byte plus 1: a stand-in for the cipher that shows each byte went through `seal` once.
    fn bump(piece: &[u8], place: Place<'_>) -> Result<(), Error> {
        assert!(piece.len() <= PIECE);
        let bumped: Vec<u8> = piece.iter().map(|b| b.wrapping_add(1)).collect();
        if let Place::Append(buf) = &place {
            assert!(
                buf.capacity() - buf.len() >= piece.len(),
                "room for the piece"
            );
        }
        place.copy_from(&bumped);
        Ok(())
    }

    /// No pool (fresh memory and mappings), and a client's pool.
    fn pools() -> [BufferPool; 2] {
        [BufferPool::new(0), BufferPool::new(64 << 20)]
    }

    async fn spool(limit: usize, input: &[u8], write: usize, pool: &BufferPool) -> SpooledCipher {
        let mut spool = CipherSpool::new(limit, pool.clone());
        for chunk in input.chunks(write) {
            spool.append(chunk, bump).await.unwrap();
        }
        spool.finish().await.unwrap()
    }

    async fn read_all(stream: ByteStream) -> Vec<u8> {
        stream.collect().await.unwrap().into_bytes().to_vec()
    }

    fn input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 1000) as u8).collect()
    }

    #[tokio::test]
    async fn memory_and_file_spools_hold_every_byte_sealed_once_in_order() {
        let data = input(MAPPED_BLOCK + 3 * MAX_BLOCK + 12345);
        let want: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
        for (limit, write) in [
            (usize::MAX, 1 << 20),
            (usize::MAX, 1000),
            (data.len(), 300_000),
            (data.len() - 1, 300_000),
            (FIRST_BLOCK + 17, 4096),
            (0, 1 << 20),
        ] {
            for pool in pools() {
                let spooled = spool(limit, &data, write, &pool).await;
                assert_eq!(spooled.len, data.len() as u64, "limit {limit}");
                assert_eq!(
                    spooled.guard.is_some(),
                    limit < data.len(),
                    "limit {limit}: file only past the limit"
                );
                assert!(
                    read_all(spooled.stream).await == want,
                    "limit {limit}, writes of {write}, pool {pool:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_memory_spool_replays_its_body_and_says_its_length() {
        let data = input(MAX_BLOCK + 99);
        let spooled = spool(usize::MAX, &data, 70_000, &BufferPool::new(64 << 20)).await;
        let body = spooled.stream.into_inner();
        assert_eq!(body.content_length(), Some(data.len() as u64));
        let again = body.try_clone().expect("a spool in memory is replayable");
        let first = ByteStream::new(body).collect().await.unwrap().into_bytes();
        let second = ByteStream::new(again).collect().await.unwrap().into_bytes();
        assert_eq!(first.len(), data.len());
        assert!(first == second);
    }

    #[tokio::test]
    async fn memory_blocks_grow_by_doubling_and_never_pass_the_limit() {
        let limit = 2 * MAX_BLOCK + 2 * MAPPED_BLOCK + 5;
        for pool in pools() {
            let mut spool = CipherSpool::new(limit, pool);
            grows_by_doubling(&mut spool, limit).await;
        }
    }

    async fn grows_by_doubling(spool: &mut CipherSpool, limit: usize) {
        spool.append(&input(limit), bump).await.unwrap();
        assert!(spool.file.is_none());
        let sizes: Vec<usize> = spool.blocks.iter().map(Bytes::len).collect();
        assert_eq!(sizes[0], FIRST_BLOCK);
        let heap = sizes
            .iter()
            .position(|&s| s == MAX_BLOCK)
            .expect("heap blocks up to the largest");
        assert!(sizes[..=heap].windows(2).all(|w| w[1] == w[0] * 2));
        assert!(sizes[heap + 1..].iter().all(|&s| s == MAPPED_BLOCK));
        assert_eq!(spool.held, limit);
        assert_eq!(sizes.iter().sum::<usize>() + spool.current.len(), limit);
        spool.append(b"x", bump).await.unwrap();
        assert!(
            spool.file.is_some(),
            "one byte past the limit goes to a file"
        );
    }

    /// A spool's memory blocks go back to the client's pool once its body is dropped, and the next spool fills
    /// them again; without a budget, nothing is kept.
    #[tokio::test]
    async fn a_second_spool_writes_into_the_blocks_of_the_first() {
        let data = input(MAPPED_BLOCK + MAX_BLOCK);
        let pool = BufferPool::new(64 << 20);
        drop(spool(usize::MAX, &data, 1 << 20, &pool).await);
        assert!(
            pool.kept_bytes() >= data.len(),
            "kept {}",
            pool.kept_bytes()
        );
        let before = pool.reused();
        let spooled = spool(usize::MAX, &data, 1 << 20, &pool).await;
        let want: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
        assert!(read_all(spooled.stream).await == want);
        // Every block of the second (FIRST_BLOCK doubling to MAX_BLOCK, then one MAPPED_BLOCK) came from the pool.
        let blocks = (FIRST_BLOCK.trailing_zeros()..=MAX_BLOCK.trailing_zeros()).count() + 1;
        assert_eq!(pool.reused() - before, blocks);
        let none = BufferPool::new(0);
        drop(spool(usize::MAX, &data, 1 << 20, &none).await);
        assert_eq!(none.kept_bytes(), 0);
    }

    #[tokio::test]
    async fn an_empty_spool_is_an_empty_body() {
        let spooled = spool(usize::MAX, &[], 1, &BufferPool::new(0)).await;
        assert_eq!(spooled.len, 0);
        assert!(read_all(spooled.stream).await.is_empty());
    }
}
