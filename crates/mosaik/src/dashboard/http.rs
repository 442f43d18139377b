//! The dashboard's HTTP/1 server (hyper): `/` the page, `/api/snapshot`
//! the latest snapshot, `/api/events` the snapshots as server-sent events.
//!
//! Bounds: connections (`max_connections`, closed unanswered above it),
//! event streams (`max_clients`, `503` above it), the request head
//! ([`MAX_HEAD`]) and the time to send it ([`HEAD_TIMEOUT`]). An event
//! stream holds one `watch` receiver, so a slow reader costs one pending
//! snapshot, never a queue.

use {
    super::{DashboardConfig, sampler::Published},
    bytes::Bytes,
    core::{convert::Infallible, time::Duration},
    http_body_util::{BodyExt as _, Full, StreamBody, combinators::UnsyncBoxBody},
    hyper::{
        Method, Request, Response, StatusCode,
        body::{Frame, Incoming},
        header,
        server::conn::http1,
        service::service_fn,
    },
    hyper_util::rt::{TokioIo, TokioTimer},
    std::sync::Arc,
    tokio::{
        net::TcpListener,
        sync::{OwnedSemaphorePermit, Semaphore, watch},
    },
    tokio_util::sync::CancellationToken,
};

/// The page, with its script and styles inline (no CDN, nothing fetched).
const PAGE: &str = include_str!("page.html");

/// Largest request head hyper buffers (its minimum is 8 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// Time a client gets to send a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// An idle event stream sends a comment this often, so a vanished client
/// is noticed (the write fails) and its slot freed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

// Unsync: the event stream's future holds a `watch` receiver, which is
// `Send` but not `Sync`, and hyper needs only `Send`.
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// State every connection shares.
struct Shared {
    token: Option<String>,
    clients: Arc<Semaphore>,
    snapshots: watch::Receiver<Arc<Published>>,
}

/// Accepts connections until `cancel` fires.
pub(super) async fn run(
    listener: TcpListener,
    config: DashboardConfig,
    snapshots: watch::Receiver<Arc<Published>>,
    cancel: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared {
        token: config.token,
        clients: Arc::new(Semaphore::new(config.max_clients)),
        snapshots,
    });
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (out of file descriptors): back off
            // briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let (shared, cancel) = (shared.clone(), cancel.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&shared, &request)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = cancel.cancelled() => {}
            }
            drop(permit);
        });
    }
}

fn answer(shared: &Shared, request: &Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    if !authorized(shared.token.as_deref(), request) {
        return plain(StatusCode::UNAUTHORIZED, "token required\n");
    }
    match request.uri().path() {
        "/" | "/index.html" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(PAGE.as_bytes()),
        ),
        "/api/snapshot" => {
            let json = shared.snapshots.borrow().json.clone();
            respond(StatusCode::OK, "application/json", Bytes::from(json))
        }
        "/api/events" => match shared.clients.clone().try_acquire_owned() {
            Ok(permit) => events(shared.snapshots.clone(), permit),
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "too many clients\n"),
        },
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// True without a configured token, else if `?token=` or a bearer header
/// carries it.
fn authorized(token: Option<&str>, request: &Request<Incoming>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let in_query = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.strip_prefix("token="))
            .any(|given| same(given, token))
    });
    let in_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim(), token));
    in_query || in_header
}

/// Compares without stopping at the first differing byte, so the time
/// taken does not tell how much of a guessed token was right.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The event stream: the current snapshot at once, then each new one;
/// a comment after [`KEEP_ALIVE`] of silence. The permit is held by the
/// body, so the slot is freed when the connection drops it.
fn events(mut rx: watch::Receiver<Arc<Published>>, permit: OwnedSemaphorePermit) -> Response<Body> {
    rx.mark_changed();
    let stream = futures::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        let bytes = match tokio::time::timeout(KEEP_ALIVE, rx.changed()).await {
            Ok(Ok(())) => {
                let published = rx.borrow_and_update().clone();
                Bytes::from(format!(
                    "id: {}\nevent: snapshot\ndata: {}\n\n",
                    published.version, published.json
                ))
            }
            // The sampler stopped: the node is shutting down.
            Ok(Err(_)) => return None,
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok::<_, Infallible>(Frame::data(bytes)), (rx, permit)))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}
