//! Overload and operations: load shedding with RetryInfo, the default deadline, statement and
//! message-size limits, bounded metric labels, bounded streams that end at shutdown, liveness vs
//! readiness, and API keys reloaded from their file while serving.

use std::time::{Duration, Instant};

use patron::app::Application;
use patron::config::{ApiKeysFile, Settings, parse_api_keys};
use patron::grpc::pb;
use sea_orm::{ConnectionTrait, Database, DatabaseTransaction, TransactionTrait};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, assert_error, customer};

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

/// Holds the database's write lock (SQLite) or a SHARE lock on `customers` (PostgreSQL: inserts
/// wait, reads do not) from a connection of its own, so that CreateCustomer waits until `release`.
struct WriteBlocker(DatabaseTransaction);

impl WriteBlocker {
    async fn hold(app: &TestApp, backend: Backend) -> Self {
        let db = Database::connect(&app.database_url).await.expect("connect");
        let tx = db.begin().await.expect("begin");
        let statement = match backend {
            Backend::Sqlite => "CREATE TABLE overload_blocker (i INTEGER)",
            Backend::Postgres => "LOCK TABLE customers IN SHARE MODE",
        };
        tx.execute_unprepared(statement).await.expect("lock");
        Self(tx)
    }

    async fn release(self) {
        self.0.rollback().await.expect("rollback");
    }
}

/// Returns once a PostgreSQL statement whose text is LIKE `pattern` waits for a lock (within 5 s).
async fn until_a_statement_waits_for_a_lock(app: &TestApp, pattern: &str) {
    let waiting = format!(
        "SELECT pid::text FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE '{pattern}'"
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        // Each look is a fresh connection and query: the loop paces itself.
        while app.query(&waiting).await.is_empty() {}
    })
    .await
    .unwrap_or_else(|_| panic!("no statement like {pattern} waits for a lock"));
}

fn create_request(key: &str) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        customer: Some(customer("Blocked", key)),
        request_id: String::new(),
    }
}

async fn health_status(app: &TestApp) -> i32 {
    HealthClient::new(app.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

async fn a_call_past_the_default_deadline_is_deadline_exceeded(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.default_deadline = Duration::from_millis(500);
    })
    .await;
    let blocker = WriteBlocker::hold(&app, backend).await;
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        app.customers
            .clone()
            .create_customer(create_request("late")),
    )
    .await
    .expect("the server answers by its deadline")
    .unwrap_err();
    assert_error(&status, Code::DeadlineExceeded, "DEADLINE_EXCEEDED");
    assert!(started.elapsed() < Duration::from_secs(5), "{started:?}");
    blocker.release().await;
    // A caller's own grpc-timeout wins over the default.
    let mut request = tonic::Request::new(create_request("on-time"));
    request.set_timeout(Duration::from_secs(5));
    app.customers
        .clone()
        .create_customer(request)
        .await
        .expect("unblocked call succeeds");
}

async fn a_saturated_server_sheds_with_retry_info_and_health_still_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.max_concurrent_calls = 1;
    })
    .await;
    let blocker = WriteBlocker::hold(&app, backend).await;
    let hold = || {
        let mut client = app.customers.clone();
        tokio::spawn(async move { client.create_customer(create_request("held")).await })
    };
    let mut holder = hold();
    // The held call takes the only slot as soon as it arrives; until then calls may pass (and
    // one of them may make the holder itself be shed: then it tries again).
    let deadline = Instant::now() + Duration::from_secs(10);
    let shed = loop {
        if holder.is_finished() {
            let result = holder.await.expect("task");
            assert_eq!(
                result.map_err(|s| s.code()).err(),
                Some(Code::ResourceExhausted),
                "the held call can only have been shed"
            );
            holder = hold();
        }
        let result = app
            .customers
            .clone()
            .get_customer(pb::GetCustomerRequest {
                lookup: Some(pb::get_customer_request::Lookup::Key("nobody".into())),
            })
            .await;
        match result {
            Err(status) if status.code() == Code::ResourceExhausted => break status,
            _ => {
                assert!(Instant::now() < deadline, "no call was shed: {result:?}");
                tokio::task::yield_now().await;
            }
        }
    };
    let metadata = assert_error(&shed, Code::ResourceExhausted, "OVERLOADED");
    assert_eq!(
        metadata.get("limit").map(String::as_str),
        Some("concurrent calls")
    );
    let retry = shed.get_error_details().retry_info().cloned();
    assert!(
        retry.is_some_and(|r| r.retry_delay.is_some()),
        "RetryInfo with a delay: {shed:?}"
    );
    assert_eq!(
        health_status(&app).await,
        ServingStatus::Serving as i32,
        "health checks bypass the limit"
    );
    blocker.release().await;
    holder
        .await
        .expect("task")
        .expect("the held call completes once the lock is released");
    app.create(customer("After", "after")).await;
}

async fn a_call_that_waits_past_the_pool_acquire_timeout_is_unavailable(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.db_max_connections = 1;
        s.limits.db_acquire_timeout = Duration::from_millis(300);
    })
    .await;
    let blocker = WriteBlocker::hold(&app, backend).await;
    // Two writers, one connection (PostgreSQL: the pool's only one; SQLite: the one writer): the
    // one that gets it waits for the lock, the other gives up on the pool.
    let spawn = |key: &'static str| {
        let mut client = app.customers.clone();
        tokio::spawn(async move { client.create_customer(create_request(key)).await })
    };
    let mut a = spawn("writer-a");
    if backend == Backend::Postgres {
        // Creates arriving together share one statement (and so one connection): the second
        // writer is sent once the first one's statement waits for the lock.
        until_a_statement_waits_for_a_lock(&app, "%INSERT INTO customers%").await;
    }
    let mut b = spawn("writer-b");
    let (first, other) = tokio::time::timeout(Duration::from_secs(3), async {
        tokio::select! {
            r = &mut a => (r, b),
            r = &mut b => (r, a),
        }
    })
    .await
    .expect("one call gives up well before its deadline");
    let status = first.expect("task").unwrap_err();
    assert_error(&status, Code::Unavailable, "UNAVAILABLE");
    assert!(status.get_error_details().retry_info().is_some());
    blocker.release().await;
    other
        .await
        .expect("task")
        .expect("the waiting call completes once the lock is released");
}

async fn oversize_requests_are_resource_exhausted_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let huge = customer(&"x".repeat(2 * 1024 * 1024), "huge");
    let status = app.try_create(huge).await.unwrap_err();
    assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(
        app.list_all(pb::ListCustomersRequest::default())
            .await
            .is_empty()
    );
    // IngestEvents takes large batches: three events of 600 KiB each (1.8 MiB).
    let data = format!("{{\"blob\":\"{}\"}}", "y".repeat(600 * 1024));
    let events: Vec<pb::CloudEvent> = (0..3)
        .map(|i| {
            let string = |s: &str| pb::cloud_event::CloudEventAttributeValue {
                attr: Some(
                    pb::cloud_event::cloud_event_attribute_value::Attr::CeString(s.to_owned()),
                ),
            };
            pb::CloudEvent {
                id: format!("big-{i}"),
                source: "overload-test".into(),
                spec_version: "1.0".into(),
                r#type: "api-calls".into(),
                attributes: [
                    ("subject".to_owned(), string("big-subject")),
                    ("datacontenttype".to_owned(), string("application/json")),
                ]
                .into(),
                data: Some(pb::cloud_event::Data::TextData(data.clone())),
            }
        })
        .collect();
    let accepted = app
        .events
        .clone()
        .ingest_events(pb::IngestEventsRequest { events })
        .await
        .expect("a 1.8 MiB batch is accepted")
        .into_inner()
        .accepted;
    assert_eq!(accepted, 3);
}

async fn api_keys_file_changes_are_picked_up_and_a_broken_file_keeps_the_keys(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("api-keys");
    let entry = |namespace: &str, key: &str| {
        let digest: String = sha2::Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{namespace}:{digest}\n")
    };
    // Written beside and renamed over, as a Kubernetes Secret volume swaps its files.
    let write = |text: &str| {
        let tmp = dir.path().join("api-keys.tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
    };
    write(&entry("tenant", "old-key"));
    let keys = parse_api_keys("file", &std::fs::read_to_string(&path).expect("read")).unwrap();
    let file = ApiKeysFile {
        path: path.clone(),
        keys,
    };
    let app = TestApp::spawn_with(backend, move |s| {
        s.api_keys_file = Some(file);
        s.api_keys_poll = Duration::from_millis(50);
    })
    .await;
    let old = app.tenant("old-key").await;
    let new = app.tenant("new-key").await;
    let list = |mut client: pb::customer_service_client::CustomerServiceClient<_>| async move {
        client
            .list_customers(pb::ListCustomersRequest::default())
            .await
            .map(|_| ())
            .map_err(|s| s.code())
    };
    assert_eq!(list(old.customers.clone()).await, Ok(()));
    assert_eq!(
        list(new.customers.clone()).await,
        Err(Code::Unauthenticated)
    );

    write(&format!("# rotated\n{}", entry("tenant", "new-key")));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (o, n) = (
            list(old.customers.clone()).await,
            list(new.customers.clone()).await,
        );
        if o == Err(Code::Unauthenticated) && n == Ok(()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keys not reloaded: old {o:?}, new {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    write("tenant:not-a-digest\n");
    // Nothing observable happens on a broken file: check across many poll intervals that the
    // current key keeps working and the revoked one stays revoked.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(list(new.customers.clone()).await, Ok(()));
        assert_eq!(
            list(old.customers.clone()).await,
            Err(Code::Unauthenticated)
        );
    }
}

crate::on_both_databases!(
    backend:
    a_call_past_the_default_deadline_is_deadline_exceeded,
    a_saturated_server_sheds_with_retry_info_and_health_still_answers,
    a_call_that_waits_past_the_pool_acquire_timeout_is_unavailable,
    oversize_requests_are_resource_exhausted_and_store_nothing,
    api_keys_file_changes_are_picked_up_and_a_broken_file_keeps_the_keys,
);

/// PostgreSQL cancels a statement past statement_timeout (SQLSTATE 57014): UNAVAILABLE with
/// RetryInfo, well before the call's deadline. (SQLite has no statement timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_statement_timeout_is_unavailable_on_postgres() {
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.limits.db_statement_timeout = Duration::from_millis(300);
        s.limits.default_deadline = Duration::from_secs(15);
    })
    .await;
    let blocker = WriteBlocker::hold(&app, Backend::Postgres).await;
    let started = Instant::now();
    let status = app
        .customers
        .clone()
        .create_customer(create_request("slow"))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unavailable, "UNAVAILABLE");
    assert!(status.get_error_details().retry_info().is_some());
    assert!(started.elapsed() < Duration::from_secs(10), "{started:?}");
    blocker.release().await;
    app.create(customer("After", "after")).await;
}

/// PostgreSQL merges concurrent GetCustomer reads into one statement at a time. A read queued
/// behind a statement stuck on a lock is not held past the pool's acquire timeout: it is
/// UNAVAILABLE with RetryInfo, and the stuck one still answers once the lock is gone. (SQLite
/// reads never queue behind each other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_queued_behind_a_stuck_read_is_unavailable_at_the_acquire_timeout_on_postgres() {
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.limits.db_acquire_timeout = Duration::from_millis(300);
        s.limits.default_deadline = Duration::from_secs(30);
    })
    .await;
    let stored = app.create(customer("Locked", "locked")).await;
    let db = Database::connect(&app.database_url).await.expect("connect");
    let lock = db.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let get = |id: String| {
        let mut client = app.customers.clone();
        tokio::spawn(async move {
            client
                .get_customer(pb::GetCustomerRequest {
                    lookup: Some(pb::get_customer_request::Lookup::Id(id)),
                })
                .await
        })
    };
    let stuck = get(stored.id.clone());
    until_a_statement_waits_for_a_lock(&app, "%FROM unnest%").await;
    let started = Instant::now();
    let queued = tokio::time::timeout(Duration::from_secs(5), get(stored.id.clone()))
        .await
        .expect("the queued read gives up well before its deadline")
        .expect("task");
    let status = queued.unwrap_err();
    assert_error(&status, Code::Unavailable, "UNAVAILABLE");
    assert!(status.get_error_details().retry_info().is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "gave up only at the acquire timeout: {:?}",
        started.elapsed()
    );
    assert!(
        !stuck.is_finished(),
        "the first read still waits for the lock"
    );
    lock.rollback().await.expect("rollback");
    let found = tokio::time::timeout(Duration::from_secs(5), stuck)
        .await
        .expect("the stuck read answers once the lock is gone")
        .expect("task")
        .expect("found")
        .into_inner();
    assert_eq!(found.id, stored.id);
}

/// Liveness says only that the process serves; readiness follows the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_ignores_the_database_and_readiness_follows_it_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert!(
        http_get(app.http_addr, "/livez")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        http_get(app.http_addr, "/readyz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    app.kill_database().await;
    let ready = http_get(app.http_addr, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    let compat = http_get(app.http_addr, "/healthz").await;
    assert!(compat.starts_with("HTTP/1.1 503"), "{compat}");
    let live = http_get(app.http_addr, "/livez").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
}

/// Unknown paths all share one `unknown` label: 2,000 of them add no series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_add_no_metric_series() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    for i in 0..2000 {
        grpc.ready().await.expect("ready");
        let path = format!("/overload.Probe{}/Method{i}", i % 7)
            .parse()
            .expect("path");
        let status = grpc
            .unary::<(), (), _>(
                tonic::Request::new(()),
                path,
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }
    let scrape = http_get(app.http_addr, "/metrics").await;
    assert!(scrape.starts_with("HTTP/1.1 200"));
    assert!(!scrape.contains("overload.Probe"), "a path became a label");
    let unknown: Vec<&str> = scrape
        .lines()
        .filter(|l| l.starts_with("patron_grpc_") && l.contains("service=\"unknown\""))
        .collect();
    // One latency histogram (buckets, sum, count), one in-flight gauge, a few status codes.
    assert!(unknown.len() < 30, "{unknown:#?}");
    let unimplemented = unknown
        .iter()
        .find(|l| {
            l.starts_with("patron_grpc_requests_total") && l.contains("code=\"UNIMPLEMENTED\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(
        unimplemented.is_some_and(|n| (n - 2000.0).abs() < 0.5),
        "exactly this test's 2,000 calls: {unimplemented:?}"
    );
}

/// The HTTP listener is open before authentication: a client that never finishes its request
/// head loses the connection (header read timeout, 10 s), probes answer meanwhile, and a shutdown
/// is not held by such a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http_client_is_cut_off_and_does_not_hold_shutdown() {
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = Settings::for_tests(format!(
        "sqlite://{}/patron.db?mode=rwc",
        dir.path().display()
    ));
    settings.shutdown_timeout = Duration::from_secs(60);
    let app = Application::build(settings).await.expect("server starts");
    let http = app.http_addr();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());

    // Half a request head, then silence.
    let mut slow = tokio::net::TcpStream::connect(http).await.expect("connect");
    slow.write_all(b"POST /webhooks/stripe/x HTTP/1.1\r\nHost: patron\r\nStripe-Sig")
        .await
        .expect("write");
    let mut probe = tokio::net::TcpStream::connect(http).await.expect("connect");
    probe
        .write_all(b"GET /livez HTTP/1.1\r\nHost: patron\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), probe.read_to_string(&mut answer))
        .await
        .expect("the probe answers")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest))
        .await
        .expect("the server closes a connection whose head never completes");
    assert!(cut.is_err() || rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"));

    // Another slow client, then a shutdown: it does not wait for the 60 s grace period.
    let mut slow = tokio::net::TcpStream::connect(http).await.expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHo")
        .await
        .expect("write");
    let started = Instant::now();
    shutdown.shutdown();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("shutdown is not held by a slow HTTP client")
        .expect("server task");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Long-lived streams are bounded, and open ones never hold the shutdown: they see NOT_SERVING
/// and end with UNAVAILABLE, and the server stops long before its grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_are_bounded_and_end_at_shutdown() {
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = Settings::for_tests(format!(
        "sqlite://{}/patron.db?mode=rwc",
        dir.path().display()
    ));
    settings.limits.max_open_streams = 2;
    settings.shutdown_timeout = Duration::from_secs(30);
    let app = Application::build(settings).await.expect("server starts");
    let addr = app.grpc_addr();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    let watch = || HealthCheckRequest {
        service: String::new(),
    };
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = health.watch(watch()).await.expect("watch").into_inner();
        let first = stream.next().await.expect("a status").expect("ok");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        streams.push(stream);
    }
    let refused = health.watch(watch()).await.unwrap_err();
    assert_error(&refused, Code::ResourceExhausted, "OVERLOADED");
    assert_eq!(
        health
            .check(watch())
            .await
            .expect("check")
            .into_inner()
            .status,
        ServingStatus::Serving as i32,
        "checks are not streams"
    );

    let started = Instant::now();
    shutdown.shutdown();
    for mut stream in streams {
        let ended = tokio::time::timeout(Duration::from_secs(5), async move {
            let mut saw_not_serving = false;
            loop {
                match stream.next().await {
                    Some(Ok(update)) => {
                        saw_not_serving |= update.status == ServingStatus::NotServing as i32;
                    }
                    Some(Err(status)) => return (saw_not_serving, Some(status.code())),
                    None => return (saw_not_serving, None),
                }
            }
        })
        .await
        .expect("the stream ends at shutdown");
        assert_eq!(ended, (true, Some(Code::Unavailable)));
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown does not wait for the grace period")
        .expect("server task");
    assert!(started.elapsed() < Duration::from_secs(5));
}
