//! One span and one set of metrics per gRPC call: a tower layer in front of every service.
//!
//! The span continues the caller's W3C trace (`traceparent` metadata) and carries rpc.system,
//! rpc.service, rpc.method and the gRPC status code; database and Stripe calls are its children.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use opentelemetry::propagation::Extractor;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use std::sync::Arc;

use crate::metrics::Metrics;

/// The layer; counts calls in the application's `metrics`.
#[derive(Clone, Debug)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    /// A layer that records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// gRPC status code names, as OpenTelemetry and Prometheus users read them.
fn code_name(code: i32) -> &'static str {
    tonic::Code::from_i32(code).description_name()
}

trait CodeName {
    fn description_name(self) -> &'static str;
}

impl CodeName for tonic::Code {
    fn description_name(self) -> &'static str {
        use tonic::Code::*;
        match self {
            Ok => "OK",
            Cancelled => "CANCELLED",
            Unknown => "UNKNOWN",
            InvalidArgument => "INVALID_ARGUMENT",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            NotFound => "NOT_FOUND",
            AlreadyExists => "ALREADY_EXISTS",
            PermissionDenied => "PERMISSION_DENIED",
            ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailedPrecondition => "FAILED_PRECONDITION",
            Aborted => "ABORTED",
            OutOfRange => "OUT_OF_RANGE",
            Unimplemented => "UNIMPLEMENTED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
            DataLoss => "DATA_LOSS",
            Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl<S, B, R> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<R>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (service, method) = crate::grpc::method_labels(request.uri().path());
        let span = tracing::info_span!(
            "grpc",
            otel.name = %format!("{service}/{method}"),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        let mut call = CallMetrics::start(Arc::clone(&self.metrics), service, method);
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let result = future.await;
                // Errors of unary calls travel "trailers-only", with grpc-status in the headers;
                // a successful call's status 0 comes in the trailers.
                let code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(0),
                    Err(_) => 2,
                };
                let span = tracing::Span::current();
                span.record("rpc.grpc.status_code", code);
                if code != 0 {
                    span.record("otel.status_code", "ERROR");
                }
                call.finish(code_name(code));
                result
            }
            .instrument(span),
        )
    }
}

/// One call's metrics: in flight from `start` until dropped, whether the call finished or its
/// future was dropped (the caller cancelled, the connection closed); a call that never finished
/// counts as CANCELLED.
struct CallMetrics {
    metrics: Arc<Metrics>,
    service: &'static str,
    method: &'static str,
    started: Instant,
    code: Option<&'static str>,
}

impl CallMetrics {
    fn start(metrics: Arc<Metrics>, service: &'static str, method: &'static str) -> Self {
        metrics
            .grpc_in_flight
            .with_label_values(&[service, method])
            .inc();
        Self {
            metrics,
            service,
            method,
            started: Instant::now(),
            code: None,
        }
    }

    fn finish(&mut self, code: &'static str) {
        self.code = Some(code);
    }
}

impl Drop for CallMetrics {
    fn drop(&mut self) {
        let m = &self.metrics;
        let labels = [self.service, self.method];
        m.grpc_in_flight.with_label_values(&labels).dec();
        m.grpc_requests
            .with_label_values(&[self.service, self.method, self.code.unwrap_or("CANCELLED")])
            .inc();
        m.grpc_latency
            .with_label_values(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// A service whose calls never finish.
    struct Never;

    impl Service<Request<()>> for Never {
        type Response = Response<()>;
        type Error = std::convert::Infallible;
        type Future = std::future::Pending<Result<Response<()>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::pending()
        }
    }

    #[test]
    fn a_dropped_call_leaves_nothing_in_flight_and_counts_as_cancelled() {
        let labels = ["patron.v1.AppService", "UninstallApp"];
        let m = Arc::new(Metrics::new().unwrap());
        let in_flight = m.grpc_in_flight.with_label_values(&labels);
        let cancelled = m
            .grpc_requests
            .with_label_values(&[labels[0], labels[1], "CANCELLED"]);
        let mut service = Observe {
            inner: Never,
            metrics: Arc::clone(&m),
        };
        let request = Request::builder()
            .uri("/patron.v1.AppService/UninstallApp")
            .body(())
            .unwrap();
        let mut call = service.call(request);
        assert!((&mut call).now_or_never().is_none(), "still running");
        assert_eq!(in_flight.get(), 1);
        // The caller goes away (cancelled, timed out, connection closed): the future is dropped.
        drop(call);
        assert_eq!(in_flight.get(), 0);
        assert_eq!(cancelled.get(), 1);
    }
}
