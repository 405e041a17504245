//! A loopback HTTP/1.1 proxy in front of moto that counts the requests the function makes, by kind (S3 method,
//! or the `X-Amz-Target` of a JSON API call such as KMS or Secrets Manager): the request counts behind the cost
//! per million objects in the crate README.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The kind a chunked request is counted under: after one, the connection's later requests are not counted.
pub const CHUNKED: &str = "chunked (later requests on the connection uncounted)";

/// Requests seen, by kind.
#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<BTreeMap<String, usize>>>);

impl Counts {
    /// Takes the counts so far and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().expect("counts"))
    }
    fn add(&self, kind: String) {
        *self.0.lock().expect("counts").entry(kind).or_default() += 1;
    }
}

/// Starts the proxy to `upstream` (`http://127.0.0.1:port`); returns its endpoint and its counts.
pub fn start(upstream: &str) -> (String, Counts) {
    let upstream = upstream
        .strip_prefix("http://")
        .expect("an http:// endpoint")
        .to_string();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let counts = Counts::default();
    let c = counts.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (c, upstream) = (c.clone(), upstream.clone());
            std::thread::spawn(move || {
                if let Ok(server) = TcpStream::connect(&upstream) {
                    let _ = relay(client, server, &c);
                }
            });
        }
    });
    (endpoint, counts)
}

fn relay(client: TcpStream, server: TcpStream, counts: &Counts) -> std::io::Result<()> {
    // Responses go back untouched on their own thread; requests are parsed only enough to count them.
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
    let mut reader = BufReader::new(client);
    let mut to_server = server;
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        let mut target = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            head.extend_from_slice(line.as_bytes());
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line
                .strip_prefix("X-Amz-Target:")
                .or_else(|| line.strip_prefix("x-amz-target:"))
            {
                target = Some(v.trim().to_string());
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            if line == "\r\n" {
                break;
            }
        }
        let method = String::from_utf8_lossy(&head)
            .split(' ')
            .next()
            .unwrap_or("?")
            .to_string();
        counts.add(target.unwrap_or_else(|| format!("S3 {method}")));
        to_server.write_all(&head)?;
        if chunked {
            // The SDKs send bodies with a length. A chunked one is counted as such (the test refuses that kind)
            // and the rest of the connection is relayed uncounted.
            counts.add(CHUNKED.to_string());
            std::io::copy(&mut reader, &mut to_server)?;
            return Ok(());
        }
        let mut body = (&mut reader).take(length as u64);
        std::io::copy(&mut body, &mut to_server)?;
    }
}
