//! The HTTP listener: Stripe webhooks, Prometheus /metrics, and the probes: /livez (the process
//! is alive and serving; never looks at the database) and /readyz (= /healthz: the database
//! answers).

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use std::sync::Arc;

use crate::metrics::Metrics;
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

/// Serves HTTP on `listener` until `shutdown` completes; /metrics renders `metrics`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    webhooks: Webhooks,
    metrics: Arc<Metrics>,
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
        .with_state(HttpState {
            store,
            webhooks,
            metrics,
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
