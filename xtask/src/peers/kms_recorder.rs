//! A recording proxy in front of moto's KMS: the peers get its address as their KMS endpoint,
//! every request is forwarded to moto unchanged, and each KMS call (operation, request JSON,
//! answer JSON) is kept so a vector can replay it offline.
//!
//! Why a proxy: it records what the peer really sent and received, with one implementation for
//! every peer, instead of a logging hook in five harnesses in four languages.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::http;

/// One KMS call as seen on the wire.
#[derive(Clone, Debug)]
pub struct KmsCall {
    /// `GenerateDataKey`, `Decrypt`, `Encrypt`, ...
    pub op: String,
    /// HTTP status moto answered with.
    pub status: u16,
    /// The request body.
    pub request: Value,
    /// The answer body (`Null` when it was not JSON).
    pub response: Value,
}

impl KmsCall {
    /// The call as a manifest `kms_calls` entry (`SCHEMA.md`), or `None` for a failed call or an
    /// operation a reader never replays.
    pub fn to_manifest(&self) -> Option<Value> {
        if self.status != 200 {
            return None;
        }
        let ctx = self
            .request
            .get("EncryptionContext")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let key_id = self
            .response
            .get("KeyId")
            .or_else(|| self.request.get("KeyId"))
            .cloned()
            .unwrap_or(Value::Null);
        match self.op.as_str() {
            "GenerateDataKey" => Some(json!({
                "op": "GenerateDataKey",
                "key_id": key_id,
                "ciphertext_blob_b64": self.response.get("CiphertextBlob"),
                "encryption_context": ctx,
                "plaintext_b64": self.response.get("Plaintext"),
                "key_spec": self.request.get("KeySpec"),
                "http_status": self.status,
            })),
            "Decrypt" => Some(json!({
                "op": "Decrypt",
                "key_id": key_id,
                "request_key_id": self.request.get("KeyId"),
                "ciphertext_blob_b64": self.request.get("CiphertextBlob"),
                "encryption_context": ctx,
                "plaintext_b64": self.response.get("Plaintext"),
                "http_status": self.status,
            })),
            "Encrypt" => Some(json!({
                "op": "Encrypt",
                "key_id": key_id,
                "ciphertext_blob_b64": self.response.get("CiphertextBlob"),
                "encryption_context": ctx,
                "plaintext_b64": self.request.get("Plaintext"),
                "http_status": self.status,
            })),
            _ => None,
        }
    }
}

/// The running proxy; calls accumulate until [`KmsRecorder::take`].
pub struct KmsRecorder {
    /// Where the peers send KMS requests.
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<KmsCall>>>,
}

impl KmsRecorder {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`. The listener thread lives
    /// as long as the xtask process.
    pub fn start(upstream: SocketAddr) -> Result<KmsRecorder> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("cannot listen for the KMS recorder")?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&calls);
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let sink = Arc::clone(&sink);
                thread::spawn(move || {
                    // A broken connection only loses that connection; the peer reports it.
                    let _ = serve(conn, upstream, &sink);
                });
            }
        });
        Ok(KmsRecorder { addr, calls })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call recorded since the last `take`.
    pub fn take(&self) -> Vec<KmsCall> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn serve(conn: TcpStream, upstream: SocketAddr, sink: &Mutex<Vec<KmsCall>>) -> Result<()> {
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = match (parts.next(), parts.next()) {
            (Some(m), Some(p)) => (m.to_string(), p.to_string()),
            _ => return Ok(()),
        };
        let headers = http::read_headers(&mut reader)?;
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = http::read_body(&mut reader, &headers, false)?;
        let forward: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k != "transfer-encoding")
            .cloned()
            .collect();
        let resp = http::request(upstream, &method, &path, &forward, &body)?;
        if let Some(target) = find("x-amz-target") {
            if let Some(op) = target.strip_prefix("TrentService.") {
                let call = KmsCall {
                    op: op.to_string(),
                    status: resp.status,
                    request: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    response: serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
                };
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(call);
            }
        }
        let mut head = format!("HTTP/1.1 {} X\r\n", resp.status);
        for (k, v) in &resp.headers {
            if k == "content-length" || k == "transfer-encoding" || k == "connection" {
                continue;
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        writer.write_all(head.as_bytes())?;
        writer.write_all(&resp.body)?;
        writer.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypt_calls_keep_request_blob_and_context() {
        let call = KmsCall {
            op: "Decrypt".into(),
            status: 200,
            request: json!({"CiphertextBlob": "QkxPQg==", "EncryptionContext": {"a": "b"}, "KeyId": "k"}),
            response: json!({"Plaintext": "UFQ=", "KeyId": "arn:k"}),
        };
        let m = call.to_manifest().expect("a successful Decrypt is kept");
        assert_eq!(m["op"], "Decrypt");
        assert_eq!(m["ciphertext_blob_b64"], "QkxPQg==");
        assert_eq!(m["encryption_context"], json!({"a": "b"}));
        assert_eq!(m["plaintext_b64"], "UFQ=");
        assert_eq!(m["key_id"], "arn:k");
    }

    #[test]
    fn failed_and_unreplayable_calls_are_dropped() {
        let failed = KmsCall {
            op: "Decrypt".into(),
            status: 400,
            request: json!({}),
            response: json!({"__type": "InvalidCiphertextException"}),
        };
        assert!(failed.to_manifest().is_none());
        let other = KmsCall {
            op: "CreateKey".into(),
            status: 200,
            request: json!({}),
            response: json!({}),
        };
        assert!(other.to_manifest().is_none());
    }
}
