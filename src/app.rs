//! Builds the running server: database, migrations, gRPC (services, reflection, health) and
//! HTTP listeners, background tasks, and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use std::sync::Arc;

use crate::config::{SecretKeySource, Settings};
use crate::domain::Timestamp;
use crate::grpc::apps::AppApi;
use crate::grpc::auth::Auth;
use crate::grpc::checkout::CheckoutApi;
use crate::grpc::customer_apps::CustomerAppApi;
use crate::grpc::events::EventApi;
use crate::grpc::pb::event_service_server::EventServiceServer;
use crate::grpc::pb::subject_service_server::SubjectServiceServer;
use crate::grpc::subjects::SubjectApi;
use tonic::service::interceptor::InterceptedService;

/// Largest IngestEvents request accepted.
const MAX_EVENT_BATCH_BYTES: usize = 64 * 1024 * 1024;
use crate::grpc::customers::CustomerApi;
use crate::grpc::pb::app_service_server::AppServiceServer;
use crate::grpc::pb::customer_app_service_server::CustomerAppServiceServer;
use crate::grpc::pb::customer_service_server::CustomerServiceServer;
use crate::grpc::pb::stripe_checkout_service_server::StripeCheckoutServiceServer;
use crate::grpc::{FILE_DESCRIPTOR_SET, SERVICE_NAMES};
use crate::payments::{Payments, StripeGateway};
use crate::secrets::Cipher;
use crate::service::Services;
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
}

/// Connects to the database and applies migrations if asked to.
pub async fn open_store(settings: &Settings, migrate: bool) -> Result<Store, StartError> {
    let pool = PoolSettings {
        max_connections: settings.db_max_connections,
        customer_cache_entries: settings.customer_cache_entries,
        ..PoolSettings::default()
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
    /// Opens the database, binds both listeners and starts serving.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let cipher = load_cipher(&settings.secret_key)?;
        let store = open_store(&settings, settings.migrate_at_start).await?;
        let payments: Arc<dyn Payments> = Arc::new(StripeGateway::new(&settings.stripe_api_base));
        let services = Services::new(store.clone(), payments, cipher, settings.public_url.clone());

        let grpc_listener = bind(settings.grpc_addr).await?;
        let http_listener = bind(settings.http_addr).await?;
        let grpc_addr = grpc_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.grpc_addr,
                source,
            })?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.http_addr,
                source,
            })?;

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

        let auth = Auth::new(settings.api_keys.clone());
        if !auth.is_required() {
            tracing::warn!(
                "no API keys configured: every call acts for namespace \"default\" without \
                 authentication (allowed on loopback listeners or with --insecure-no-auth)"
            );
        }
        let customers = CustomerServiceServer::with_interceptor(
            CustomerApi::new(services.customers.clone()),
            auth.clone(),
        );
        let apps =
            AppServiceServer::with_interceptor(AppApi::new(services.apps.clone()), auth.clone());
        let customer_apps = CustomerAppServiceServer::with_interceptor(
            CustomerAppApi::new(services.customer_apps.clone()),
            auth.clone(),
        );
        let subjects = SubjectServiceServer::with_interceptor(
            SubjectApi::new(services.subjects.clone()),
            auth.clone(),
        );
        // A full batch is 1000 events of up to 1 MiB data each; allow large requests here.
        let events = InterceptedService::new(
            EventServiceServer::new(EventApi::new(services.events.clone()))
                .max_decoding_message_size(MAX_EVENT_BATCH_BYTES),
            auth.clone(),
        );
        let checkout = StripeCheckoutServiceServer::with_interceptor(
            CheckoutApi::new(services.checkout.clone()),
            auth.clone(),
        );

        let grpc_shutdown = {
            let reporter = reporter.clone();
            let rx = shutdown_rx.clone();
            async move {
                stopped(rx).await;
                set_all(&reporter, ServingStatus::NotServing).await;
                tracing::info!("shutting down: health NOT_SERVING, finishing in-flight calls");
            }
        };
        let mut builder = Server::builder().layer(crate::grpc::observe::ObserveLayer);
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
        let http_task = tokio::spawn(crate::http::serve(
            http_listener,
            store.clone(),
            services.webhooks.clone(),
            stopped(shutdown_rx.clone()),
        ));

        let background = vec![
            tokio::spawn(watch_database(
                store.clone(),
                reporter.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(purge_idempotency_records(store.clone(), shutdown_rx)),
        ];

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

/// Forgets idempotency records older than their retention, hourly.
async fn purge_idempotency_records(store: Store, shutdown: watch::Receiver<bool>) {
    let retention = crate::service::IDEMPOTENCY_RETENTION + Duration::from_secs(3600);
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if *shutdown.borrow() {
            return;
        }
        let micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = Timestamp(Timestamp::now().micros() - micros);
        match store.purge_idempotency_records(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "purged expired idempotency records"),
            Err(e) => tracing::warn!(error = %e, "purging idempotency records failed"),
        }
    }
}
