//! Metrics scraped from /metrics, spans received by an OTLP collector, and health that follows
//! the database.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use patron::grpc::pb;
use patron::grpc::pb::customer_service_client::CustomerServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, TestApp, customer};
use crate::stripe_apps::install;

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

/// The sum of the samples of `name` whose labels include all of `labels` (counters and gauges
/// are whole numbers).
fn counter(scrape: &str, name: &str, labels: &[&str]) -> u64 {
    scrape
        .lines()
        .filter(|l| {
            l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|label| l.contains(label))
        })
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("not a whole number: {l}"))
        })
        .sum()
}

async fn metrics_count_calls_stripe_and_the_pool(app: TestApp) {
    let created = app.create(customer("Metered", "metered")).await;
    let missing = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key("nobody".into())),
        })
        .await;
    assert!(missing.is_err());
    assert!(!created.id.is_empty());
    install(&app).await;
    let scrape = http_get(app.http_addr, "/metrics").await;
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    // The registry belongs to this server: exactly the calls of this test, no other's.
    let service = "service=\"patron.v1.CustomerService\"";
    let calls = |labels: &[&str]| counter(&scrape, "patron_grpc_requests_total", labels);
    assert_eq!(
        calls(&[service, "method=\"CreateCustomer\"", "code=\"OK\""]),
        1,
        "{scrape}"
    );
    assert_eq!(
        calls(&[service, "method=\"GetCustomer\"", "code=\"NOT_FOUND\""]),
        1
    );
    assert_eq!(calls(&[service]), 2, "nothing else on CustomerService");
    assert_eq!(
        calls(&[
            "service=\"patron.v1.AppService\"",
            "method=\"InstallStripeApp\"",
            "code=\"OK\""
        ]),
        1
    );
    assert_eq!(calls(&[]), 3, "three calls in all: {scrape}");
    assert_eq!(
        counter(
            &scrape,
            "patron_grpc_request_duration_seconds_count",
            &[service, "method=\"CreateCustomer\""]
        ),
        1
    );
    assert!(scrape.contains("patron_grpc_requests_in_flight"));
    assert_eq!(
        counter(&scrape, "patron_grpc_requests_in_flight", &[]),
        0,
        "nothing in flight"
    );
    assert_eq!(
        counter(
            &scrape,
            "patron_stripe_requests_total",
            &["endpoint=\"GET /v1/account\"", "outcome=\"ok\""]
        ),
        1
    );
    assert_eq!(
        counter(&scrape, "patron_stripe_requests_total", &[]),
        u64::try_from(app.stripe.requests().len()).expect("count"),
        "one attempt counted per request Stripe saw: {scrape}"
    );
    assert!(scrape.contains("patron_stripe_request_duration_seconds_bucket"));
    assert!(
        scrape.contains("patron_db_pool_connections{pool="),
        "{scrape}"
    );
}

crate::on_both_databases!(metrics_count_calls_stripe_and_the_pool);

/// An in-process OTLP trace collector.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().expect("lock");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_with_the_callers_trace() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    let server = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("PATRON_LOG_FORMAT", "json")
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let log = crate::helpers::ChildLog::wait_for_listening(
        child.stderr.take().expect("stderr"),
        Duration::from_secs(30),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", log.grpc_addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect to patron");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = tonic::Request::new(pb::CreateCustomerRequest {
        customer: Some(customer("Traced", "traced")),
        request_id: String::new(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("ascii"),
    );
    CustomerServiceClient::new(channel)
        .create_customer(request)
        .await
        .expect("call");
    // SIGTERM flushes the exporter before exit.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let spans = collector.0.lock().expect("lock").clone();
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == trace_id)
        .collect();
    let rpc = ours
        .iter()
        .find(|s| attribute(s, "rpc.method").as_deref() == Some("CreateCustomer"))
        .unwrap_or_else(|| {
            panic!(
                "no RPC span in the caller's trace among {} spans",
                spans.len()
            )
        });
    assert_eq!(attribute(rpc, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attribute(rpc, "rpc.service").as_deref(),
        Some("patron.v1.CustomerService")
    );
    assert_eq!(attribute(rpc, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(
        hex(&rpc.parent_span_id),
        "00f067aa0ba902b7",
        "the caller's span is the parent"
    );
    let db = ours
        .iter()
        .filter(|s| attribute(s, "db.system").as_deref() == Some("sqlite"))
        .count();
    assert!(db >= 1, "database calls are child spans of the call ({db})");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Health follows the database: NOT_SERVING while it is unreachable. Only PostgreSQL can
/// disappear under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_not_serving_while_the_database_is_unreachable() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut health = HealthClient::new(app.channel().await);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    assert_eq!(
        health
            .check(check(""))
            .await
            .expect("health")
            .into_inner()
            .status,
        ServingStatus::Serving as i32
    );
    app.kill_database().await;
    let mut status = ServingStatus::Serving as i32;
    for _ in 0..60 {
        status = health
            .check(check("patron.v1.CustomerService"))
            .await
            .expect("health")
            .into_inner()
            .status;
        if status == ServingStatus::NotServing as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, ServingStatus::NotServing as i32);
    let healthz = http_get(app.http_addr, "/healthz").await;
    assert!(healthz.starts_with("HTTP/1.1 503"), "{healthz}");
}
