//! A link shaped like real S3: a loopback TCP proxy that caps every connection's bandwidth and adds first-byte
//! latency, in front of any HTTP endpoint (Garage, moto).
//!
//! Over loopback a single connection moves gigabytes per second, so single-stream and parallel transfers look
//! alike; on AWS one connection gets roughly 50–100 MB/s and each request waits tens of milliseconds for its
//! first byte. This proxy restores that shape so benches compare paths as they would behave against S3: each
//! accepted connection gets its own token bucket per direction (the cap is per connection, not shared, as on
//! S3), and the first response byte after each request waits `first_byte_latency`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use s3ec_testkit::{CappedLink, LinkShape};
//! let link = CappedLink::start("127.0.0.1:3900".parse().unwrap(), LinkShape::default()).await?;
//! let endpoint = link.endpoint(); // "http://127.0.0.1:<port>": give it to the SDK instead of Garage's
//! # drop(endpoint); Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes moved per pacing step: small enough that the rate is smooth at tens of MB/s.
const STEP: usize = 16 * 1024;

/// The shape of every connection through a [`CappedLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkShape {
    /// Bandwidth cap of each connection, in each direction, in bytes per second.
    pub bytes_per_sec: u64,
    /// Delay before the first response byte of each request.
    pub first_byte_latency: Duration,
}

impl Default for LinkShape {
    /// 50 MB/s per connection and 20 ms to first byte: a single S3 connection from inside a region.
    fn default() -> Self {
        Self {
            bytes_per_sec: 50_000_000,
            first_byte_latency: Duration::from_millis(20),
        }
    }
}

/// A running proxy; stops (closing its connections) when dropped.
#[derive(Debug)]
pub struct CappedLink {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    counters: Arc<Counters>,
}

/// Bytes moved through the link since it started, per direction.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    responses: AtomicU64,
}

impl CappedLink {
    /// Listens on an ephemeral loopback port and forwards every connection to `upstream`, shaped by `shape`.
    pub async fn start(upstream: SocketAddr, shape: LinkShape) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let counting = counters.clone();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let counting = counting.clone();
                connections.spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        shape_connection(client, server, shape, counting).await;
                    }
                });
                // Reap finished connections so a long bench does not accumulate handles.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            addr,
            accept,
            counters,
        })
    }

    /// Bytes the clients sent through the link so far (requests: headers and bodies, as on the wire).
    pub fn bytes_sent(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Bytes the server sent back through the link so far.
    pub fn bytes_received(&self) -> u64 {
        self.counters.responses.load(Ordering::Relaxed)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy as an HTTP endpoint URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CappedLink {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

async fn shape_connection(
    client: TcpStream,
    server: TcpStream,
    shape: LinkShape,
    counters: Arc<Counters>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Set when request bytes went upstream since the last response byte: the next response byte is a "first".
    let request_pending = Arc::new(AtomicBool::new(false));
    let up = pump(
        client_read,
        server_write,
        shape,
        Direction::Request,
        request_pending.clone(),
        counters.clone(),
    );
    let down = pump(
        server_read,
        client_write,
        shape,
        Direction::Response,
        request_pending,
        counters,
    );
    // Either side closing ends the connection, as a proxy would.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// Copies `from` to `to` at most `shape.bytes_per_sec` (a token bucket one step deep), delaying the first
/// response byte after each request by the latency.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shape: LinkShape,
    direction: Direction,
    request_pending: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; STEP];
    let rate = shape.bytes_per_sec.max(1) as f64;
    let mut next_free = Instant::now();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let counter = match direction {
            Direction::Request => &counters.requests,
            Direction::Response => &counters.responses,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        match direction {
            Direction::Request => request_pending.store(true, Ordering::Release),
            Direction::Response => {
                if request_pending.swap(false, Ordering::AcqRel) {
                    tokio::time::sleep(shape.first_byte_latency).await;
                    // Latency is not bandwidth: the bucket does not bank the time spent waiting.
                    next_free = next_free.max(Instant::now());
                }
            }
        }
        // Charge the bucket; an idle connection banks at most one step, so bursts stay one step long.
        let now = Instant::now();
        let credit = Duration::from_secs_f64(STEP as f64 / rate);
        let start = next_free.max(now.checked_sub(credit).unwrap_or(now));
        next_free = start + Duration::from_secs_f64(n as f64 / rate);
        if next_free > now {
            tokio::time::sleep_until(next_free).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers each 1-byte request with `reply` bytes.
    async fn upstream(reply: usize) -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let body = vec![7u8; reply];
                    let mut one = [0u8; 1];
                    while s.read_exact(&mut one).await.is_ok() {
                        if s.write_all(&body).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// One request over a fresh connection through the link; returns the time to the first and the last byte.
    async fn fetch(link: SocketAddr, len: usize) -> (Duration, Duration) {
        let mut s = TcpStream::connect(link).await.unwrap();
        let start = Instant::now();
        s.write_all(b"?").await.unwrap();
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf[..1]).await.unwrap();
        let first = start.elapsed();
        s.read_exact(&mut buf[1..]).await.unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        (first, start.elapsed())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_connection_is_capped_and_connections_add_up() {
        const LEN: usize = 2_000_000;
        let shape = LinkShape {
            bytes_per_sec: 4_000_000,
            first_byte_latency: Duration::from_millis(50),
        };
        let link = CappedLink::start(upstream(LEN).await, shape).await.unwrap();

        // One connection: 2 MB at 4 MB/s takes ~0.5 s, after the first-byte latency.
        let (first, one) = fetch(link.addr(), LEN).await;
        assert!(
            first >= Duration::from_millis(50),
            "first byte after {first:?}"
        );
        assert!(
            one >= Duration::from_millis(450),
            "one connection took {one:?}: not capped"
        );
        assert_eq!((link.bytes_sent(), link.bytes_received()), (1, LEN as u64));

        // Two connections at once: each gets its own cap, so twice the bytes take about as long.
        let start = Instant::now();
        let (a, b) = tokio::join!(fetch(link.addr(), LEN), fetch(link.addr(), LEN));
        let two = start.elapsed();
        assert!(a.1 >= Duration::from_millis(450) && b.1 >= Duration::from_millis(450));
        let single_rate = LEN as f64 / one.as_secs_f64();
        let aggregate_rate = 2.0 * LEN as f64 / two.as_secs_f64();
        assert!(
            aggregate_rate >= 1.6 * single_rate,
            "two connections moved {aggregate_rate:.0} B/s, one {single_rate:.0} B/s"
        );
    }
}
