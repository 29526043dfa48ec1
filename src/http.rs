//! The HTTP listener: Stripe webhooks (also at OpenMeter's `/api/v1/apps/{id}/stripe/webhook`),
//! the REST API under `/api/v1` (`crate::rest`), Prometheus /metrics, and the probes: /livez (the
//! process is alive and serving; never looks at the database) and /readyz (= /healthz: the
//! database answers).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::rest::problem::Problem;
use crate::service::Webhooks;
use crate::service::webhooks::{MAX_BODY, MAX_HEADER_BYTES, WebhookOutcome};
use crate::storage::Store;

#[derive(Clone)]
struct HttpState {
    store: Store,
    webhooks: Webhooks,
    metrics: Arc<Metrics>,
}

/// How long readiness waits for the database (less than a probe's usual 2 s timeout).
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n"),
        Ok(Err(_)) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n"),
    }
}

/// Liveness: answering at all is the proof; a database outage must not restart the process.
async fn livez() -> (StatusCode, &'static str) {
    (StatusCode::OK, "alive\n")
}

async fn render_metrics(
    State(state): State<HttpState>,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let m = &state.metrics;
    for (pool, size, idle) in state.store.pool_stats() {
        m.db_pool.with_label_values(&[pool, "idle"]).set(idle);
        m.db_pool
            .with_label_values(&[pool, "in_use"])
            .set(size - idle);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
}

async fn stripe_webhook(
    State(state): State<HttpState>,
    app_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut signatures = headers.get_all("stripe-signature").iter();
    let outcome = match (signatures.next(), signatures.next()) {
        // Several headers, or one over the bound: refused before any database read.
        (_, Some(_)) => WebhookOutcome::InvalidSignature,
        (Some(signature), None) if signature.len() > MAX_HEADER_BYTES => {
            WebhookOutcome::InvalidSignature
        }
        (signature, None) => {
            // An app id that is not even text is answered like an unknown app.
            let app_id = app_id.map(|Path(id)| id).unwrap_or_default();
            state
                .webhooks
                .handle(&app_id, signature.map(HeaderValue::as_bytes), &body)
                .await
        }
    };
    webhook_response(outcome)
}

fn webhook_response(outcome: WebhookOutcome) -> (StatusCode, String) {
    match outcome {
        WebhookOutcome::Accepted(what) => (
            StatusCode::OK,
            format!("{{\"received\":true,\"result\":\"{what}\"}}"),
        ),
        WebhookOutcome::InvalidSignature => (
            StatusCode::BAD_REQUEST,
            "{\"error\":\"invalid signature\"}".to_owned(),
        ),
        WebhookOutcome::Rejected(why) => {
            (StatusCode::BAD_REQUEST, format!("{{\"error\":\"{why}\"}}"))
        }
        WebhookOutcome::Failed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "{\"error\":\"not processed; retry\"}".to_owned(),
        ),
    }
}

/// Most HTTP connections open at once; a further one waits in the kernel's backlog.
const MAX_CONNECTIONS: usize = 1024;
/// Most HTTP requests served at once (probes excepted); a further one is answered 503 with
/// Retry-After at once.
const MAX_CONCURRENT_REQUESTS: usize = 256;
/// A client that has not sent a request's headers within this time loses the connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request (its body included) not answered within this time is answered 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (start line and headers) read; larger is 431. Roomy enough that an
/// oversized `Stripe-Signature` (bounded far lower) still reaches the webhook and gets the one
/// answer every unverified delivery gets.
const MAX_REQUEST_HEAD: usize = 256 * 1024;

/// Every endpoint of this listener is reachable before authentication: bound the requests in
/// flight (probes excepted, so they answer under load) and how long one may take.
async fn bounded(
    State(slots): State<Arc<Semaphore>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let probe = matches!(path.as_str(), "/livez" | "/readyz" | "/healthz");
    // The REST API answers its clients in problems (the only errors they parse).
    let api = path.starts_with("/api/");
    let _slot = if probe {
        None
    } else {
        match slots.try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) if api => return Problem::overloaded().response_at(&path),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    "overloaded; retry\n",
                )
                    .into_response();
            }
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) if api => Problem::timed_out().response_at(&path),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
    }
}

/// Serves HTTP on `listener` until `shutdown` completes: at most `MAX_CONNECTIONS` connections,
/// each losing its connection when its headers take longer than `HEADER_READ_TIMEOUT`; at
/// shutdown, idle connections close at once and busy ones after their request (the caller bounds
/// the whole with the grace period). /metrics renders `metrics`; `rest` (the REST API's router,
/// its paths under /api/v1) is served beside the rest, under the same bounds.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    webhooks: Webhooks,
    metrics: Arc<Metrics>,
    rest: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(readyz))
        .route("/readyz", get(readyz))
        .route("/livez", get(livez))
        .route("/metrics", get(render_metrics))
        .route(
            "/webhooks/stripe/{app_id}",
            post(stripe_webhook).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route(
            crate::rest::WEBHOOK_ALIAS,
            post(stripe_webhook).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .with_state(HttpState {
            store,
            webhooks,
            metrics,
        })
        .merge(rest)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            bounded,
        ));

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(32)
        .max_header_list_size(MAX_REQUEST_HEAD as u32);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = connections.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: let the condition pass.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
