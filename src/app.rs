//! Builds the running server: listeners (bound first), database, migrations, gRPC (services, reflection, health) and
//! HTTP listeners, background tasks, and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use std::sync::Arc;

use crate::config::{SecretKeySource, Settings};
use crate::domain::Timestamp;
use crate::domain::clock::{SharedClock, SystemClock};
use crate::grpc::apps::AppApi;
use crate::grpc::auth::Auth;
use crate::grpc::checkout::CheckoutApi;
use crate::grpc::customer_apps::CustomerAppApi;
use crate::grpc::events::EventApi;
use crate::grpc::pb::event_service_server::EventServiceServer;
use crate::grpc::pb::subject_service_server::SubjectServiceServer;
use crate::grpc::subjects::SubjectApi;
use tonic::service::interceptor::InterceptedService;

use crate::grpc::customers::CustomerApi;
use crate::grpc::pb::app_service_server::AppServiceServer;
use crate::grpc::pb::customer_app_service_server::CustomerAppServiceServer;
use crate::grpc::pb::customer_service_server::CustomerServiceServer;
use crate::grpc::pb::stripe_checkout_service_server::StripeCheckoutServiceServer;
use crate::grpc::{FILE_DESCRIPTOR_SET, SERVICE_NAMES};
use crate::metrics::Metrics;
use crate::payments::{Payments, StripeGateway};
use crate::secrets::Cipher;
use crate::service::{Deps, Services};
use crate::storage::{PoolSettings, Store};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The key-encryption key could not be loaded.
    #[error("secret key: {0}")]
    Secrets(String),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Server reflection could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(String),
}

/// Asks a running application to shut down.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Starts the graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// Asks a running application to re-read its API keys file (SIGHUP).
#[derive(Clone, Debug)]
pub struct ReloadHandle(Option<Arc<Notify>>);

impl ReloadHandle {
    /// Re-reads the API keys file now (logs the outcome); without a file, logs that there is
    /// nothing to reload.
    pub fn reload(&self) {
        match &self.0 {
            Some(notify) => notify.notify_one(),
            None => tracing::info!(
                "no API keys file configured (PATRON_API_KEYS_FILE): nothing to reload"
            ),
        }
    }
}

/// Both listeners, bound before anything else happens at start: the bound addresses (port 0
/// picks a free one) exist before the database is opened or anything can fail or take time.
#[derive(Debug)]
pub struct Listeners {
    grpc: TcpListener,
    http: TcpListener,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
}

impl Listeners {
    /// Binds the gRPC and HTTP addresses of `settings`.
    pub async fn bind(settings: &Settings) -> Result<Self, StartError> {
        let grpc = bind(settings.grpc_addr).await?;
        let http = bind(settings.http_addr).await?;
        let grpc_addr = grpc.local_addr().map_err(|source| StartError::Bind {
            addr: settings.grpc_addr,
            source,
        })?;
        let http_addr = http.local_addr().map_err(|source| StartError::Bind {
            addr: settings.http_addr,
            source,
        })?;
        Ok(Self {
            grpc,
            http,
            grpc_addr,
            http_addr,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }
}

/// A started server with its bound addresses.
pub struct Application {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: ShutdownHandle,
    grpc_task: JoinHandle<Result<(), tonic::transport::Error>>,
    http_task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    store: Store,
    grace: Duration,
    reload: ReloadHandle,
}

/// Connects to the database and applies migrations if asked to.
pub async fn open_store(settings: &Settings, migrate: bool) -> Result<Store, StartError> {
    let pool = PoolSettings {
        max_connections: settings.db_max_connections,
        customer_cache_entries: settings.customer_cache_entries,
        acquire_timeout: settings.limits.db_acquire_timeout,
        statement_timeout: settings.limits.db_statement_timeout,
    };
    let store = Store::connect(&settings.database_url, &pool)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    if migrate {
        store
            .migrate()
            .await
            .map_err(|e| StartError::Database(format!("migrations failed: {e}")))?;
    }
    Ok(store)
}

/// The key-encryption key for stored secrets.
pub fn load_cipher(source: &SecretKeySource) -> Result<Cipher, StartError> {
    let cipher = match source {
        SecretKeySource::Inline(key) => Cipher::from_base64(key),
        SecretKeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| crate::secrets::SecretError::KeyFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })
            .and_then(|text| Cipher::from_base64(&text)),
        SecretKeySource::BesideDatabase(path) => Cipher::from_key_file_or_create(path),
        SecretKeySource::Ephemeral => Ok(Cipher::random()),
    };
    cipher.map_err(|e| StartError::Secrets(e.to_string()))
}

/// Accepted gRPC connections with Nagle's algorithm off: without it, a response that spans
/// several TCP segments waits for the client's delayed ACK (about 40 ms) on every call.
fn no_delay(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted
            && let Err(e) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        accepted
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        reporter.set_service_status(*name, status).await;
    }
}

/// Waits until `shutdown` turns true.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Application {
    /// Binds both listeners, opens the database and starts serving, on the system's clock.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Like [`Application::build`], with time taken from `clock` (tests move a manual clock).
    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<Self, StartError> {
        let listeners = Listeners::bind(&settings).await?;
        Self::start(settings, listeners, clock).await
    }

    /// Starts serving on listeners bound beforehand (a caller that needs the bound addresses
    /// before the server starts, e.g. for `public_url`, binds first with [`Listeners::bind`]).
    pub async fn start(
        settings: Settings,
        listeners: Listeners,
        clock: SharedClock,
    ) -> Result<Self, StartError> {
        let Listeners {
            grpc: grpc_listener,
            http: http_listener,
            grpc_addr,
            http_addr,
        } = listeners;
        let metrics = Arc::new(Metrics::new().map_err(|e| StartError::Metrics(e.to_string()))?);
        let cipher = load_cipher(&settings.secret_key)?;
        let store = open_store(&settings, settings.migrate_at_start).await?;
        let payments: Arc<dyn Payments> = Arc::new(StripeGateway::new(
            &settings.stripe_api_base,
            Arc::clone(&metrics),
        ));
        let services = Services::new(Deps {
            store: store.clone(),
            payments,
            cipher,
            clock: clock.clone(),
            public_url: settings.public_url.clone(),
        });

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        set_all(&reporter, ServingStatus::Serving).await;

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| StartError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| StartError::Reflection(e.to_string()))?;

        let mut background = Vec::new();
        let auth = Auth::with_file_keys(
            settings.api_keys.clone(),
            settings.api_keys_file.as_ref().map(|f| f.keys.clone()),
        );
        if !auth.is_required() {
            tracing::warn!(
                "no API keys configured: every call acts for namespace \"default\" without \
                 authentication (allowed on loopback listeners or with --insecure-no-auth)"
            );
        }
        let limits = &settings.limits;
        // Every RPC takes small requests except IngestEvents (a batch of up to 1000 events).
        let (small, large, out) = (
            limits.max_request_bytes,
            limits.max_events_request_bytes,
            limits.max_response_bytes,
        );
        let customers = InterceptedService::new(
            CustomerServiceServer::new(CustomerApi::new(services.customers.clone()))
                .max_decoding_message_size(small)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let apps = InterceptedService::new(
            AppServiceServer::new(AppApi::new(services.apps.clone()))
                .max_decoding_message_size(small)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let customer_apps = InterceptedService::new(
            CustomerAppServiceServer::new(CustomerAppApi::new(services.customer_apps.clone()))
                .max_decoding_message_size(small)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let subjects = InterceptedService::new(
            SubjectServiceServer::new(SubjectApi::new(services.subjects.clone()))
                .max_decoding_message_size(small)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let events = InterceptedService::new(
            EventServiceServer::new(EventApi::new(services.events.clone()))
                .max_decoding_message_size(large)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let checkout = InterceptedService::new(
            StripeCheckoutServiceServer::new(CheckoutApi::new(services.checkout.clone()))
                .max_decoding_message_size(small)
                .max_encoding_message_size(out),
            auth.clone(),
        );
        let health_service = health_service
            .max_decoding_message_size(small)
            .max_encoding_message_size(out);
        let reflection_v1 = reflection_v1
            .max_decoding_message_size(small)
            .max_encoding_message_size(out);
        let reflection_v1alpha = reflection_v1alpha
            .max_decoding_message_size(small)
            .max_encoding_message_size(out);

        let reload = match &settings.api_keys_file {
            Some(file) => {
                let notify = Arc::new(Notify::new());
                let seen = std::fs::read_to_string(&file.path).ok();
                background.push(tokio::spawn(watch_api_keys(
                    auth.clone(),
                    file.path.clone(),
                    settings.api_keys_poll,
                    Arc::clone(&notify),
                    seen,
                )));
                ReloadHandle(Some(notify))
            }
            None => ReloadHandle(None),
        };

        // Long-lived streams end once health says NOT_SERVING, so they never hold the shutdown.
        let (streams_end_tx, streams_end_rx) = watch::channel(false);
        let grpc_shutdown = {
            let reporter = reporter.clone();
            let rx = shutdown_rx.clone();
            async move {
                stopped(rx).await;
                set_all(&reporter, ServingStatus::NotServing).await;
                let _ = streams_end_tx.send(true);
                tracing::info!("shutting down: health NOT_SERVING, finishing in-flight calls");
            }
        };
        let mut builder = Server::builder()
            .max_concurrent_streams(limits.grpc_max_concurrent_streams)
            .layer(crate::grpc::observe::ObserveLayer::new(Arc::clone(
                &metrics,
            )))
            .layer(crate::grpc::limit::LimitLayer::new(limits, streams_end_rx));
        if let Some(tls) = &settings.tls {
            let read = |path: &std::path::Path| {
                std::fs::read(path)
                    .map_err(|e| StartError::Tls(format!("cannot read {}: {e}", path.display())))
            };
            let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(|e| StartError::Tls(e.to_string()))?;
        }
        let grpc_task = tokio::spawn(
            builder
                .add_service(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .add_service(customers)
                .add_service(apps)
                .add_service(customer_apps)
                .add_service(checkout)
                .add_service(subjects)
                .add_service(events)
                .serve_with_incoming_shutdown(no_delay(grpc_listener), grpc_shutdown),
        );
        let rest = crate::rest::router(
            crate::rest::RestState {
                services: services.clone(),
                auth: auth.clone(),
            },
            small,
            large,
        );
        let http_task = tokio::spawn(crate::http::serve(
            http_listener,
            store.clone(),
            services.webhooks.clone(),
            Arc::clone(&metrics),
            rest,
            stopped(shutdown_rx.clone()),
        ));

        background.push(tokio::spawn(watch_database(
            store.clone(),
            reporter.clone(),
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(purge_idempotency_records(
            store.clone(),
            clock,
            shutdown_rx,
        )));

        let scheme = if settings.tls.is_some() {
            "TLS"
        } else {
            "plaintext"
        };
        tracing::info!(grpc_addr = %grpc_addr, tls = settings.tls.is_some(), "gRPC listening on {grpc_addr} ({scheme})");
        tracing::info!(http_addr = %http_addr, "HTTP listening on {http_addr}");
        Ok(Self {
            grpc_addr,
            http_addr,
            shutdown: ShutdownHandle(shutdown_tx),
            grpc_task,
            http_task,
            background,
            store,
            grace: settings.shutdown_timeout,
            reload,
        })
    }

    /// A handle that makes the server re-read its API keys file.
    pub fn reload_handle(&self) -> ReloadHandle {
        self.reload.clone()
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// A handle that starts the graceful shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until shut down, then waits for in-flight calls (at most the grace period) and
    /// closes the database.
    pub async fn run_until_stopped(self) {
        let rx = self.shutdown.0.subscribe();
        let grpc = self.grpc_task;
        let http = self.http_task;
        let servers = async {
            let (grpc, http) = tokio::join!(grpc, http);
            if let Ok(Err(e)) = grpc {
                tracing::error!(error = %e, "gRPC server failed");
            }
            if let Ok(Err(e)) = http {
                tracing::error!(error = %e, "HTTP server failed");
            }
        };
        tokio::pin!(servers);
        tokio::select! {
            () = &mut servers => {}
            () = stopped(rx) => {
                if tokio::time::timeout(self.grace, &mut servers).await.is_err() {
                    tracing::warn!(grace = ?self.grace, "in-flight calls did not finish in time");
                }
            }
        }
        for task in self.background {
            task.abort();
        }
        self.store.close().await;
        tracing::info!("stopped");
    }
}

/// Reports NOT_SERVING while the database does not answer.
async fn watch_database(store: Store, reporter: HealthReporter, shutdown: watch::Receiver<bool>) {
    let mut healthy = true;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if *shutdown.borrow() {
            return;
        }
        let ok = tokio::time::timeout(Duration::from_secs(3), store.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if ok != healthy {
            healthy = ok;
            if ok {
                tracing::info!("database reachable again: SERVING");
                set_all(&reporter, ServingStatus::Serving).await;
            } else {
                tracing::error!("database unreachable: NOT_SERVING");
                set_all(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}

/// Re-reads the API keys file on `reload` (SIGHUP) and whenever its content changed (checked every
/// `poll`; a Kubernetes Secret volume swaps the file behind a symlink). A file that cannot be read
/// or parsed keeps the previous keys and is logged once per distinct content (and on each SIGHUP).
async fn watch_api_keys(
    auth: Auth,
    path: std::path::PathBuf,
    poll: Duration,
    reload: Arc<Notify>,
    mut applied: Option<String>,
) {
    let mut refused: Option<Result<String, String>> = None;
    loop {
        let forced = tokio::select! {
            () = reload.notified() => true,
            () = tokio::time::sleep(poll), if !poll.is_zero() => false,
        };
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) => {
                let failure = Err(e.to_string());
                if forced || refused.as_ref() != Some(&failure) {
                    tracing::error!(
                        path = %path.display(),
                        error = %e,
                        "cannot read the API keys file: keeping the previous keys"
                    );
                }
                refused = Some(failure);
                continue;
            }
        };
        if !forced && applied.as_deref() == Some(text.as_str()) {
            continue;
        }
        match crate::config::parse_api_keys(crate::config::API_KEYS_FILE_SETTING, &text) {
            Ok(keys) => {
                tracing::info!(
                    path = %path.display(),
                    keys = keys.len(),
                    "API keys reloaded"
                );
                auth.replace_file_keys(keys);
                applied = Some(text);
                refused = None;
            }
            Err(e) => {
                let failure = Ok(text);
                if forced || refused.as_ref() != Some(&failure) {
                    tracing::error!(
                        path = %path.display(),
                        error = %e,
                        "the API keys file does not parse: keeping the previous keys"
                    );
                }
                refused = Some(failure);
            }
        }
    }
}

/// Forgets idempotency records older than their retention, hourly.
async fn purge_idempotency_records(
    store: Store,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) {
    let retention = crate::service::IDEMPOTENCY_RETENTION + Duration::from_secs(3600);
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if *shutdown.borrow() {
            return;
        }
        let micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = Timestamp(clock.now().micros() - micros);
        match store.purge_idempotency_records(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "purged expired idempotency records"),
            Err(e) => tracing::warn!(error = %e, "purging idempotency records failed"),
        }
    }
}
