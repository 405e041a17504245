//! Bodies: the encrypting request body of a streamed put, and the plaintext response bodies.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use s3ec_crypto::{ContentEncryptor, TAG_LEN};
use tokio::sync::mpsc;

use crate::error::{Error, UsageError};

type BoxStdError = Box<dyn std::error::Error + Send + Sync>;

/// Size of the ciphertext frames an [`EncryptingBody`] hands out: small enough that copying a piece, encrypting
/// it and checksumming it (the SDK's CRC) all happen while it sits in the L2 cache.
pub(crate) const FRAME: usize = 256 * 1024;

/// Encrypts a plaintext of known length on the fly, frame by frame, and appends the tag.
///
/// The plaintext comes from an in-memory `Bytes` (shared, never copied as a whole) or a stream. Frames are
/// encrypted into one recycled buffer: once the consumer (the SDK, hyper) has dropped a frame, the next one
/// reuses its memory, so a put never materialises an object-sized ciphertext and touches no fresh pages.
///
/// The SDK cannot clone this body, so it never retries a request that carries it: a retry would need the
/// same key and IV again (FORMAT-NOTES 1.16). The put starts over with a fresh data key instead.
pub(crate) struct EncryptingBody {
    source: Option<ByteStream>,
    /// The rest of the current plaintext chunk.
    pending: Bytes,
    /// The recycled ciphertext buffer; frames are split off it.
    scratch: BytesMut,
    // The cipher context is Send but not Sync; the SDK wants Sync bodies. The lock is never contended.
    encryptor: Option<Mutex<ContentEncryptor>>,
    declared: u64,
    seen: u64,
}

impl EncryptingBody {
    /// Encrypts `source`, a stream that must yield exactly `declared` bytes.
    pub(crate) fn new(source: ByteStream, encryptor: ContentEncryptor, declared: u64) -> Self {
        Self {
            source: Some(source),
            pending: Bytes::new(),
            scratch: BytesMut::new(),
            encryptor: Some(Mutex::new(encryptor)),
            declared,
            seen: 0,
        }
    }

    /// Encrypts an in-memory plaintext (shared with the caller, read piece by piece).
    pub(crate) fn from_bytes(plaintext: Bytes, encryptor: ContentEncryptor) -> Self {
        let declared = plaintext.len() as u64;
        Self {
            source: None,
            pending: plaintext,
            scratch: BytesMut::new(),
            encryptor: Some(Mutex::new(encryptor)),
            declared,
            // Everything is already at hand: `pending` is the whole plaintext.
            seen: declared,
        }
    }

    pub(crate) fn into_sdk_body(self) -> SdkBody {
        SdkBody::from_body_1_x(self)
    }

    /// The next plaintext piece, encrypted: in place for a uniquely owned small chunk, otherwise encrypted
    /// straight from the plaintext into the recycled buffer (one pass, no copy first).
    fn next_frame(&mut self) -> Result<Bytes, Error> {
        let take = self.pending.len().min(FRAME);
        let encryptor = self.encryptor.as_mut().expect("called while encrypting");
        let encryptor = encryptor.get_mut().unwrap_or_else(|p| p.into_inner());
        if take == self.pending.len() {
            match std::mem::take(&mut self.pending).try_into_mut() {
                Ok(mut owned) => {
                    encryptor.encrypt_in_place(&mut owned)?;
                    return Ok(owned.freeze());
                }
                Err(shared) => self.pending = shared,
            }
        }
        // `reserve` reclaims the buffer's original allocation once every frame split off it has been dropped.
        self.scratch.reserve(FRAME);
        // Safe Rust cannot hand out the spare capacity as `&mut [u8]`; zeroing a cache-resident frame costs
        // far less than the copy it replaces.
        self.scratch.resize(take, 0);
        encryptor.encrypt_to(&self.pending[..take], &mut self.scratch)?;
        self.pending.advance(take);
        Ok(self.scratch.split().freeze())
    }

    fn fail(&mut self, e: BoxStdError) -> Poll<Option<Result<Frame<Bytes>, BoxStdError>>> {
        self.encryptor = None;
        Poll::Ready(Some(Err(e)))
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
        loop {
            if this.encryptor.is_none() {
                return Poll::Ready(None);
            }
            if !this.pending.is_empty() {
                return match this.next_frame() {
                    Ok(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
                    Err(e) => this.fail(Box::new(e)),
                };
            }
            let next = match this.source.as_mut() {
                Some(source) => ready!(Pin::new(source).poll_next(cx)),
                None => None,
            };
            match next {
                Some(Ok(chunk)) => {
                    this.seen += chunk.len() as u64;
                    if this.seen > this.declared {
                        let e = Error::Usage(UsageError::BodyLength {
                            declared: this.declared,
                            actual: this.seen,
                        });
                        return this.fail(Box::new(e));
                    }
                    this.pending = chunk;
                }
                Some(Err(e)) => return this.fail(Box::new(e)),
                None => {
                    let encryptor = this.encryptor.take().expect("checked above");
                    let encryptor = encryptor.into_inner().unwrap_or_else(|p| p.into_inner());
                    if this.seen != this.declared {
                        let e = Error::Usage(UsageError::BodyLength {
                            declared: this.declared,
                            actual: this.seen,
                        });
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                    return Poll::Ready(Some(match encryptor.finish() {
                        Ok(tag) => Ok(Frame::data(Bytes::copy_from_slice(&tag))),
                        Err(e) => Err(Box::new(Error::from(e))),
                    }));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encryptor.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.encryptor {
            Some(_) => {
                let unread = self.declared.saturating_sub(self.seen);
                SizeHint::with_exact(unread + self.pending.len() as u64 + TAG_LEN as u64)
            }
            None => SizeHint::with_exact(0),
        }
    }
}

/// A response body fed by a producer task through a small bounded channel (back-pressure: the producer waits
/// for the reader).
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    remaining: Option<u64>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxStdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxStdError>>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(b)) => {
                if let Some(r) = self.remaining.as_mut() {
                    *r = r.saturating_sub(b.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// The sending half given to a producer task.
pub(crate) type Sink = mpsc::Sender<Result<Bytes, Error>>;

/// A ByteStream whose chunks come from `sink`; `len` is the exact length when known.
pub(crate) fn channel(len: Option<u64>) -> (Sink, ByteStream) {
    let (tx, rx) = mpsc::channel(4);
    let body = ChannelBody { rx, remaining: len };
    (tx, ByteStream::new(SdkBody::from_body_1_x(body)))
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

    #[tokio::test]
    async fn shared_bytes_are_encrypted_in_frames() {
        let key = DataKey::generate().unwrap();
        for len in [0usize, 1, FRAME - 1, FRAME, 3 * FRAME + 17] {
            let plain = plaintext(len);
            let (enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
            // The caller keeps its handle: the body must not take the plaintext over.
            let body = EncryptingBody::from_bytes(plain.clone(), enc);
            let frames = frames(body).await;
            assert!(frames.iter().all(|f| f.len() <= FRAME));
            assert_eq!(open(&key, &nonce, &frames), plain, "length {len}");
        }
    }

    #[tokio::test]
    async fn streams_of_any_chunking_are_encrypted() {
        let key = DataKey::generate().unwrap();
        let plain = plaintext(2 * FRAME + 999);
        for size in [1000usize, FRAME, FRAME + 1, plain.len()] {
            let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = plain
                .chunks(size)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let source = ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
                futures_util::stream::iter(chunks),
            )));
            let (enc, nonce) = ContentEncryptor::new(SUITE, &key).unwrap();
            let body = EncryptingBody::new(source, enc, plain.len() as u64);
            let frames = frames(body).await;
            assert_eq!(open(&key, &nonce, &frames), plain, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn a_stream_longer_or_shorter_than_declared_is_an_error() {
        let key = DataKey::generate().unwrap();
        let plain = plaintext(5000);
        for declared in [4999u64, 5001] {
            let (enc, _) = ContentEncryptor::new(SUITE, &key).unwrap();
            let source = ByteStream::from(plain.clone());
            let mut body = EncryptingBody::new(source, enc, declared);
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
}
