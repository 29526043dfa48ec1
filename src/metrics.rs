//! Prometheus metrics, served at `/metrics` on the HTTP listener: per-method request counts by
//! status code, latency histograms, in-flight calls, Stripe calls by endpoint and outcome, and
//! database pool gauges (read at scrape time).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric patron exports, in one registry per application instance (two servers in one
/// process, as in the tests, count their own calls only).
pub struct Metrics {
    registry: Registry,
    /// gRPC calls by service, method and status code.
    pub grpc_requests: IntCounterVec,
    /// gRPC call latency by service and method.
    pub grpc_latency: HistogramVec,
    /// gRPC calls in flight by service and method.
    pub grpc_in_flight: IntGaugeVec,
    /// Stripe calls (each attempt) by endpoint and outcome.
    pub stripe_requests: IntCounterVec,
    /// Stripe call latency (each attempt) by endpoint.
    pub stripe_latency: HistogramVec,
    /// Database pool connections by pool and state (idle, in_use).
    pub db_pool: IntGaugeVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let grpc_requests = IntCounterVec::new(
        Opts::new(
            "patron_grpc_requests_total",
            "gRPC calls by service, method and status code",
        ),
        &["service", "method", "code"],
    )?;
    let grpc_latency = HistogramVec::new(
        HistogramOpts::new("patron_grpc_request_duration_seconds", "gRPC call latency")
            .buckets(LATENCY_BUCKETS.to_vec()),
        &["service", "method"],
    )?;
    let grpc_in_flight = IntGaugeVec::new(
        Opts::new("patron_grpc_requests_in_flight", "gRPC calls being served"),
        &["service", "method"],
    )?;
    let stripe_requests = IntCounterVec::new(
        Opts::new(
            "patron_stripe_requests_total",
            "Stripe API attempts by endpoint and outcome",
        ),
        &["endpoint", "outcome"],
    )?;
    let stripe_latency = HistogramVec::new(
        HistogramOpts::new(
            "patron_stripe_request_duration_seconds",
            "Stripe API attempt latency",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["endpoint"],
    )?;
    let db_pool = IntGaugeVec::new(
        Opts::new(
            "patron_db_pool_connections",
            "Database pool connections by pool and state",
        ),
        &["pool", "state"],
    )?;
    registry.register(Box::new(grpc_requests.clone()))?;
    registry.register(Box::new(grpc_latency.clone()))?;
    registry.register(Box::new(grpc_in_flight.clone()))?;
    registry.register(Box::new(stripe_requests.clone()))?;
    registry.register(Box::new(stripe_latency.clone()))?;
    registry.register(Box::new(db_pool.clone()))?;
    Ok(Metrics {
        registry,
        grpc_requests,
        grpc_latency,
        grpc_in_flight,
        stripe_requests,
        stripe_latency,
        db_pool,
    })
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Result<Self, prometheus::Error> {
        build()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
