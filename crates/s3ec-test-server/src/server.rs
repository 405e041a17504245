//! HTTP/1.1 over hyper: routes the model's four URIs to [`Registry`] and writes replies and errors.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::errors::Failure;
use crate::ops::{ObjectHeaders, Registry, Reply};
use crate::wire;

/// Largest request body read (plaintext to put, JSON); larger ones are refused before they are buffered.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024 * 1024;

/// Which operation a request is.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /client`.
    CreateClient,
    /// `PUT /object/{bucket}/{key}`.
    PutObject(String, String),
    /// `GET /object/{bucket}/{key}`.
    GetObject(String, String),
    /// `POST /object/{bucket}/{key}/reencrypt`.
    ReEncrypt(String, String),
}

/// The route of `method path` (path without the query); labels are percent-decoded.
pub fn route(method: &Method, path: &str) -> Result<Route, Failure> {
    if path == "/client" {
        return match *method {
            Method::POST => Ok(Route::CreateClient),
            _ => Err(Failure::Harness(format!(
                "{method} /client: only POST is served"
            ))),
        };
    }
    let rest = path
        .strip_prefix("/object/")
        .ok_or_else(|| Failure::Harness(format!("no operation at {path}")))?;
    let (bucket, key) = rest
        .split_once('/')
        .ok_or_else(|| Failure::Harness(format!("{path}: expected /object/{{bucket}}/{{key}}")))?;
    let label = |raw: &str| -> Result<String, Failure> {
        let v = wire::decode_label(raw)?;
        if v.is_empty() {
            return Err(Failure::Harness(format!("{path}: empty bucket or key")));
        }
        Ok(v)
    };
    match *method {
        Method::PUT => Ok(Route::PutObject(label(bucket)?, label(key)?)),
        Method::GET => Ok(Route::GetObject(label(bucket)?, label(key)?)),
        Method::POST => match key.strip_suffix("/reencrypt") {
            Some(k) => Ok(Route::ReEncrypt(label(bucket)?, label(k)?)),
            None => Err(Failure::Harness(format!(
                "POST {path}: expected .../reencrypt"
            ))),
        },
        _ => Err(Failure::Harness(format!(
            "{method} {path}: not an operation of the model"
        ))),
    }
}

/// A running server; dropping it stops accepting connections.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `registry` on `listener` (bound by the caller, so port 0 works) until stopped or dropped.
    pub fn start(
        listener: TcpListener,
        registry: Registry,
        max_body: usize,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let registry = Arc::new(registry);
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    res = listener.accept() => match res {
                        Ok((socket, _)) => socket,
                        // A failed accept (for example too many open files) concerns one connection only.
                        Err(_) => continue,
                    },
                    _ = &mut rx => break,
                };
                let registry = registry.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let registry = registry.clone();
                        async move { Ok::<_, Infallible>(handle(&registry, req, max_body).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(Server {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn handle(
    registry: &Registry,
    req: Request<Incoming>,
    max_body: usize,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let answer = match route(&parts.method, parts.uri.path()) {
        Ok(route) => match Limited::new(body, max_body).collect().await {
            Ok(collected) => dispatch(registry, route, &parts.headers, collected.to_bytes()).await,
            Err(e) => Err(Failure::Harness(format!(
                "cannot read the request body (at most {max_body} bytes): {e}"
            ))),
        },
        Err(f) => Err(f),
    };
    match answer {
        Ok(reply) => {
            let mut resp = Response::new(Full::new(reply.body));
            for (name, value) in reply.headers {
                // UTF-8 metadata goes out as raw bytes (obs-text), as S3 sends it; only control bytes cannot.
                match HeaderValue::from_bytes(value.as_bytes()) {
                    Ok(v) => {
                        resp.headers_mut().insert(name, v);
                    }
                    Err(_) => {
                        return failure(&Failure::Harness(format!(
                            "the {name} answer holds bytes an HTTP header cannot carry"
                        )))
                    }
                }
            }
            resp
        }
        Err(f) => failure(&f),
    }
}

async fn dispatch(
    registry: &Registry,
    route: Route,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Reply, Failure> {
    let one = |name: &str| -> Result<Option<&str>, Failure> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v.as_bytes())
                .map(Some)
                .map_err(|_| Failure::Harness(format!("header {name} is not UTF-8"))),
        }
    };
    let metadata = headers
        .get_all("content-metadata")
        .iter()
        .map(|v| {
            std::str::from_utf8(v.as_bytes())
                .map_err(|_| Failure::Harness("header Content-Metadata is not UTF-8".into()))
        })
        .collect::<Result<Vec<&str>, Failure>>()?;
    let h = ObjectHeaders {
        client_id: one("clientid")?,
        metadata,
        range: one("range")?,
        instruction_file_suffix: one("instructionfilesuffix")?,
        enforce_rotation: one("enforcerotation")?,
    };
    match route {
        Route::CreateClient => registry.create_client(&body),
        Route::PutObject(b, k) => registry.put_object(&b, &k, &h, body).await,
        Route::GetObject(b, k) => registry.get_object(&b, &k, &h).await,
        Route::ReEncrypt(b, k) => registry.re_encrypt(&b, &k, &h, &body).await,
    }
}

fn failure(f: &Failure) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(f.body())));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(f.shape()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_the_model() {
        assert_eq!(
            route(&Method::POST, "/client").unwrap(),
            Route::CreateClient
        );
        assert_eq!(
            route(&Method::PUT, "/object/b/k%2Fwith%20slash").unwrap(),
            Route::PutObject("b".into(), "k/with slash".into())
        );
        assert_eq!(
            route(&Method::GET, "/object/b/a/b").unwrap(),
            Route::GetObject("b".into(), "a/b".into())
        );
        assert_eq!(
            route(&Method::POST, "/object/b/k/reencrypt").unwrap(),
            Route::ReEncrypt("b".into(), "k".into())
        );
        for (m, p) in [
            (Method::GET, "/client"),
            (Method::POST, "/object/b/k"),
            (Method::DELETE, "/object/b/k"),
            (Method::GET, "/object/b"),
            (Method::GET, "/object/b/"),
            (Method::GET, "/other"),
        ] {
            assert!(matches!(route(&m, p), Err(Failure::Harness(_))), "{m} {p}");
        }
    }
}
