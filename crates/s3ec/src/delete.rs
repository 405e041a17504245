//! DeleteObject and DeleteObjects, which also delete the default instruction files.

use aws_sdk_s3::operation::delete_object::builders::DeleteObjectFluentBuilder;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::delete_objects::builders::DeleteObjectsFluentBuilder;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use s3ec_format::DEFAULT_INSTRUCTION_SUFFIX;

use crate::client::Client;
use crate::error::{required, Error};

/// Fluent builder for DeleteObject: deletes the object, then `<key>.instruction` (without a version id, as
/// instruction files are not versioned with their object).
#[must_use]
pub struct DeleteObject {
    client: Client,
    inner: DeleteObjectFluentBuilder,
}

/// Fluent builder for DeleteObjects: deletes the batch, then the batch of `.instruction` files.
#[must_use]
pub struct DeleteObjects {
    client: Client,
    inner: DeleteObjectsFluentBuilder,
}

impl Client {
    /// Deletes an object and its instruction file.
    pub fn delete_object(&self) -> DeleteObject {
        DeleteObject {
            client: self.clone(),
            inner: self.s3().delete_object(),
        }
    }

    /// Deletes objects and their instruction files.
    pub fn delete_objects(&self) -> DeleteObjects {
        DeleteObjects {
            client: self.clone(),
            inner: self.s3().delete_objects(),
        }
    }
}

impl DeleteObject {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.inner = self.inner.bucket(v);
        self
    }
    /// The object key.
    pub fn key(mut self, v: impl Into<String>) -> Self {
        self.inner = self.inner.key(v);
        self
    }
    /// Sets any other field on the wrapped aws-sdk-s3 builder (version id, MFA, ...).
    pub fn customize_request(
        mut self,
        f: impl FnOnce(DeleteObjectFluentBuilder) -> DeleteObjectFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Deletes the object, then its instruction file.
    pub async fn send(self) -> Result<DeleteObjectOutput, Error> {
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let key = required(self.inner.get_key().clone(), "key")?;
        let out = self
            .inner
            .send()
            .await
            .map_err(|e| Error::s3("DeleteObject", e))?;
        self.client
            .s3()
            .delete_object()
            .bucket(bucket)
            .key(format!("{key}{DEFAULT_INSTRUCTION_SUFFIX}"))
            .send()
            .await
            .map_err(|e| Error::s3("DeleteObject (instruction file)", e))?;
        Ok(out)
    }
}

impl DeleteObjects {
    /// The bucket.
    pub fn bucket(mut self, v: impl Into<String>) -> Self {
        self.inner = self.inner.bucket(v);
        self
    }
    /// The objects to delete.
    pub fn delete(mut self, v: Delete) -> Self {
        self.inner = self.inner.delete(v);
        self
    }
    /// Sets any other field on the wrapped aws-sdk-s3 builder.
    pub fn customize_request(
        mut self,
        f: impl FnOnce(DeleteObjectsFluentBuilder) -> DeleteObjectsFluentBuilder,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Deletes the objects, then (quietly) their instruction files; the output is the objects' batch result.
    pub async fn send(self) -> Result<DeleteObjectsOutput, Error> {
        let bucket = required(self.inner.get_bucket().clone(), "bucket")?;
        let keys: Vec<String> = self
            .inner
            .get_delete()
            .as_ref()
            .map(|d| d.objects().iter().map(|o| o.key().to_string()).collect())
            .unwrap_or_default();
        let out = self
            .inner
            .send()
            .await
            .map_err(|e| Error::s3("DeleteObjects", e))?;
        if !keys.is_empty() {
            let ids = keys
                .iter()
                .map(|k| {
                    ObjectIdentifier::builder()
                        .key(format!("{k}{DEFAULT_INSTRUCTION_SUFFIX}"))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::internal("the DeleteObjects request could not be built"))?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|_| Error::internal("the DeleteObjects request could not be built"))?;
            self.client
                .s3()
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| Error::s3("DeleteObjects (instruction files)", e))?;
        }
        Ok(out)
    }
}
