//! spawn_app(): a real patron server on port 0 with its own fresh database, and typed clients.

use std::collections::HashMap;
use std::sync::Arc;

use fake_stripe::FakeStripe;
use patron::app::{Application, Listeners, ShutdownHandle};
use patron::config::Settings;
use patron::domain::clock::{ManualClock, SharedClock, SystemClock};
use patron::grpc::pb;
use patron::grpc::pb::app_service_client::AppServiceClient;
use patron::grpc::pb::customer_app_service_client::CustomerAppServiceClient;
use patron::grpc::pb::customer_service_client::CustomerServiceClient;
use patron::grpc::pb::event_service_client::EventServiceClient;
use patron::grpc::pb::stripe_checkout_service_client::StripeCheckoutServiceClient;
use patron::grpc::pb::subject_service_client::SubjectServiceClient;
use sea_orm::{ConnectionTrait, Database};
use sha2::Digest;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub struct BearerAuth(pub tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel that authenticates with an API key.
pub type Authed = tonic::service::interceptor::InterceptedService<Channel, BearerAuth>;

/// The clients of one tenant (one API key).
pub struct Tenant {
    pub customers: CustomerServiceClient<Authed>,
    pub apps: AppServiceClient<Authed>,
    pub customer_apps: CustomerAppServiceClient<Authed>,
    pub checkout: StripeCheckoutServiceClient<Authed>,
    pub subjects: SubjectServiceClient<Authed>,
    pub events: EventServiceClient<Authed>,
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on (an admin connection URL).
pub fn postgres_admin_url() -> String {
    std::env::var("PATRON_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{database}{query}")
}

enum TestDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// A running server with its database; stops and drops the database when dropped.
pub struct TestApp {
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
    pub database_url: String,
    pub customers: CustomerServiceClient<Channel>,
    pub apps: AppServiceClient<Channel>,
    pub customer_apps: CustomerAppServiceClient<Channel>,
    pub checkout: StripeCheckoutServiceClient<Channel>,
    pub subjects: SubjectServiceClient<Channel>,
    pub events: EventServiceClient<Channel>,
    /// The Stripe double this server talks to.
    pub stripe: FakeStripe,
    /// The base URL Stripe delivers webhooks to.
    pub public_url: String,
    clock: Option<Arc<ManualClock>>,
    shutdown: ShutdownHandle,
    server: Option<tokio::task::JoinHandle<()>>,
    db: Option<TestDb>,
}

impl TestApp {
    /// A server on a fresh database of `backend`. PostgreSQL is required: an unreachable server
    /// fails the test with a clear message, never skips it.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server whose callers authenticate with these API keys, as (namespace, key).
    pub async fn spawn_with_api_keys(backend: Backend, keys: &[(&str, &str)]) -> Self {
        let digests: Vec<patron::config::ApiKeyDigest> = keys
            .iter()
            .map(|(namespace, key)| patron::config::ApiKeyDigest {
                namespace: (*namespace).to_owned(),
                digest: sha2::Sha256::digest(key.as_bytes()).into(),
            })
            .collect();
        Self::spawn_with(backend, move |settings| settings.api_keys = digests).await
    }

    /// A server with settings adjusted by `configure` (after the test defaults are set).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start(backend, configure, None).await
    }

    /// A server whose clock stands still until the test moves it with [`TestApp::clock`].
    pub async fn spawn_with_manual_clock(backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        Self::start(backend, |_| {}, Some(clock)).await
    }

    /// The manual clock the server runs on (see [`TestApp::spawn_with_manual_clock`]).
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_deref()
            .expect("this server runs on the system clock: spawn it with spawn_with_manual_clock")
    }

    async fn start(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
        clock: Option<Arc<ManualClock>>,
    ) -> Self {
        let (database_url, db) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/patron.db?mode=rwc", dir.path().display());
                (url, TestDb::Sqlite(dir))
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for these tests and is unreachable at {admin_url}: \
                         {e}. Start it (see README) or set PATRON_TEST_DATABASE_URL."
                    )
                });
                let name = format!(
                    "patron_test_{}",
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                (
                    with_database(&admin_url, &name),
                    TestDb::Postgres { admin_url, name },
                )
            }
        };
        let stripe = FakeStripe::start().await;
        let mut settings = Settings::for_tests(database_url.clone());
        settings.stripe_api_base = stripe.base_url();
        configure(&mut settings);
        // Both listeners are bound (port 0) before the server starts: the public URL Stripe
        // delivers webhooks to is the bound HTTP address, with no reserve-and-rebind race.
        let listeners = Listeners::bind(&settings).await.expect("bind listeners");
        let public_url = format!("http://{}", listeners.http_addr());
        if settings.public_url.is_none() {
            settings.public_url = Some(public_url.clone());
        }
        let server_clock: SharedClock = match &clock {
            Some(clock) => Arc::clone(clock) as SharedClock,
            None => Arc::new(SystemClock),
        };
        let app = Application::start(settings, listeners, server_clock)
            .await
            .expect("server starts");
        let grpc_addr = app.grpc_addr();
        let http_addr = app.http_addr();
        let shutdown = app.shutdown_handle();
        let server = tokio::spawn(app.run_until_stopped());
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect to the server");
        Self {
            grpc_addr,
            http_addr,
            database_url,
            customers: CustomerServiceClient::new(channel.clone()),
            apps: AppServiceClient::new(channel.clone()),
            customer_apps: CustomerAppServiceClient::new(channel.clone()),
            checkout: StripeCheckoutServiceClient::new(channel.clone()),
            subjects: SubjectServiceClient::new(channel.clone()),
            events: EventServiceClient::new(channel),
            stripe,
            public_url,
            clock,
            shutdown,
            server: Some(server),
            db: Some(db),
        }
    }

    /// Stops the server gracefully (bounded), keeping its database and the Stripe double: a
    /// test may then start another server on them (an embedded SQLite file serves one at a
    /// time).
    pub async fn stop(&mut self) {
        self.shutdown.shutdown();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), server)
                .await
                .expect("the server stops within 10 s")
                .expect("server task");
        }
    }

    /// A new channel to the server (one per concurrent client).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to the server")
    }

    /// Clients of every service that authenticate with `api_key` (`authorization: Bearer`).
    pub async fn tenant(&self, api_key: &str) -> Tenant {
        let channel = self.channel().await;
        let auth = BearerAuth(format!("Bearer {api_key}").parse().expect("ASCII API key"));
        Tenant {
            customers: CustomerServiceClient::with_interceptor(channel.clone(), auth.clone()),
            apps: AppServiceClient::with_interceptor(channel.clone(), auth.clone()),
            customer_apps: CustomerAppServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            checkout: StripeCheckoutServiceClient::with_interceptor(channel.clone(), auth.clone()),
            subjects: SubjectServiceClient::with_interceptor(channel.clone(), auth.clone()),
            events: EventServiceClient::with_interceptor(channel, auth),
        }
    }

    /// Creates a customer, panicking on failure.
    pub async fn create(&self, customer: pb::Customer) -> pb::Customer {
        self.customers
            .clone()
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await
            .expect("create customer")
            .into_inner()
    }

    /// Creates a customer, returning the status on failure.
    pub async fn try_create(&self, customer: pb::Customer) -> Result<pb::Customer, Status> {
        self.customers
            .clone()
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every customer of a list query, following next_page_token (show_deleted as given).
    pub async fn list_all(&self, request: pb::ListCustomersRequest) -> Vec<pb::Customer> {
        every_customer(self.customers.clone(), request).await
    }

    /// Runs a statement (DDL or DML) against the server's database.
    pub async fn execute(&self, sql: &str) {
        let db = Database::connect(&self.database_url)
            .await
            .expect("connect");
        db.execute_unprepared(sql).await.expect("execute");
        let _ = db.close().await;
    }

    /// Makes the database disappear under the running server (PostgreSQL: dropped with its
    /// connections terminated).
    pub async fn kill_database(&self) {
        let Some(TestDb::Postgres { admin_url, name }) = &self.db else {
            panic!("only a PostgreSQL database can be killed under a running server");
        };
        let admin = Database::connect(admin_url)
            .await
            .expect("admin connection");
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .expect("drop database");
        let _ = admin.close().await;
    }

    /// Runs SQL against the server's database and returns rows as text columns.
    pub async fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let db = Database::connect(&self.database_url)
            .await
            .expect("connect");
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .expect("query");
        let out = rows
            .iter()
            .map(|row| {
                (0..row.column_names().len())
                    .map(|i| {
                        row.try_get_by_index::<Option<String>>(i)
                            .or_else(|_| {
                                row.try_get_by_index::<Option<i64>>(i)
                                    .map(|v| v.map(|v| v.to_string()))
                            })
                            .expect("text or integer column")
                    })
                    .collect()
            })
            .collect();
        let _ = db.close().await;
        out
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        let server = self.server.take();
        let db = self.db.take();
        // Stop the server and drop the database on a runtime of its own (Drop cannot await).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Some(server) = server {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
                }
                if let Some(TestDb::Postgres { admin_url, name }) = db
                    && let Ok(admin) = Database::connect(&admin_url).await
                {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Runs each named scenario once per database, as `mod name { fn sqlite(); fn postgres(); }`.
/// The one way tests run on both databases:
///
/// - `on_both_databases!(a, b)`: `async fn a(app: TestApp)` on a default server;
/// - `on_both_databases!(with_api_keys(KEYS): a, b)`: callers authenticate with `KEYS`
///   (`&[(namespace, key)]`, named as the calling module sees it);
/// - `on_both_databases!(with_settings(|s| ...): a, b)`: settings adjusted before the start;
/// - `on_both_databases!(with_manual_clock: a, b)`: time moves only by `app.clock()`;
/// - `on_both_databases!(backend: a, b)`: `async fn a(backend: Backend)` starts what it needs.
#[macro_export]
macro_rules! on_both_databases {
    (@each |$backend:ident| $start:expr; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $backend = $crate::helpers::Backend::Sqlite;
                    super::$name($start).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $backend = $crate::helpers::Backend::Postgres;
                    super::$name($start).await;
                }
            }
        )*
    };
    (backend: $($name:ident),* $(,)?) => {
        $crate::on_both_databases!(@each |backend| backend; $($name),*);
    };
    (with_api_keys($keys:expr): $($name:ident),* $(,)?) => {
        $crate::on_both_databases!(
            @each |backend| $crate::helpers::TestApp::spawn_with_api_keys(backend, $keys).await;
            $($name),*
        );
    };
    (with_settings($configure:expr): $($name:ident),* $(,)?) => {
        $crate::on_both_databases!(
            @each |backend| $crate::helpers::TestApp::spawn_with(backend, $configure).await;
            $($name),*
        );
    };
    (with_manual_clock: $($name:ident),* $(,)?) => {
        $crate::on_both_databases!(
            @each |backend| $crate::helpers::TestApp::spawn_with_manual_clock(backend).await;
            $($name),*
        );
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_databases!(
            @each |backend| $crate::helpers::TestApp::spawn(backend).await;
            $($name),*
        );
    };
}

/// More pages than any list of a test can have: a pagination loop past it never ends.
pub const MAX_PAGES: usize = 10_000;

/// A customer with only a name and a key.
pub fn customer(name: &str, key: &str) -> pb::Customer {
    pb::Customer {
        name: name.to_owned(),
        key: key.to_owned(),
        ..Default::default()
    }
}

/// A customer with a name, a key and subject keys.
pub fn customer_with_subjects(name: &str, key: &str, subjects: &[&str]) -> pb::Customer {
    pb::Customer {
        usage_attribution: Some(pb::CustomerUsageAttribution {
            subject_keys: subjects.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ..customer(name, key)
    }
}

/// Asserts the status code and ErrorInfo reason (domain patron.v1); returns the metadata.
pub fn assert_error(status: &Status, code: Code, reason: &str) -> HashMap<String, String> {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "unexpected reason in {status:?}");
    assert_eq!(info.domain, "patron.v1");
    info.metadata.clone()
}

/// The field paths of the BadRequest of an INVALID_ARGUMENT status.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "unexpected status: {status:?}"
    );
    let details = status.get_error_details();
    let bad = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

/// The addresses a `patron serve` child bound (port 0), read from its "listening" log lines
/// (JSON `grpc_addr`/`http_addr` fields, or the text "gRPC listening on ADDR" / "HTTP listening
/// on ADDR"), and everything it logged, read to the end on a thread of its own.
pub struct ChildLog {
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
    rest: std::thread::JoinHandle<String>,
}

impl ChildLog {
    /// Waits (at most `within`) until the child logged both bound addresses; panics with what
    /// it logged if it exits first or takes longer.
    pub fn wait_for_listening(
        stderr: impl std::io::Read + Send + 'static,
        within: std::time::Duration,
    ) -> Self {
        use std::io::BufRead;
        fn field(line: &str, json_key: &str, text_marker: &str) -> Option<std::net::SocketAddr> {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(addr) = json.get(json_key).and_then(|v| v.as_str())
            {
                return addr.parse().ok();
            }
            let (_, after) = line.split_once(text_marker)?;
            after.split_whitespace().next()?.parse().ok()
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let rest = std::thread::spawn(move || {
            let mut all = String::new();
            let (mut grpc, mut http, mut sent) = (None, None, false);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                grpc = grpc.or_else(|| field(&line, "grpc_addr", "gRPC listening on "));
                http = http.or_else(|| field(&line, "http_addr", "HTTP listening on "));
                all.push_str(&line);
                all.push('\n');
                if !sent && let (Some(g), Some(h)) = (grpc, http) {
                    let _ = tx.send(Ok((g, h)));
                    sent = true;
                }
            }
            if !sent {
                let _ = tx.send(Err(all.clone()));
            }
            all
        });
        match rx.recv_timeout(within) {
            Ok(Ok((grpc_addr, http_addr))) => Self {
                grpc_addr,
                http_addr,
                rest,
            },
            Ok(Err(log)) => panic!("patron exited before listening:\n{log}"),
            Err(e) => panic!("patron did not log its bound addresses within {within:?}: {e}"),
        }
    }

    /// Everything the child logged, once it has exited (its stderr closed).
    pub fn into_log(self) -> String {
        self.rest.join().unwrap_or_default()
    }
}

/// Every customer of a list query through `client`, following next_page_token (bounded).
pub async fn every_customer<T>(
    mut client: CustomerServiceClient<T>,
    mut request: pb::ListCustomersRequest,
) -> Vec<pb::Customer>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = client
            .list_customers(request.clone())
            .await
            .expect("list customers")
            .into_inner();
        all.extend(page.customers);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
    panic!("endless pagination: more than {MAX_PAGES} pages");
}
