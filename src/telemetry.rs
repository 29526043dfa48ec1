//! Logging and tracing: JSON lines (or pretty on a terminal) at the level of PATRON_LOG or
//! RUST_LOG; OpenTelemetry traces exported by OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set
//! (the standard OTEL_* variables configure the exporter and the service name), nothing exported
//! otherwise. W3C trace context is always understood, so callers' traces continue.
//!
//! Each output filters for itself (per-layer filters), so a span nobody wants costs nothing: the
//! log lines carry patron's own spans (the call, the use case) as context but never see the
//! database driver's spans, whose statement text would otherwise be formatted as JSON on every
//! query although no line is written; those reach the OTLP exporter only, when it is configured.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::config::LogFormat;

/// The filter used when neither PATRON_LOG nor RUST_LOG is set.
const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn,sea_orm_migration=warn";

/// Flushes and stops the trace exporter when dropped (at shutdown).
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("patron: flushing traces failed: {e}");
        }
    }
}

fn tracer_provider() -> Option<SdkTracerProvider> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .ok()
        .filter(|e| !e.is_empty())?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("patron: OTLP exporter for {endpoint} unavailable: {e}");
            return None;
        }
    };
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("patron");
    }
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    )
}

/// The level filter: PATRON_LOG, else RUST_LOG, else [`DEFAULT_FILTER`].
fn level_filter() -> EnvFilter {
    std::env::var("PATRON_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER))
}

/// Whether log lines carry the spans they happen in (PATRON_LOG_SPANS=true): patron's own spans
/// (the call, the use case) as context. Off by default: the formatter turns every such span's
/// fields into JSON on every call, logged or not, which costs more CPU than the call's own work.
fn log_spans() -> bool {
    std::env::var("PATRON_LOG_SPANS").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether log lines see this callsite: every event and, with `spans`, the spans of patron's own
/// code; other crates' spans (sea-orm's per-statement spans) are for traces only.
fn logged(meta: &tracing::Metadata<'_>, spans: bool) -> bool {
    let target = meta.target();
    !meta.is_span() || (spans && (target == "patron" || target.starts_with("patron::")))
}

/// Installs the global subscriber (once; later calls do nothing but return an empty guard).
pub fn init(format: Option<LogFormat>) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let provider = tracer_provider();
    // A list of filtered layers: a callsite no output wants is never enabled at all (an absent
    // `Option` layer would count as one that wants everything).
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::with_capacity(2);
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("patron"))
                .with_filter(level_filter())
                .boxed(),
        );
    }
    let spans = log_spans();
    let log_filter = level_filter().and(filter_fn(move |meta| logged(meta, spans)));
    layers.push(match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    });
    let installed = tracing_subscriber::registry().with(layers).try_init();
    if installed.is_err() {
        return TelemetryGuard(None);
    }
    TelemetryGuard(provider)
}
