//! Multipart uploads: one GCM stream across all parts, the tag at the end of the last.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::{ready, FutureExt};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, PutOptions, PutPayload, PutResult, UploadPart};
use s3ec_crypto::ContentEncryptor;

use crate::error::{Error, Result};

/// An instruction file to write once the upload completes.
pub(crate) struct PendingInstruction {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
    pub(crate) body: Vec<u8>,
    pub(crate) options: PutOptions,
}

/// Encrypts parts in the order `put_part` is called (the order they take in the object) and holds the newest
/// encrypted part back: only at `complete` is it known to be the last, and the tag must go at its end (a
/// separate 16-byte part would break S3's minimum size for every part but the last).
pub(crate) struct EncryptedUpload {
    pub(crate) inner: Box<dyn MultipartUpload>,
    pub(crate) encryptor: Option<ContentEncryptor>,
    pub(crate) held: Option<Vec<u8>>,
    pub(crate) instruction: Option<PendingInstruction>,
}

impl fmt::Debug for EncryptedUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedUpload")
            .field("inner", &self.inner)
            .field("finished", &self.encryptor.is_none())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MultipartUpload for EncryptedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let Some(encryptor) = self.encryptor.as_mut() else {
            return ready(Err(Error::UploadFinished.into())).boxed();
        };
        let mut buf = Vec::with_capacity(data.content_length());
        for chunk in &data {
            buf.extend_from_slice(chunk);
        }
        if let Err(e) = encryptor.encrypt_in_place(&mut buf) {
            // The stream is broken: no later part may be encrypted after a gap.
            self.encryptor = None;
            return ready(Err(Error::from(e).into())).boxed();
        }
        match self.held.replace(buf) {
            Some(previous) => self.inner.put_part(previous.into()),
            None => ready(Ok(())).boxed(),
        }
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let encryptor = self.encryptor.take().ok_or(Error::UploadFinished)?;
        let tag = encryptor.finish().map_err(Error::from)?;
        let mut last = self.held.take().unwrap_or_default();
        last.extend_from_slice(&tag);
        self.inner.put_part(last.into()).await?;
        let result = self.inner.complete().await?;
        if let Some(p) = self.instruction.take() {
            p.store.put_opts(&p.path, p.body.into(), p.options).await?;
        }
        Ok(result)
    }

    async fn abort(&mut self) -> Result<()> {
        self.encryptor = None;
        self.held = None;
        self.inner.abort().await
    }
}
