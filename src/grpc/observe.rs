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

use std::sync::{Arc, OnceLock};

use prometheus::{Histogram, IntCounter, IntGauge};

use crate::grpc::{known_method, known_method_count};
use crate::metrics::Metrics;

/// The application's metrics, with each known method's series looked up once (a labelled
/// lookup hashes the label values; four per call were ~1k instructions).
#[derive(Debug)]
struct Recorder {
    metrics: Arc<Metrics>,
    /// By the method's number, and last the one for paths patron does not serve ("unknown");
    /// filled on first use, so that a method never called exports no series.
    methods: Box<[OnceLock<MethodSeries>]>,
}

/// One method's series.
#[derive(Debug)]
struct MethodSeries {
    in_flight: IntGauge,
    latency: Histogram,
    ok: IntCounter,
}

impl Recorder {
    fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            methods: (0..=known_method_count())
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// The series of method number `index` (or of unknown paths), resolved on first use.
    fn series(&self, index: usize, service: &str, method: &str) -> &MethodSeries {
        self.methods[index].get_or_init(|| {
            let labels = [service, method];
            MethodSeries {
                in_flight: self.metrics.grpc_in_flight.with_label_values(&labels),
                latency: self.metrics.grpc_latency.with_label_values(&labels),
                ok: self
                    .metrics
                    .grpc_requests
                    .with_label_values(&[service, method, "OK"]),
            }
        })
    }
}

/// The layer; counts calls in the application's `metrics`.
#[derive(Clone, Debug)]
pub struct ObserveLayer {
    recorder: Arc<Recorder>,
}

impl ObserveLayer {
    /// A layer that records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            recorder: Arc::new(Recorder::new(metrics)),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            recorder: Arc::clone(&self.recorder),
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    recorder: Arc<Recorder>,
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
        let (index, service, method) = match known_method(request.uri().path()) {
            Some(m) => (m.index, m.service, m.method),
            None => (known_method_count(), "unknown", "unknown"),
        };
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
        // Nobody records a disabled span (no trace exporter): no parent to look for.
        if !span.is_disabled() {
            let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(request.headers()))
            });
            let _ = span.set_parent(parent);
        }
        let mut call = CallMetrics::start(Arc::clone(&self.recorder), index, service, method);
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
    recorder: Arc<Recorder>,
    /// The method's number in the recorder.
    index: usize,
    service: &'static str,
    method: &'static str,
    started: Instant,
    code: Option<&'static str>,
}

impl CallMetrics {
    fn start(
        recorder: Arc<Recorder>,
        index: usize,
        service: &'static str,
        method: &'static str,
    ) -> Self {
        recorder.series(index, service, method).in_flight.inc();
        Self {
            recorder,
            index,
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
        let series = self.recorder.series(self.index, self.service, self.method);
        series.in_flight.dec();
        series.latency.observe(self.started.elapsed().as_secs_f64());
        match self.code.unwrap_or("CANCELLED") {
            "OK" => series.ok.inc(),
            code => self
                .recorder
                .metrics
                .grpc_requests
                .with_label_values(&[self.service, self.method, code])
                .inc(),
        }
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
            recorder: Arc::new(Recorder::new(Arc::clone(&m))),
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
