//! Bodies: the encrypting request body of a streamed put, and the plaintext response bodies.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use s3ec_crypto::{ContentEncryptor, TAG_LEN};
use tokio::sync::mpsc;

use crate::error::Error;

type BoxStdError = Box<dyn std::error::Error + Send + Sync>;

/// Encrypts a plaintext stream of known length on the fly and appends the tag.
///
/// The SDK cannot clone this body, so it never retries a request that carries it: a retry would need the
/// same key and IV again (FORMAT-NOTES 1.16). Callers that want retries use a replayable ciphertext instead.
pub(crate) struct EncryptingBody {
    source: ByteStream,
    // The cipher context is Send but not Sync; the SDK wants Sync bodies. The lock is never contended.
    encryptor: Option<Mutex<ContentEncryptor>>,
    declared: u64,
    seen: u64,
}

impl EncryptingBody {
    pub(crate) fn new(source: ByteStream, encryptor: ContentEncryptor, declared: u64) -> Self {
        Self {
            source,
            encryptor: Some(Mutex::new(encryptor)),
            declared,
            seen: 0,
        }
    }

    pub(crate) fn into_sdk_body(self) -> SdkBody {
        SdkBody::from_body_1_x(self)
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
            let Some(encryptor) = this.encryptor.as_mut() else {
                return Poll::Ready(None);
            };
            let encryptor = encryptor.get_mut().unwrap_or_else(|p| p.into_inner());
            match ready!(Pin::new(&mut this.source).poll_next(cx)) {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    this.seen += chunk.len() as u64;
                    if this.seen > this.declared {
                        this.encryptor = None;
                        let e = Error::BodyLength {
                            declared: this.declared,
                            actual: this.seen,
                        };
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                    let mut buf = chunk
                        .try_into_mut()
                        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                    if let Err(e) = encryptor.encrypt_in_place(&mut buf) {
                        this.encryptor = None;
                        return Poll::Ready(Some(Err(Box::new(Error::from(e)))));
                    }
                    return Poll::Ready(Some(Ok(Frame::data(buf.freeze()))));
                }
                Some(Err(e)) => {
                    this.encryptor = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                None => {
                    let encryptor = this.encryptor.take().expect("checked above");
                    let encryptor = encryptor.into_inner().unwrap_or_else(|p| p.into_inner());
                    if this.seen != this.declared {
                        let e = Error::BodyLength {
                            declared: this.declared,
                            actual: this.seen,
                        };
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
            Some(_) => SizeHint::with_exact(self.declared - self.seen + TAG_LEN as u64),
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
