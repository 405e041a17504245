//! A write-once byte store: in memory up to a limit, then in an anonymous temporary file.

use std::io::{Seek, SeekFrom};

use bytes::{Bytes, BytesMut};
use tokio::fs::File;
use tokio::io::AsyncWriteExt;

/// Writes to the file in batches of this size, so small network chunks do not each cost a blocking call.
const FILE_BATCH: usize = 1 << 20;

/// Collects bytes in memory up to `limit`, then moves them to an unnamed temporary file (deleted by the OS when
/// dropped, readable by no other process).
#[derive(Debug)]
pub struct Spool {
    limit: usize,
    memory: BytesMut,
    file: Option<File>,
    len: u64,
}

/// The contents of a finished [`Spool`].
#[derive(Debug)]
pub enum Spooled {
    /// Everything fit in memory.
    Memory(Bytes),
    /// Everything is in this file, positioned at its start.
    File {
        /// The temporary file.
        file: File,
        /// Its length.
        len: u64,
    },
}

impl Spool {
    /// A spool that keeps up to `limit` bytes in memory.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            memory: BytesMut::new(),
            file: None,
            len: 0,
        }
    }

    /// A spool that goes to a file at once (the size is known to exceed the memory limit).
    pub fn file_backed() -> Self {
        Self::new(0)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the spool has moved to a file.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Appends `data`.
    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.len += data.len() as u64;
        if self.file.is_none() && self.memory.len() + data.len() <= self.limit {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        if self.file.is_none() {
            let file = tokio::task::spawn_blocking(tempfile::tempfile)
                .await
                .map_err(std::io::Error::other)??;
            self.file = Some(File::from_std(file));
        }
        self.memory.extend_from_slice(data);
        if self.memory.len() >= FILE_BATCH {
            self.flush_batch().await?;
        }
        Ok(())
    }

    async fn flush_batch(&mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.write_all(&self.memory).await?;
            self.memory.clear();
        }
        Ok(())
    }

    /// Ends writing and hands back the contents.
    pub async fn finish(mut self) -> std::io::Result<Spooled> {
        if self.file.is_none() {
            return Ok(Spooled::Memory(self.memory.freeze()));
        }
        self.flush_batch().await?;
        let mut file = self.file.take().expect("checked above");
        file.flush().await?;
        let mut std = file.into_std().await;
        let std = tokio::task::spawn_blocking(move || std.seek(SeekFrom::Start(0)).map(|_| std))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Spooled::File {
            file: File::from_std(std),
            len: self.len,
        })
    }
}

impl Spooled {
    /// Length of the contents.
    pub fn len(&self) -> u64 {
        match self {
            Spooled::Memory(b) => b.len() as u64,
            Spooled::File { len, .. } => *len,
        }
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn read_all(s: Spooled) -> Vec<u8> {
        match s {
            Spooled::Memory(b) => b.to_vec(),
            Spooled::File { mut file, len } => {
                let mut v = Vec::new();
                file.read_to_end(&mut v).await.unwrap();
                assert_eq!(v.len() as u64, len);
                v
            }
        }
    }

    #[tokio::test]
    async fn stays_in_memory_up_to_the_limit() {
        let mut s = Spool::new(10);
        s.write(b"0123456789").await.unwrap();
        assert!(!s.on_disk());
        let out = s.finish().await.unwrap();
        assert!(matches!(out, Spooled::Memory(_)));
        assert_eq!(read_all(out).await, b"0123456789");
    }

    #[tokio::test]
    async fn moves_to_a_file_past_the_limit_and_keeps_order() {
        let mut s = Spool::new(10);
        let mut want = Vec::new();
        for i in 0..300u32 {
            let chunk: Vec<u8> = (0..(i % 7000)).map(|j| (i + j) as u8).collect();
            want.extend_from_slice(&chunk);
            s.write(&chunk).await.unwrap();
        }
        assert!(s.on_disk());
        assert_eq!(s.len(), want.len() as u64);
        let out = s.finish().await.unwrap();
        assert!(matches!(out, Spooled::File { .. }));
        assert_eq!(read_all(out).await, want);
    }

    #[tokio::test]
    async fn file_backed_spool_of_nothing_is_empty() {
        let s = Spool::file_backed();
        let out = s.finish().await.unwrap();
        assert!(out.is_empty());
    }
}
