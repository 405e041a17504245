//! ReEncryptInstructionFile: re-wrap an object's data key with a new keyring, leaving the object untouched.

use std::sync::Arc;

use s3ec_materials::Keyring;

use crate::client::Client;
use crate::error::Error;

/// Fluent builder of [`Client::re_encrypt_instruction_file`].
#[must_use]
pub struct ReEncryptInstructionFile {
    client: Client,
    bucket: Option<String>,
    key: Option<String>,
    keyring: Option<Arc<dyn Keyring>>,
    suffix: Option<String>,
    enforce_rotation: bool,
}

impl Client {
    /// Re-wraps the data key of an object whose envelope is in an instruction file with a new keyring, and writes
    /// the new instruction file (FORMAT-NOTES 1.8).
    pub fn re_encrypt_instruction_file(&self) -> ReEncryptInstructionFile {
        ReEncryptInstructionFile {
            client: self.clone(),
            bucket: None,
            key: None,
            keyring: None,
            suffix: None,
            enforce_rotation: false,
        }
    }
}

impl ReEncryptInstructionFile {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.bucket = Some(v.into());
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.key = Some(v.into());
        self
    }
    /// The keyring that wraps the data key in the new instruction file.
    pub fn new_keyring(mut self, keyring: impl Keyring + 'static) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }
    /// Write the new file at `<key><suffix>` instead of `<key>.instruction` (for sharing with another key holder).
    pub fn instruction_file_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }
    /// Prove that the client's current keyring can no longer unwrap the new instruction file.
    pub fn enforce_rotation(mut self, on: bool) -> Self {
        self.enforce_rotation = on;
        self
    }

    /// Runs the re-encryption.
    pub async fn send(self) -> Result<(), Error> {
        let _ = (
            &self.client,
            &self.bucket,
            &self.key,
            &self.keyring,
            &self.suffix,
            self.enforce_rotation,
        );
        Err(Error::Unsupported("re-encrypting an instruction file needs keyring support for wrapping an existing data key (requested)"))
    }
}
