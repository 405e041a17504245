//! A minimal HTTP/1.1 client for the one server the peers talk to: moto on 127.0.0.1.
//!
//! The xtask reads and writes objects *raw* (no encryption client in between) to capture exactly
//! what a peer stored and to plant tampered copies, and it creates the bucket and the KMS key.
//! moto checks no signatures, so requests carry a fixed SigV4-shaped `Authorization` header only
//! to tell moto which service (S3 or KMS) and region a request is for.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The region every vector is made in (as in `../shared/vectors`).
pub const REGION: &str = "us-west-2";

/// One HTTP response, fully read.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261127/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0000"
    )
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response> {
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let lk = k.to_ascii_lowercase();
        if lk == "host" || lk == "connection" || lk == "content-length" || lk == "expect" {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader)
}

/// Reads one response (status line, headers, body by Content-Length, chunked or to EOF).
pub fn read_response<R: BufRead>(reader: &mut R) -> Result<Response> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed before a response");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let headers = read_headers(reader)?;
        if status == 100 {
            continue;
        }
        let body = read_body(reader, &headers, true)?;
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
}

/// Reads header lines up to the empty line; names lower-cased.
pub fn read_headers<R: BufRead>(reader: &mut R) -> Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed inside the headers");
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// Reads a body as the headers describe it; `to_eof` allows a body delimited by the close.
pub fn read_body<R: BufRead>(
    reader: &mut R,
    headers: &[(String, String)],
    to_eof: bool,
) -> Result<Vec<u8>> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers up to the empty line.
                read_headers(reader)?;
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    }
    if let Some(len) = get("content-length") {
        let len: usize = len.parse().context("bad Content-Length")?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if to_eof {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// An object body and its user metadata (names without `x-amz-meta-`), as stored.
pub type RawObject = (Vec<u8>, Vec<(String, String)>);

/// moto, seen as S3 and KMS.
pub struct Moto {
    /// Where moto listens.
    pub addr: SocketAddr,
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn s3(
        &self,
        method: &str,
        path: &str,
        extra: &[(String, String)],
        body: &[u8],
    ) -> Result<Response> {
        let mut headers = vec![("Authorization".to_string(), auth("s3"))];
        headers.extend_from_slice(extra);
        request(self.addr, method, path, &headers, body)
    }

    /// Creates `bucket` in [`REGION`].
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let body = format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{REGION}</LocationConstraint></CreateBucketConfiguration>"
        );
        let r = self.s3(
            "PUT",
            &format!("/{bucket}"),
            &[("Content-Type".into(), "application/xml".into())],
            body.as_bytes(),
        )?;
        if r.status != 200 {
            bail!(
                "CreateBucket {bucket}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        Ok(())
    }

    /// A plain GetObject: `None` for 404, else the body and the user metadata (prefix removed).
    pub fn get_raw(&self, bucket: &str, key: &str) -> Result<Option<RawObject>> {
        let r = self.s3("GET", &format!("/{bucket}/{}", escape_key(key)), &[], &[])?;
        match r.status {
            200 => {
                let meta = r
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("x-amz-meta-")
                            .map(|k| (k.to_string(), v.clone()))
                    })
                    .collect();
                Ok(Some((r.body, meta)))
            }
            404 => Ok(None),
            s => bail!(
                "GetObject {bucket}/{key}: HTTP {s}: {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
    }

    /// A plain PutObject with the given user metadata (names without `x-amz-meta-`).
    pub fn put_raw(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        meta: &[(String, String)],
    ) -> Result<()> {
        let headers: Vec<(String, String)> = meta
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
            .collect();
        let r = self.s3(
            "PUT",
            &format!("/{bucket}/{}", escape_key(key)),
            &headers,
            body,
        )?;
        if r.status != 200 {
            bail!(
                "PutObject {bucket}/{key}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        Ok(())
    }

    /// A plain DeleteObject (missing keys are fine).
    pub fn delete_raw(&self, bucket: &str, key: &str) -> Result<()> {
        self.s3(
            "DELETE",
            &format!("/{bucket}/{}", escape_key(key)),
            &[],
            &[],
        )?;
        Ok(())
    }

    /// Calls a KMS operation with a JSON body and returns the JSON answer.
    pub fn kms(&self, op: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let headers = vec![
            ("Authorization".to_string(), auth("kms")),
            ("X-Amz-Target".to_string(), format!("TrentService.{op}")),
            (
                "Content-Type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
        ];
        let r = request(
            self.addr,
            "POST",
            "/",
            &headers,
            body.to_string().as_bytes(),
        )?;
        if r.status != 200 {
            bail!(
                "KMS {op}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        serde_json::from_slice(&r.body).with_context(|| format!("KMS {op}: answer is not JSON"))
    }

    /// Creates a symmetric KMS key and returns its ARN.
    pub fn create_kms_key(&self) -> Result<String> {
        let v = self.kms(
            "CreateKey",
            &serde_json::json!({"Description": "s3ec interop"}),
        )?;
        v["KeyMetadata"]["Arn"]
            .as_str()
            .map(str::to_string)
            .context("CreateKey answer has no KeyMetadata.Arn")
    }
}

/// Percent-encodes what may not stand in a path segment (keys here are ASCII words and '/').
fn escape_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_length_delimited_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                    X-Amz-Meta-A: b\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(&mut &raw[..]).expect("chunked");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"abcde");
        assert!(r
            .headers
            .contains(&("x-amz-meta-a".to_string(), "b".to_string())));
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnopeEXTRA";
        let r = read_response(&mut &raw[..]).expect("length");
        assert_eq!((r.status, &r.body[..]), (404, &b"nope"[..]));
    }

    #[test]
    fn truncated_responses_are_errors() {
        assert!(
            read_response(&mut &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"[..]).is_err()
        );
        assert!(read_response(&mut &b"HTTP/1.1 200 OK\r\nX: y\r\n"[..]).is_err());
        assert!(read_response(&mut &b""[..]).is_err());
    }

    #[test]
    fn keys_are_escaped_but_slashes_kept() {
        assert_eq!(escape_key("a/b c+d"), "a/b%20c%2Bd");
    }
}
