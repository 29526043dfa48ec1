//! The server around the services: health, reflection, the HTTP listener and the CLI.

use std::process::Command;

use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

async fn health_reports_each_service_serving(app: TestApp) {
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "patron.v1.CustomerService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let body = reqwest_free_get(app.http_addr, "/healthz").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
}

on_both_databases!(health_reports_each_service_serving,);

/// GET over a raw TCP connection (the tests need no HTTP client crate).
async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

#[tokio::test]
async fn reflection_v1alpha_lists_services_and_resolves_error_details() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "google.rpc.BadRequest".into(),
            )),
        },
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection")
        .into_inner();
    let Some(Ok(first)) = responses.next().await else {
        panic!("no list response")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("not a list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["patron.v1.CustomerService", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let Some(Ok(second)) = responses.next().await else {
        panic!("no file response")
    };
    assert!(
        matches!(
            second.message_response,
            Some(MessageResponse::FileDescriptorResponse(_))
        ),
        "google.rpc.BadRequest resolves, so grpcurl can print error details"
    );
}

#[test]
fn bad_configuration_exits_with_one_line_naming_the_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["serve", "--grpc-addr", "not-an-address"])
        .output()
        .expect("run patron");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PATRON_GRPC_ADDR"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["serve", "--database-url", "mysql://x"])
        .output()
        .expect("run patron");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
}

#[test]
fn version_and_migrate_run_and_exit() {
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .arg("version")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("patron "));

    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["migrate", "--database-url", &url])
        .env("PATRON_LOG_FORMAT", "json")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("m.db").exists());
}

#[test]
fn serve_logs_bound_addresses_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .env("PATRON_LOG_FORMAT", "json")
        .env("PATRON_LOG", "info")
        .env_remove("DATABASE_URL")
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut grpc = None;
    let mut http = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if let Some(addr) = json.get("grpc_addr") {
            grpc = addr.as_str().map(str::to_owned);
        }
        if let Some(addr) = json.get("http_addr") {
            http = addr.as_str().map(str::to_owned);
        }
        if grpc.is_some() && http.is_some() {
            break;
        }
    }
    let grpc = grpc.expect("gRPC address logged");
    assert!(!grpc.ends_with(":0"), "the bound port is logged: {grpc}");
    assert!(http.is_some());
    assert!(
        dir.path().join("patron.db").exists(),
        "the embedded default database is created"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "exit 0 after SIGTERM: {exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("NOT_SERVING")), "{rest:?}");
}

/// A database that went away is UNAVAILABLE with RetryInfo (retryable), never INTERNAL, and the
/// message names no SQL. Only PostgreSQL can disappear under a running server: the embedded SQLite
/// file is opened by the process itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_went_away_is_unavailable_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let created = app
        .create(crate::helpers::customer("Before", "before"))
        .await;
    app.kill_database().await;
    let status = app
        .customers
        .clone()
        .get_customer(patron::grpc::pb::GetCustomerRequest {
            lookup: Some(patron::grpc::pb::get_customer_request::Lookup::Id(
                created.id,
            )),
        })
        .await
        .unwrap_err();
    crate::helpers::assert_error(&status, tonic::Code::Unavailable, "UNAVAILABLE");
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert!(
        details.retry_info().is_some(),
        "RetryInfo tells the caller to retry"
    );
    assert!(
        !status.message().to_lowercase().contains("select"),
        "{}",
        status.message()
    );
    assert!(
        !status.message().contains("patron_test_"),
        "{}",
        status.message()
    );
}

/// An embedded SQLite file has one server: a second process on it refuses to start (so the
/// in-process customer cache can never serve what another process wrote).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_sqlite_file_refuses_to_start() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["migrate", "--database-url", &app.database_url])
        .env("PATRON_LOG_FORMAT", "json")
        .output()
        .expect("run patron");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another patron process is serving the SQLite file"),
        "{stderr}"
    );
    // The running server is unaffected.
    app.create(crate::helpers::customer("Still here", "still-here"))
        .await;
}

/// Kills the child process if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// SIGHUP re-reads PATRON_API_KEYS_FILE (new key in, old key out) and never stops the server; a
/// file that does not parse keeps the previous keys and says so in one error line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_api_keys_file_and_keeps_serving() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    use patron::grpc::pb;
    use patron::grpc::pb::customer_service_client::CustomerServiceClient;
    use sha2::Digest;

    let dir = tempfile::tempdir().expect("dir");
    let keys_file = dir.path().join("api-keys");
    let entry = |key: &str| {
        let digest: String = sha2::Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("tenant:{digest}\n")
    };
    std::fs::write(&keys_file, entry("first-key")).expect("write keys");
    let child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .env("PATRON_API_KEYS_FILE", &keys_file)
        // Only SIGHUP reloads in this test.
        .env("PATRON_API_KEYS_POLL_SECS", "0")
        .env("PATRON_LOG_FORMAT", "json")
        .env("PATRON_LOG", "info")
        .env_remove("DATABASE_URL")
        .env_remove("PATRON_API_KEYS")
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = Running(child);
    let stderr = child.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let grpc = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let json: serde_json::Value = serde_json::from_str(&line).ok()?;
            json.get("grpc_addr")?.as_str().map(str::to_owned)
        })
        .expect("gRPC address logged");
    let (log_tx, log_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if log_tx.send(line).is_err() {
                break;
            }
        }
    });
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let call = |key: &str| {
        let auth = crate::helpers::BearerAuth(format!("Bearer {key}").parse().expect("ascii"));
        let mut client = CustomerServiceClient::with_interceptor(channel.clone(), auth);
        async move {
            client
                .list_customers(pb::ListCustomersRequest::default())
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }
    };
    let hup = |pid: u32| {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    assert_eq!(call("first-key").await, Ok(()));
    assert_eq!(call("second-key").await, Err(tonic::Code::Unauthenticated));

    std::fs::write(&keys_file, entry("second-key")).expect("rewrite keys");
    hup(child.0.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (first, second) = (call("first-key").await, call("second-key").await);
        if first == Err(tonic::Code::Unauthenticated) && second == Ok(()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reloaded: {first:?} {second:?}"
        );
        assert!(
            matches!(child.0.try_wait(), Ok(None)),
            "SIGHUP stopped the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    std::fs::write(&keys_file, "tenant:not-hex\n").expect("break keys");
    hup(child.0.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = log_rx
            .recv_timeout(left)
            .expect("an error line about the broken file");
        if line.contains("does not parse") {
            assert!(line.contains("\"ERROR\""), "{line}");
            break;
        }
    }
    assert_eq!(call("second-key").await, Ok(()), "the previous keys stay");
    assert!(matches!(child.0.try_wait(), Ok(None)), "still serving");

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.0.wait().expect("wait");
    assert!(exit.success(), "exit 0 after SIGTERM: {exit:?}");
}
