//! The four operations of the model over the registry of created clients.
//!
//! Each takes the decoded request parts and returns a [`Reply`] or a [`Failure`]; HTTP plumbing lives in
//! `server.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use s3ec::Client;
use serde_json::json;

use crate::config::{self, Aws};
use crate::errors::{client_error, Failure};
use crate::wire;

/// Most clients one server keeps (a full suite run creates a few thousand).
pub const MAX_CLIENTS: usize = 100_000;

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// Headers besides Content-Length.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    fn json(value: serde_json::Value) -> Reply {
        Reply {
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(value.to_string()),
        }
    }
}

/// The headers an object operation reads (names as in the model's `@httpHeader` traits).
#[derive(Debug, Default)]
pub struct ObjectHeaders<'a> {
    /// `ClientID`.
    pub client_id: Option<&'a str>,
    /// Every `Content-Metadata` line.
    pub metadata: Vec<&'a str>,
    /// `Range`.
    pub range: Option<&'a str>,
    /// `InstructionFileSuffix`.
    pub instruction_file_suffix: Option<&'a str>,
    /// `EnforceRotation`.
    pub enforce_rotation: Option<&'a str>,
}

/// The created clients, by opaque id, and the AWS clients they share.
pub struct Registry {
    aws: Aws,
    clients: Mutex<HashMap<String, Client>>,
}

impl Registry {
    /// An empty registry over these AWS clients.
    pub fn new(aws: Aws) -> Self {
        Registry {
            aws,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, id: Option<&str>) -> Result<Client, Failure> {
        let id = id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Failure::Harness("the ClientID header is required".into()))?;
        let clients = self
            .clients
            .lock()
            .map_err(|_| Failure::Harness("client registry poisoned".into()))?;
        clients
            .get(id)
            .cloned()
            .ok_or_else(|| Failure::Harness(format!("no client with ClientID {id}")))
    }

    /// `POST /client`.
    pub fn create_client(&self, body: &[u8]) -> Result<Reply, Failure> {
        let client = config::create(&self.aws, body)?;
        let id = new_id()?;
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| Failure::Harness("client registry poisoned".into()))?;
        // Clients are kept for the server's life (the protocol has no delete); bound what a runaway harness
        // can make it hold.
        if clients.len() >= MAX_CLIENTS {
            return Err(Failure::Harness(format!(
                "{MAX_CLIENTS} clients exist already; restart the server"
            )));
        }
        clients.insert(id.clone(), client);
        Ok(Reply::json(json!({ "clientId": id })))
    }

    /// `PUT /object/{bucket}/{key}`: encrypts the body under the `Content-Metadata` encryption context.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        h: &ObjectHeaders<'_>,
        body: Bytes,
    ) -> Result<Reply, Failure> {
        let client = self.client(h.client_id)?;
        let elements = wire::split_list(h.metadata.iter().copied())?;
        let context = wire::parse_metadata(h.metadata.iter().copied())?;
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .encryption_context(context)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| client_error(&e))?;
        Ok(Reply::json(
            json!({ "bucket": bucket, "key": key, "metadata": elements }),
        ))
    }

    /// `GET /object/{bucket}/{key}`: the plaintext (or the requested slice), with the object's user metadata
    /// in `Content-Metadata`.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        h: &ObjectHeaders<'_>,
    ) -> Result<Reply, Failure> {
        let client = self.client(h.client_id)?;
        let context = wire::parse_metadata(h.metadata.iter().copied())?;
        let mut get = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .encryption_context(context);
        if let Some(range) = h.range.filter(|r| !r.is_empty()) {
            get = get.range(range);
        }
        if let Some(suffix) = h.instruction_file_suffix.filter(|s| !s.is_empty()) {
            get = get.instruction_file_suffix(suffix);
        }
        let mut plaintext = Vec::new();
        let out = get
            .send_into(&mut plaintext)
            .await
            .map_err(|e| client_error(&e))?;
        let mut metadata: Vec<(&str, &str)> = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .unwrap_or_default();
        metadata.sort_unstable();
        Ok(Reply {
            headers: vec![
                ("content-type", "application/octet-stream".into()),
                ("content-metadata", wire::format_metadata(metadata)),
            ],
            body: Bytes::from(plaintext),
        })
    }

    /// `POST /object/{bucket}/{key}/reencrypt`: re-wraps the instruction file's data key with the key material
    /// of the body.
    pub async fn re_encrypt(
        &self,
        bucket: &str,
        key: &str,
        h: &ObjectHeaders<'_>,
        body: &[u8],
    ) -> Result<Reply, Failure> {
        let client = self.client(h.client_id)?;
        let enforce = wire::parse_bool("EnforceRotation", h.enforce_rotation)?;
        let material: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            Failure::Harness(format!(
                "ReEncrypt body is not a KeyMaterial JSON object: {e}"
            ))
        })?;
        let material = material.as_object().ok_or_else(|| {
            Failure::Harness("ReEncrypt body must be a KeyMaterial JSON object".into())
        })?;
        let keyring = config::keyring(&self.aws, material)?;
        let mut re = client
            .re_encrypt_instruction_file()
            .bucket(bucket)
            .key(key)
            .new_keyring(keyring)
            .enforce_rotation(enforce.unwrap_or(false));
        let suffix = h.instruction_file_suffix.filter(|s| !s.is_empty());
        if let Some(s) = suffix {
            re = re.instruction_file_suffix(s);
        }
        re.send().await.map_err(|e| client_error(&e))?;
        let mut out = json!({ "bucket": bucket, "key": key });
        if let Some(s) = suffix {
            out["instructionFileSuffix"] = json!(s);
        }
        if let Some(e) = enforce {
            out["enforceRotation"] = json!(e);
        }
        Ok(Reply::json(out))
    }
}

/// A random client id in UUID form (the reference servers hand out UUIDs).
fn new_id() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Failure::Harness(format!("the OS random generator failed: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}
