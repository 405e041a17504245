//! An S3-compatible endpoint that runs inside the process, for `s3ec demo` and for tests.
//!
//! It is [s3s](https://crates.io/crates/s3s) serving [s3s-fs](https://crates.io/crates/s3s-fs) over a
//! temporary folder on `127.0.0.1` and a port the OS picks. s3s-fs keeps user metadata (`x-amz-meta-*`),
//! answers ranged GETs with `206` and `Content-Range`, supports multipart uploads and honours
//! `If-Match`/`If-None-Match` on PutObject — everything the encryption client and `s3ec migrate` rely on
//! (the crate's `demo_server` test checks each of these with aws-sdk-s3, and the CLI tests run every command
//! against it as the `local` backend).
//!
//! Why s3s-fs: it is embeddable as a library (no second process, no binary download), serves real SigV4-signed
//! S3 over HTTP so the unmodified aws-sdk-s3 client talks to it, and keeps objects as plain files, which lets the
//! demo show the stored ciphertext. Version 0.14.1 is the newest that builds with Rust 1.95 (0.15 and later
//! need 1.96). Known gaps, none of which the demo needs: GetObject ignores `If-Match`/`If-None-Match` (PutObject
//! and CompleteMultipartUpload honour them), and there is no versioning, ACLs or KMS.
//!
//! The server checks SigV4 signatures against one access key pair made up at start, so a client needs the
//! values from [`DemoServer::access_key_id`] and [`DemoServer::secret_access_key`]. Requests use path-style
//! addressing (`http://127.0.0.1:PORT/bucket/key`).
//!
//! ```no_run
//! # async fn run() -> Result<(), s3ec_cli::demo_server::DemoServerError> {
//! let server = s3ec_cli::demo_server::DemoServer::start().await?;
//! println!("endpoint: {}", server.endpoint_url());
//! server.stop().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the demo endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoServerError {
    /// The temporary folder that holds the buckets could not be made.
    #[error("cannot create the demo endpoint's storage folder: {0}")]
    Storage(#[source] std::io::Error),
    /// s3s-fs refused the storage folder.
    #[error("the demo endpoint cannot serve {path}: {reason}")]
    Backend {
        /// The storage folder.
        path: PathBuf,
        /// What s3s-fs said.
        reason: String,
    },
    /// The address could not be bound (in use, not local, or not permitted).
    #[error("cannot listen on {addr}: {source} (`--addr IP:PORT` picks another; `--addr 127.0.0.1:0` a free port)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// `s3ec serve` could not register for Ctrl-C (SIGINT), so it could not be stopped cleanly.
    #[error("cannot listen for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
    /// The OS random generator failed while making the endpoint's credentials.
    #[error("the OS random generator failed: {0}")]
    Random(String),
}

/// A running in-process S3 endpoint; dropping it stops the server and deletes its storage.
pub struct DemoServer {
    addr: SocketAddr,
    access_key_id: String,
    secret_access_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    root: PathBuf,
    // Held for its Drop: removes the storage folder when the server goes away.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for DemoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is a throwaway, but it is still a credential: keep it out of logs.
        f.debug_struct("DemoServer")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl DemoServer {
    /// Starts the endpoint over a fresh temporary folder, removed again when the server is dropped.
    pub async fn start() -> Result<Self, DemoServerError> {
        let dir = tempfile::Builder::new()
            .prefix("s3ec-demo-")
            .tempdir()
            .map_err(DemoServerError::Storage)?;
        let root = dir.path().to_path_buf();
        let mut server = Self::start_in(&root).await?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Starts the endpoint over `root`, an existing folder that is kept afterwards, on 127.0.0.1 and a port
    /// the OS picks. Each sub-folder is a bucket.
    pub async fn start_in(root: &Path) -> Result<Self, DemoServerError> {
        Self::start_at(root, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the endpoint over `root` (an existing folder, kept afterwards) on `addr`; port 0 lets the OS
    /// pick one ([`DemoServer::addr`] tells which). This is what `s3ec serve` runs.
    pub async fn start_at(root: &Path, addr: SocketAddr) -> Result<Self, DemoServerError> {
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| DemoServerError::Backend {
            path: root.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
        let access_key_id = format!("S3ECDEMO{}", random_hex(6)?);
        let secret_access_key = random_hex(20)?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(
                access_key_id.clone(),
                secret_access_key.clone(),
            ));
            b.build()
        };
        let bind_err = |source| DemoServerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let graceful = GracefulShutdown::new();
            loop {
                let socket = tokio::select! {
                    res = listener.accept() => match res {
                        Ok((socket, _)) => socket,
                        // A failed accept (e.g. too many open files) affects one connection only.
                        Err(_) => continue,
                    },
                    _ = &mut rx => break,
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            // Idle keep-alive connections from SDK pools would hold a graceful shutdown forever: bound it.
            let _ = tokio::time::timeout(Duration::from_millis(300), graceful.shutdown()).await;
        });
        Ok(Self {
            addr,
            access_key_id,
            secret_access_key,
            shutdown: Some(tx),
            task: Some(task),
            root: root.to_path_buf(),
            _dir: None,
        })
    }

    /// `http://127.0.0.1:PORT`, for `--endpoint-url` or an SDK endpoint override.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The access key id the server accepts.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key the server accepts.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The folder that holds the buckets (one sub-folder each) and objects (one file each).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops accepting connections, lets open ones finish (for at most 300 ms; idle keep-alive connections are dropped) and waits for the
    /// server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Random lower-case hex from the OS generator.
fn random_hex(bytes: usize) -> Result<String, DemoServerError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| DemoServerError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
