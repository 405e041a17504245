//! Bodies: the encrypting request body of a streamed put, and the plaintext response bodies.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_types::body::SdkBody;
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use s3ec_crypto::{ContentEncryptor, TAG_LEN};
use tokio::sync::mpsc;

use crate::aws_chunked::{encoded_len, write_length_line, Trailer, HEADER_ROOM};
use crate::buffer_pool::BufferPool;
use crate::error::{Error, UsageError};

type BoxStdError = Box<dyn std::error::Error + Send + Sync>;

/// Size of the ciphertext frames an [`EncryptingBody`] hands out: small enough that encrypting a piece and
/// checksumming it (the trailer) both happen while it sits in the L2 cache.
pub(crate) const FRAME: usize = 256 * 1024;

/// Capacity of a frame buffer: the length line's room, a frame, the tag, and the body's end.
const FRAME_CAPACITY: usize = HEADER_ROOM + FRAME + TAG_LEN + 256;

/// Encrypts a plaintext of known length on the fly, frame by frame, and appends the tag.
///
/// The plaintext comes from an in-memory `Bytes` (shared, never copied as a whole) or a stream. Each frame is
/// encrypted straight into a buffer lent from a small pool: once the consumer (the SDK, hyper) drops a frame,
/// its buffer serves a later one, so a put never materialises an object-sized ciphertext and keeps touching
/// the same cache-resident memory. Frames hold exactly [`FRAME`] bytes of ciphertext, whatever the chunking of
/// the source; the last one also holds the tag.
///
/// With a [`Trailer`] the body is `aws-chunked`: each frame is one chunk, its length line written into room
/// kept in front of it, and the checksum is taken over each frame as it is finished (see `aws_chunked`).
///
/// The SDK cannot clone this body, so it never retries a request that carries it: a retry would need the
/// same key and IV again (FORMAT-NOTES 1.16). The put starts over with a fresh data key instead.
pub(crate) struct EncryptingBody {
    source: Option<ByteStream>,
    /// The rest of the current plaintext chunk.
    pending: Bytes,
    /// The frame being filled: the length line's room (aws-chunked only), then ciphertext.
    frame: Vec<u8>,
    pool: BufferPool,
    // The cipher context is Send but not Sync; the SDK wants Sync bodies. The lock is never contended.
    encryptor: Option<Mutex<ContentEncryptor>>,
    trailer: Option<Trailer>,
    /// A framing still to be read from the request's checksum interceptor (see [`FramingChoice`]).
    undecided: Option<FramingChoice>,
    declared: u64,
    seen: u64,
    /// Bytes of the encoded body not handed out yet.
    unsent: u64,
}

/// The framing of one put body, chosen once the request's endpoint is known (before signing) and read by
/// the body at its first frame: `Some(algorithm)` for aws-chunked with that checksum trailer, `None` for the
/// ciphertext as it is. A body whose choice was never made goes as it is, which matches the Content-Length
/// the request was built with.
#[derive(Clone, Debug, Default)]
pub(crate) struct FramingChoice(Arc<OnceLock<Option<ChecksumAlgorithm>>>);

impl FramingChoice {
    /// Records the choice; only the first one counts.
    pub(crate) fn choose(&self, trailer: Option<ChecksumAlgorithm>) {
        let _ = self.0.set(trailer);
    }

    fn chosen(&self) -> Option<ChecksumAlgorithm> {
        self.0.get().copied().flatten()
    }
}

impl EncryptingBody {
    /// Encrypts `source`, a stream that must yield exactly `declared` bytes; aws-chunked with `trailer`'s
    /// checksum when there is one.
    pub(crate) fn new(
        source: ByteStream,
        encryptor: ContentEncryptor,
        declared: u64,
        trailer: Option<Trailer>,
    ) -> Self {
        Self::start(Some(source), Bytes::new(), encryptor, declared, trailer)
    }

    /// Leaves the framing to `choice`, made before the request is sent. Until then the body announces the
    /// ciphertext's own length.
    pub(crate) fn framed_by(mut self, choice: FramingChoice) -> Self {
        self.undecided = Some(choice);
        self
    }

    /// Encrypts an in-memory plaintext (shared with the caller, read piece by piece).
    pub(crate) fn from_bytes(
        plaintext: Bytes,
        encryptor: ContentEncryptor,
        trailer: Option<Trailer>,
    ) -> Self {
        let declared = plaintext.len() as u64;
        let mut body = Self::start(None, plaintext, encryptor, declared, trailer);
        // Everything is already at hand: `pending` is the whole plaintext.
        body.seen = declared;
        body
    }

    fn start(
        source: Option<ByteStream>,
        pending: Bytes,
        encryptor: ContentEncryptor,
        declared: u64,
        trailer: Option<Trailer>,
    ) -> Self {
        let mut body = Self {
            source,
            pending,
            frame: Vec::new(),
            pool: BufferPool::new(POOL_KEEPS * FRAME_CAPACITY),
            encryptor: Some(Mutex::new(encryptor)),
            trailer: None,
            undecided: None,
            declared,
            seen: 0,
            unsent: 0,
        };
        body.frame_with(trailer);
        body
    }

    /// The length of the body on the wire (its Content-Length).
    #[cfg(test)]
    fn wire_len(&self) -> u64 {
        self.unsent
    }

    pub(crate) fn into_sdk_body(self) -> SdkBody {
        SdkBody::from_body_1_x(self)
    }

    /// Where the ciphertext starts in a frame buffer.
    fn content_start(&self) -> usize {
        if self.trailer.is_some() {
            HEADER_ROOM
        } else {
            0
        }
    }

    fn fresh_frame(&self) -> Vec<u8> {
        let mut frame = self.pool.take(FRAME_CAPACITY);
        frame.resize(self.content_start(), 0);
        frame
    }

    /// Sets the framing and starts the first frame, in the buffer already at hand (a body whose framing was
    /// deferred got one when it was made).
    fn frame_with(&mut self, trailer: Option<Trailer>) {
        self.unsent = wire_len(self.declared, trailer.as_ref());
        self.trailer = trailer;
        let mut frame = std::mem::take(&mut self.frame);
        if frame.capacity() < FRAME_CAPACITY {
            frame = self.pool.take(FRAME_CAPACITY);
        }
        frame.clear();
        frame.resize(self.content_start(), 0);
        self.frame = frame;
    }

    /// Encrypts as much of `pending` as the frame has room for; `Some` with the frame once it is full.
    fn fill(&mut self) -> Result<Option<Bytes>, Error> {
        let have = self.frame.len() - self.content_start();
        let take = self.pending.len().min(FRAME - have);
        let encryptor = self.encryptor.as_mut().expect("called while encrypting");
        let encryptor = encryptor.get_mut().unwrap_or_else(|p| p.into_inner());
        encryptor.encrypt_append(&self.pending[..take], &mut self.frame)?;
        self.pending.advance(take);
        if have + take < FRAME {
            return Ok(None);
        }
        let next = self.fresh_frame();
        let full = std::mem::replace(&mut self.frame, next);
        Ok(Some(self.emit(full, false)))
    }

    /// Ends the content with the tag and hands out the last frame (with the body's end, aws-chunked).
    fn finish(&mut self) -> Result<Bytes, Error> {
        let encryptor = self.encryptor.take().expect("called while encrypting");
        let encryptor = encryptor.into_inner().unwrap_or_else(|p| p.into_inner());
        let tag = encryptor.finish()?;
        let mut last = std::mem::take(&mut self.frame);
        last.extend_from_slice(&tag);
        Ok(self.emit(last, true))
    }

    /// Frames `buf` (aws-chunked: the length line in its room, the line end, and after the last chunk the
    /// body's end) and hands it out.
    fn emit(&mut self, mut buf: Vec<u8>, last: bool) -> Bytes {
        let start = match self.trailer.as_mut() {
            None => 0,
            Some(trailer) => {
                let content_len = buf.len() - HEADER_ROOM;
                trailer.update(&buf[HEADER_ROOM..]);
                buf.extend_from_slice(b"\r\n");
                let room: &mut [u8; HEADER_ROOM] = (&mut buf[..HEADER_ROOM])
                    .try_into()
                    .expect("the room is at the front");
                write_length_line(room, content_len)
            }
        };
        if last {
            if let Some(trailer) = self.trailer.take() {
                trailer.write_end(&mut buf);
            }
        }
        self.unsent = self.unsent.saturating_sub((buf.len() - start) as u64);
        self.pool.lend(buf).slice(start..)
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<Frame<Bytes>, BoxStdError>>> {
        self.encryptor = None;
        Poll::Ready(Some(Err(Box::new(e))))
    }
}

/// The length on the wire of the encrypted body of a `plain_len`-byte plaintext: the ciphertext and tag, or
/// with a trailer their aws-chunked encoding in [`FRAME`]-sized chunks (the last one with the tag).
pub(crate) fn wire_len(plain_len: u64, trailer: Option<&Trailer>) -> u64 {
    match trailer {
        None => plain_len + TAG_LEN as u64,
        Some(t) => {
            let frame = FRAME as u64;
            encoded_len(
                plain_len / frame,
                frame,
                plain_len % frame + TAG_LEN as u64,
                t,
            )
        }
    }
}

impl Body for EncryptingBody {
    type Data = Bytes;
    type Error = BoxStdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxStdError>>> {
        let this = self.get_mut();
        if let Some(choice) = this.undecided.take() {
            this.frame_with(choice.chosen().map(Trailer::new));
        }
        loop {
            if this.encryptor.is_none() {
                return Poll::Ready(None);
            }
            if !this.pending.is_empty() {
                match this.fill() {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(Frame::data(frame)))),
                    Ok(None) => continue,
                    Err(e) => return this.fail(e),
                }
            }
            if let Some(source) = this.source.as_mut() {
                match ready!(Pin::new(source).poll_next(cx)) {
                    Some(Ok(chunk)) => {
                        this.seen += chunk.len() as u64;
                        if this.seen > this.declared {
                            let e = Error::Usage(UsageError::BodyLength {
                                declared: this.declared,
                                actual: this.seen,
                            });
                            return this.fail(e);
                        }
                        this.pending = chunk;
                        continue;
                    }
                    Some(Err(e)) => {
                        this.encryptor = None;
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                    None => this.source = None,
                }
            }
            if this.seen != this.declared {
                let e = Error::Usage(UsageError::BodyLength {
                    declared: this.declared,
                    actual: this.seen,
                });
                return this.fail(e);
            }
            return match this.finish() {
                Ok(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
                Err(e) => this.fail(e),
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encryptor.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.encryptor, &self.undecided) {
            (Some(_), Some(choice)) => SizeHint::with_exact(wire_len(
                self.declared,
                choice.chosen().map(Trailer::new).as_ref(),
            )),
            (Some(_), None) => SizeHint::with_exact(self.unsent),
            (None, _) => SizeHint::with_exact(0),
        }
    }
}

/// Frame buffers kept for reuse: the frame being filled, the one being sent, one in flight between them.
const POOL_KEEPS: usize = 3;

/// A response body fed by a producer task through a small bounded channel (back-pressure: the producer waits
/// for the reader).
///
/// The stream ends cleanly only when the producer said it was done ([`Sink::finish`]) or, for a known length,
/// when every byte arrived. A producer that stops early (an error path that sent nothing, a panic, a file
/// shorter than authenticated) ends the stream with [`Error::BodyLength`], never as a shorter object.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    declared: Option<u64>,
    received: u64,
    finished: Arc<AtomicBool>,
    ended: bool,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxStdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxStdError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(b)) => {
                self.received += b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Some(Err(e)) => {
                self.ended = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            None => {
                self.ended = true;
                let complete = match self.declared {
                    Some(n) => self.received == n,
                    None => self.finished.load(Ordering::Acquire),
                };
                if complete {
                    Poll::Ready(None)
                } else {
                    let e = Error::from(crate::error::ObjectError::BodyLength {
                        declared: self.declared.unwrap_or(self.received),
                        actual: self.received,
                    });
                    Poll::Ready(Some(Err(Box::new(e))))
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.received)),
            None => SizeHint::default(),
        }
    }
}

/// The sending half given to a producer task.
pub(crate) struct Sink {
    tx: mpsc::Sender<Result<Bytes, Error>>,
    finished: Arc<AtomicBool>,
}

impl Sink {
    /// Sends the next item; `Err` when the reader has gone.
    pub(crate) async fn send(&self, item: Result<Bytes, Error>) -> Result<(), ()> {
        self.tx.send(item).await.map_err(|_| ())
    }

    /// The same from a blocking thread.
    pub(crate) fn blocking_send(&self, item: Result<Bytes, Error>) -> Result<(), ()> {
        self.tx.blocking_send(item).map_err(|_| ())
    }

    /// Declares the stream complete: needed for a stream of unknown length to end without an error.
    pub(crate) fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// A ByteStream whose chunks come from `sink`; `len` is the exact length when known.
pub(crate) fn channel(len: Option<u64>) -> (Sink, ByteStream) {
    let (tx, rx) = mpsc::channel(4);
    let finished = Arc::new(AtomicBool::new(false));
    let body = ChannelBody {
        rx,
        declared: len,
        received: 0,
        finished: finished.clone(),
        ended: false,
    };
    (
        Sink { tx, finished },
        ByteStream::new(SdkBody::from_body_1_x(body)),
    )
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use s3ec_crypto::{ContentDecryptor, DataKey};
    use s3ec_format::AlgorithmSuite;

    use super::*;

    const SUITE: AlgorithmSuite = AlgorithmSuite::AesGcmCommitKey;

    fn plaintext(len: usize) -> Bytes {
        (0..len).map(|i| (i * 13 + i / 509) as u8).collect()
    }

    /// Collects the frames of `body`, checking the size hints on the way; returns them.
    async fn frames(mut body: EncryptingBody) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut left = body.size_hint().exact().expect("exact size");
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            left -= data.len() as u64;
            assert_eq!(body.size_hint().exact(), Some(left));
            out.push(data);
        }
        assert_eq!(left, 0);
        out
    }

    fn open(key: &DataKey, nonce: &s3ec_format::ContentNonce, frames: &[Bytes]) -> Vec<u8> {
        let mut object: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        ContentDecryptor::open_in_place(SUITE, key, nonce, &mut object)
            .unwrap()
            .to_vec()
    }

    /// A stream of `plain` cut into chunks of `size` bytes.
    fn chunked(plain: &[u8], size: usize) -> ByteStream {
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = plain
            .chunks(size)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
            futures_util::stream::iter(chunks),
        )))
    }

    /// Every frame but the last holds exactly a frame of ciphertext, whatever the source's chunking (S3 wants
    /// the chunks of an aws-chunked body, all but the last, of at least 8 KiB); the last holds the tag too.
    fn check_frame_sizes(frames: &[Bytes]) {
        let (last, full) = frames.split_last().expect("at least the tag");
        assert!(full.iter().all(|f| f.len() == FRAME));
        assert!(last.len() >= TAG_LEN && last.len() < FRAME + TAG_LEN);
    }

    #[tokio::test]
    async fn shared_bytes_are_encrypted_in_frames() {
        let key = DataKey::generate().unwrap();
        for len in [0usize, 1, FRAME - 1, FRAME, 3 * FRAME + 17] {
            let plain = plaintext(len);
            let (enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
            // The caller keeps its handle: the body must not take the plaintext over.
            let body = EncryptingBody::from_bytes(plain.clone(), enc, None);
            assert_eq!(body.wire_len(), len as u64 + TAG_LEN as u64);
            let frames = frames(body).await;
            check_frame_sizes(&frames);
            assert_eq!(open(&key, &nonce, &frames), plain, "length {len}");
        }
    }

    #[tokio::test]
    async fn streams_of_any_chunking_are_encrypted() {
        let key = DataKey::generate().unwrap();
        let plain = plaintext(2 * FRAME + 999);
        for size in [1000usize, FRAME, FRAME + 1, plain.len()] {
            let (enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
            let body = EncryptingBody::new(chunked(&plain, size), enc, plain.len() as u64, None);
            let frames = frames(body).await;
            check_frame_sizes(&frames);
            assert_eq!(open(&key, &nonce, &frames), plain, "chunk size {size}");
        }
    }

    /// CRC-32 (IEEE), bit by bit: an implementation independent of the one the body uses.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Decodes an aws-chunked body strictly: each chunk's length line, data and line end; the zero chunk;
    /// exactly one trailer line; the empty line; nothing after. Returns the content, the chunk sizes and the
    /// trailer line.
    fn decode(mut wire: &[u8]) -> (Vec<u8>, Vec<usize>, String) {
        let mut content = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let eol = wire
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a length line");
            let hex = std::str::from_utf8(&wire[..eol]).unwrap();
            assert!(
                hex.bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
                "{hex}"
            );
            let size = usize::from_str_radix(hex, 16).unwrap();
            wire = &wire[eol + 2..];
            if size == 0 {
                break;
            }
            sizes.push(size);
            content.extend_from_slice(&wire[..size]);
            assert_eq!(&wire[size..size + 2], b"\r\n");
            wire = &wire[size + 2..];
        }
        let eol = wire
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a trailer line");
        let trailer = String::from_utf8(wire[..eol].to_vec()).unwrap();
        assert_eq!(&wire[eol..], b"\r\n\r\n", "the body ends after the trailer");
        (content, sizes, trailer)
    }

    /// With a trailer the body is aws-chunked: it decodes to the ciphertext and tag, its chunks are the
    /// frames, the trailer is the CRC32 of the ciphertext, and the length announced up front is exact.
    #[tokio::test]
    async fn aws_chunked_bodies_carry_the_ciphertexts_crc32_as_a_trailer() {
        use aws_smithy_checksums::ChecksumAlgorithm;
        use base64::Engine as _;
        let key = DataKey::generate().unwrap();
        for len in [
            0usize,
            5,
            FRAME - 16,
            FRAME - 1,
            FRAME,
            FRAME + 1,
            2 * FRAME + 999,
        ] {
            let plain = plaintext(len);
            for source in ["bytes", "stream of 1000", "stream of FRAME + 1"] {
                let (enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
                let trailer = Some(Trailer::new(ChecksumAlgorithm::Crc32));
                let body = match source {
                    "bytes" => EncryptingBody::from_bytes(plain.clone(), enc, trailer),
                    "stream of 1000" => {
                        EncryptingBody::new(chunked(&plain, 1000), enc, len as u64, trailer)
                    }
                    _ => EncryptingBody::new(chunked(&plain, FRAME + 1), enc, len as u64, trailer),
                };
                let announced = body.wire_len();
                assert_eq!(
                    announced,
                    wire_len(len as u64, Some(&Trailer::new(ChecksumAlgorithm::Crc32)))
                );
                let wire: Vec<u8> = frames(body).await.iter().flat_map(|f| f.to_vec()).collect();
                assert_eq!(wire.len() as u64, announced, "length {len}, {source}");
                let (object, sizes, trailer) = decode(&wire);
                let (last, full) = sizes.split_last().unwrap();
                assert!(
                    full.iter().all(|&s| s == FRAME) && *last >= TAG_LEN,
                    "{sizes:?}"
                );
                let crc =
                    base64::engine::general_purpose::STANDARD.encode(crc32(&object).to_be_bytes());
                assert_eq!(trailer, format!("x-amz-checksum-crc32:{crc}"));
                let frames = [Bytes::from(object)];
                assert_eq!(open(&key, &nonce, &frames), plain, "length {len}, {source}");
            }
        }
    }

    #[tokio::test]
    async fn a_stream_longer_or_shorter_than_declared_is_an_error() {
        let key = DataKey::generate().unwrap();
        let plain = plaintext(5000);
        for declared in [4999u64, 5001] {
            let (enc, _) = ContentEncryptor::new(SUITE, &key).unwrap();
            let source = ByteStream::from(plain.clone());
            let mut body = EncryptingBody::new(source, enc, declared, None);
            let mut failed = false;
            while let Some(frame) = body.frame().await {
                if let Err(e) = frame {
                    let e = e.downcast::<Error>().expect("an s3ec error");
                    assert!(
                        matches!(*e, Error::Usage(UsageError::BodyLength { .. })),
                        "{e:?}"
                    );
                    failed = true;
                }
            }
            assert!(failed, "declared {declared}");
        }
    }

    /// Frame buffers come back from the consumer and serve later frames: a long put allocates a handful.
    #[tokio::test]
    async fn frame_buffers_are_reused_once_dropped() {
        let key = DataKey::generate().unwrap();
        let (enc, _) = ContentEncryptor::new(SUITE, &key).unwrap();
        let mut body = EncryptingBody::from_bytes(plaintext(20 * FRAME), enc, None);
        let mut addresses = std::collections::HashSet::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            addresses.insert(data.as_ptr() as usize);
        }
        assert!(addresses.len() <= POOL_KEEPS, "{} buffers", addresses.len());
    }

    /// A producer that stops early (it died, or a spool file was shortened) must not end the plaintext stream
    /// as if the object were shorter.
    #[tokio::test]
    async fn a_stream_that_stops_early_is_an_error() {
        for len in [Some(10), None] {
            let (sink, stream) = channel(len);
            tokio::spawn(async move {
                let _ = sink.send(Ok(Bytes::from_static(b"abcd"))).await;
            });
            let r = stream.collect().await;
            assert!(r.is_err(), "declared {len:?}: ended cleanly after 4 bytes");
        }
    }
}
