//! The API's accept loop, with the limits a public endpoint needs
//! (DESIGN.md decision 10: no client can take a validator down).
//!
//! `axum::serve` accepts every connection and waits for headers forever, so
//! an anonymous client holding thousands of half-sent requests exhausted a
//! validator's file descriptors and its consensus journal could not open a
//! file. Here: a cap on open connections, a smaller cap per client address,
//! a timeout for reading request headers and one for request bodies, and a
//! file-descriptor budget that keeps room for storage and p2p whatever the
//! API does. A connection over a cap gets a one-line 503 and is closed at
//! once, so refusing costs no descriptor for long.

use axum::Router;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{info, warn};

/// File descriptors kept for everything but API connections: storage blobs
/// (journals, archives, the state store, redb files), p2p peers, the
/// runtime. A validator with a few years of chain holds a few hundred.
pub const FD_RESERVE: u64 = 2_048;
/// Largest request head (headers) the API accepts: larger ones get a JSON
/// 431 `headers_too_large`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest request target (path and query): longer ones get a JSON 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// What the HTTP parser buffers for a request head. Heads between
/// [`MAX_HEADER_BYTES`] and this reach [`limit_request_head`] and get a JSON
/// answer; beyond it the parser itself answers 431 without a body.
pub const MAX_HEAD_BUFFER: usize = 4 * MAX_HEADER_BYTES;
const _: () = assert!(MAX_URI_BYTES < MAX_HEADER_BYTES && MAX_HEADER_BYTES < MAX_HEAD_BUFFER);
/// Headers per request.
pub const MAX_HEADERS: usize = 64;

/// The API's connection limits (node.toml, with defaults).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub requests_per_second_per_ip: u32,
}

/// Raise this process's descriptor limit to its hard limit and fit the
/// connection cap under it, keeping [`FD_RESERVE`] for storage and p2p.
pub fn fit_descriptor_budget(limits: &mut Limits) {
    let available = raise_nofile_limit();
    let budget = available.saturating_sub(FD_RESERVE) as usize;
    if budget < limits.max_connections {
        warn!(
            descriptors = available,
            configured = limits.max_connections,
            allowed = budget,
            "API connection cap lowered to keep descriptors for storage and p2p"
        );
        limits.max_connections = budget.max(1);
    }
    limits.max_connections_per_ip = limits.max_connections_per_ip.min(limits.max_connections);
    info!(
        descriptors = available,
        max_connections = limits.max_connections,
        max_connections_per_ip = limits.max_connections_per_ip,
        "API connection limits"
    );
}

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1_024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The answer to a connection over a cap (then closed).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 73\r\n\r\n{\"code\":\"too_many_connections\",\"error\":\"connection limit reached; retry\"}";

/// Open connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection's claim on its address's share; released on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn claim(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut t = self.0.lock().unwrap();
        let n = t.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap();
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

/// Refuse an over-long target (414) or header block (431) with the JSON
/// error body every other refusal has.
async fn limit_request_head(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return crate::api::ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("request target longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let head: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if head > MAX_HEADER_BYTES {
        return crate::api::ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers larger than {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

/// The answer to a request over its address's (or caller's) rate.
pub(crate) fn rate_limited() -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let mut response = crate::api::ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests from this address or caller; retry after a second",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

/// Serve `app` on `listener` under `limits` until the listener fails; over
/// TLS when `tls` is given (the handshake must finish within the header
/// timeout, or a client could hold a connection by never finishing it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    assert!(limits.max_connections_per_ip <= limits.max_connections);
    assert!(limits.max_connections >= 1);
    let app = app
        .layer(axum::middleware::from_fn(limit_request_head))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let rate = Arc::new(crate::rate_limit::RateLimiter::new(
        limits.requests_per_second_per_ip,
    ));
    let per_address = Arc::new(PerAddress::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or a transient accept error: wait
                // rather than spin; connections already open go on.
                warn!(error = %e, "API accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let _ = stream.try_write(REFUSAL);
            continue;
        };
        let Some(slot) = per_address.claim(peer.ip(), limits.max_connections_per_ip) else {
            let _ = stream.try_write(REFUSAL);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, rate, ip) = (app.clone(), rate.clone(), peer.ip());
        let service = TowerToHyperService::new(tower::service_fn(
            move |req: axum::extract::Request<hyper::body::Incoming>| {
                let (app, allowed) = (app.clone(), rate.allow(ip));
                async move {
                    if !allowed {
                        return Ok::<_, std::convert::Infallible>(rate_limited());
                    }
                    tower::ServiceExt::oneshot(app, req.map(axum::body::Body::new)).await
                }
            },
        ));
        let tls = tls.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BUFFER)
                .max_headers(MAX_HEADERS);
            // Errors here are the client's (reset, timeout, bad request,
            // failed handshake).
            match tls {
                None => {
                    let _ = http
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                }
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let _ = http
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                }
            }
        });
    }
}
