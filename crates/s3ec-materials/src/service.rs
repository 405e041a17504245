//! A failed call to a remote service (KMS here; the S3 client reuses the type): typed data a program can act
//! on, instead of a message to parse.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// How a service call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceFault {
    /// The service answered with an error (it has a code, a status and usually a request id).
    Refused,
    /// No answer arrived: connection refused, DNS, TLS, timeout. Usually worth retrying or fixing the endpoint.
    Unreachable,
    /// The service answered "success" with a response the client cannot use (a field missing, a wrong length).
    InvalidResponse,
}

/// A failed call to KMS or S3, with what the service said as typed data.
///
/// [`code`](Self::code) is the service's error code (`"InvalidCiphertextException"`, `"NoSuchKey"`,
/// `"AccessDenied"`, ...), [`request_id`](Self::request_id) the id to quote to the service's support,
/// [`status`](Self::status) the HTTP status. Programs branch on these, never on [`message`](Self::message).
///
/// ```
/// use s3ec_materials::{ServiceError, ServiceFault};
/// let e = ServiceError::refused("KMS", "Decrypt", "the ciphertext is invalid")
///     .with_status(400)
///     .with_code("InvalidCiphertextException")
///     .with_request_id("5d1c-...");
/// assert_eq!(e.fault(), ServiceFault::Refused);
/// assert_eq!(e.code(), Some("InvalidCiphertextException"));
/// assert_eq!(e.to_string(), "KMS Decrypt failed: InvalidCiphertextException (HTTP 400): the ciphertext is invalid (request id 5d1c-...)");
/// ```
#[derive(Clone)]
pub struct ServiceError {
    service: &'static str,
    operation: &'static str,
    fault: ServiceFault,
    status: Option<u16>,
    code: Option<String>,
    request_id: Option<String>,
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl ServiceError {
    fn new(
        fault: ServiceFault,
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            service,
            operation,
            fault,
            status: None,
            code: None,
            request_id: None,
            message: message.into(),
            source: None,
        }
    }

    /// The service answered `operation` with an error; add its code, status and request id with the `with_`
    /// methods.
    pub fn refused(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ServiceFault::Refused, service, operation, message)
    }

    /// No answer to `operation` arrived.
    pub fn unreachable(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ServiceFault::Unreachable, service, operation, message)
    }

    /// The service answered `operation` with a response that cannot be used (`reason` says why).
    pub fn invalid_response(
        service: &'static str,
        operation: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(ServiceFault::InvalidResponse, service, operation, reason)
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the service's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the service's request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Keeps the underlying error (an SDK error) as [`std::error::Error::source`].
    pub fn with_source(mut self, source: Arc<dyn StdError + Send + Sync>) -> Self {
        self.source = Some(source);
        self
    }

    /// `"KMS"` or `"S3"`.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The operation that failed (`"Decrypt"`, `"GetObject"`, ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// How it failed.
    pub fn fault(&self) -> ServiceFault {
        self.fault
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The service's error code, when it gave one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's request id, when it gave one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The service's message (or the transport's); for people, not for branching.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceError")
            .field("service", &self.service)
            .field("operation", &self.operation)
            .field("fault", &self.fault)
            .field("status", &self.status)
            .field("code", &self.code)
            .field("request_id", &self.request_id)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.service, self.operation)?;
        match self.fault {
            ServiceFault::Refused => f.write_str("failed")?,
            ServiceFault::Unreachable => f.write_str("got no answer")?,
            ServiceFault::InvalidResponse => f.write_str("returned an unusable response")?,
        }
        match (&self.code, self.status) {
            (Some(code), Some(status)) => write!(f, ": {code} (HTTP {status})")?,
            (Some(code), None) => write!(f, ": {code}")?,
            (None, Some(status)) => write!(f, ": HTTP {status}")?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl StdError for ServiceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
