//! One Settings struct, resolved from (highest first) flags, environment, an optional TOML file
//! and defaults, then validated: a bad setting is one clear error naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default gRPC listen address.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// Default HTTP listen address (webhooks, metrics, /healthz).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default database: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://patron.db?mode=rwc";

/// Settings as given by flags and environment (clap) or by the TOML file (serde); every field is
/// optional so that layers can be merged.
#[derive(clap::Args, Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// TOML file with settings (keys as the long flags, in snake_case).
    #[arg(long, env = "PATRON_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "PATRON_GRPC_ADDR", global = true)]
    pub grpc_addr: Option<String>,
    /// HTTP listen address for webhooks, /metrics and /healthz (port 0 picks a free port).
    #[arg(long, env = "PATRON_HTTP_ADDR", global = true)]
    pub http_addr: Option<String>,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST/DB (also DATABASE_URL).
    #[arg(long, env = "PATRON_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Apply migrations at start (turn off when a job runs `patron migrate`).
    #[arg(long, env = "PATRON_MIGRATE_AT_START", global = true, action = clap::ArgAction::Set)]
    pub migrate_at_start: Option<bool>,
    /// Most database connections (PostgreSQL) or SQLite readers.
    #[arg(long, env = "PATRON_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,
    /// Customers kept in memory by id on SQLite, where this process is the only writer (0: off).
    #[arg(long, env = "PATRON_CUSTOMER_CACHE_ENTRIES", global = true)]
    pub customer_cache_entries: Option<usize>,
    /// Seconds in-flight calls get to finish at shutdown.
    #[arg(long, env = "PATRON_SHUTDOWN_TIMEOUT_SECS", global = true)]
    pub shutdown_timeout_secs: Option<u64>,
    /// Log format: json or pretty (default: pretty on a terminal, json otherwise).
    #[arg(long, env = "PATRON_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Stripe API base URL (a Stripe double in tests).
    #[arg(long, env = "PATRON_STRIPE_API_BASE", global = true)]
    pub stripe_api_base: Option<String>,
    /// Public base URL of the HTTP listener; when set, installing a Stripe app registers a webhook
    /// endpoint at `<public-url>/webhooks/stripe/<app id>`.
    #[arg(long, env = "PATRON_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Key-encryption key for stored secrets: 32 bytes, base64 (prefer the _FILE form).
    #[arg(long, env = "PATRON_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the key-encryption key.
    #[arg(long, env = "PATRON_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// API keys as `namespace:sha256hex,...` (digests only; `patron keys new` makes them).
    #[arg(long, env = "PATRON_API_KEYS", global = true)]
    pub api_keys: Option<String>,
    /// File with one `namespace:sha256hex` per line (`#` comments).
    #[arg(long, env = "PATRON_API_KEYS_FILE", global = true)]
    pub api_keys_file: Option<PathBuf>,
    /// Serve without API keys on non-loopback addresses (never do this in production).
    #[arg(long, env = "PATRON_INSECURE_NO_AUTH", global = true, action = clap::ArgAction::SetTrue)]
    #[serde(default)]
    pub insecure_no_auth: bool,
    /// TLS certificate chain (PEM) for the gRPC listener; with --tls-key enables TLS.
    #[arg(long, env = "PATRON_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the gRPC listener.
    #[arg(long, env = "PATRON_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the API keys file for changes (0: only on SIGHUP).
    #[arg(long, env = "PATRON_API_KEYS_POLL_SECS", global = true)]
    pub api_keys_poll_secs: Option<u64>,
    /// HTTP/2 streams (concurrent calls) one connection may open.
    #[arg(long, env = "PATRON_GRPC_MAX_CONCURRENT_STREAMS", global = true)]
    pub grpc_max_concurrent_streams: Option<u32>,
    /// gRPC calls served at once by the process; more are refused at once with
    /// RESOURCE_EXHAUSTED and RetryInfo (health checks are never refused).
    #[arg(long, env = "PATRON_MAX_CONCURRENT_CALLS", global = true)]
    pub max_concurrent_calls: Option<usize>,
    /// Long-lived streams (health Watch, reflection) open at once.
    #[arg(long, env = "PATRON_MAX_OPEN_STREAMS", global = true)]
    pub max_open_streams: Option<usize>,
    /// Milliseconds a call waits in line for a free slot when the server is at
    /// max-concurrent-calls, before it is refused (0: refused at once).
    #[arg(long, env = "PATRON_CALL_QUEUE_MS", global = true)]
    pub call_queue_ms: Option<u64>,
    /// Deadline (milliseconds) of calls that send no grpc-timeout; DEADLINE_EXCEEDED when hit.
    #[arg(long, env = "PATRON_DEFAULT_DEADLINE_MS", global = true)]
    pub default_deadline_ms: Option<u64>,
    /// Largest request message of every RPC except IngestEvents (bytes).
    #[arg(long, env = "PATRON_MAX_REQUEST_BYTES", global = true)]
    pub max_request_bytes: Option<usize>,
    /// Largest IngestEvents request message (bytes).
    #[arg(long, env = "PATRON_MAX_EVENTS_REQUEST_BYTES", global = true)]
    pub max_events_request_bytes: Option<usize>,
    /// Largest response message (bytes).
    #[arg(long, env = "PATRON_MAX_RESPONSE_BYTES", global = true)]
    pub max_response_bytes: Option<usize>,
    /// PostgreSQL statement_timeout of every pool connection, milliseconds (0: none).
    #[arg(long, env = "PATRON_DB_STATEMENT_TIMEOUT_MS", global = true)]
    pub db_statement_timeout_ms: Option<u64>,
    /// How long a call waits for a database connection, milliseconds; then UNAVAILABLE.
    #[arg(long, env = "PATRON_DB_ACQUIRE_TIMEOUT_MS", global = true)]
    pub db_acquire_timeout_ms: Option<u64>,
}

/// A configured API key: the namespace it acts for and the SHA-256 digest of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyDigest {
    /// The namespace.
    pub namespace: String,
    /// SHA-256 of the key.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeyDigest({}:***)", self.namespace)
    }
}

/// Parses `namespace:sha256hex` entries (comma- or newline-separated; `#` starts a comment).
pub fn parse_api_keys(setting: &str, text: &str) -> Result<Vec<ApiKeyDigest>, ConfigError> {
    let mut keys = Vec::new();
    for (n, entry) in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let Some((namespace, hex)) = entry.split_once(':') else {
            return Err(error(
                setting,
                format!("entry {} is not namespace:sha256hex", n + 1),
            ));
        };
        let namespace = namespace.trim();
        let valid_ns = !namespace.is_empty()
            && namespace.len() <= 64
            && namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !valid_ns {
            return Err(error(
                setting,
                format!("entry {}: namespace must be 1..64 of [A-Za-z0-9._-]", n + 1),
            ));
        }
        let hex = hex.trim().to_ascii_lowercase();
        let digest: Option<Vec<u8>> = (hex.len() == 64)
            .then(|| {
                (0..64)
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                    .collect()
            })
            .flatten();
        let Some(digest) = digest.and_then(|d| <[u8; 32]>::try_from(d).ok()) else {
            return Err(error(
                setting,
                format!(
                    "entry {}: the digest must be 64 hex characters (SHA-256 of the key)",
                    n + 1
                ),
            ));
        };
        keys.push(ApiKeyDigest {
            namespace: namespace.to_owned(),
            digest,
        });
    }
    Ok(keys)
}

/// The API keys file setting, as flag and environment variable.
pub const API_KEYS_FILE_SETTING: &str = "--api-keys-file (PATRON_API_KEYS_FILE)";

/// TLS certificate and key files of the gRPC listener.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Where the key-encryption key for stored secrets comes from.
#[derive(Clone)]
pub enum SecretKeySource {
    /// Given in configuration (base64).
    Inline(String),
    /// Read from a file.
    File(PathBuf),
    /// The embedded default: a key file beside the SQLite database, created on first start.
    BesideDatabase(PathBuf),
    /// A random key for this process only (in-memory databases, tests).
    Ephemeral,
}

impl std::fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(***)"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::BesideDatabase(path) => write!(f, "BesideDatabase({})", path.display()),
            Self::Ephemeral => f.write_str("Ephemeral"),
        }
    }
}

/// Default Stripe API base URL.
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Apply migrations at start.
    pub migrate_at_start: bool,
    /// Most database connections.
    pub db_max_connections: u32,
    /// Customers cached by id (SQLite only; 0 turns the cache off).
    pub customer_cache_entries: usize,
    /// Grace period for in-flight calls at shutdown.
    pub shutdown_timeout: Duration,
    /// Log format, if chosen.
    pub log_format: Option<LogFormat>,
    /// Stripe API base URL.
    pub stripe_api_base: String,
    /// Public base URL for webhook registration (no trailing slash).
    pub public_url: Option<String>,
    /// The key-encryption key's source.
    pub secret_key: SecretKeySource,
    /// API keys; empty means no authentication (only allowed on loopback listeners unless
    /// `insecure_no_auth`).
    pub api_keys: Vec<ApiKeyDigest>,
    /// Serve without keys on non-loopback listeners.
    pub insecure_no_auth: bool,
    /// TLS for gRPC.
    pub tls: Option<TlsFiles>,
    /// The API keys file: re-read on SIGHUP and when its content changes (`api_keys` holds the
    /// inline keys only).
    pub api_keys_file: Option<ApiKeysFile>,
    /// How often the API keys file is checked for changes (zero: only on SIGHUP).
    pub api_keys_poll: Duration,
    /// Overload protection and message sizes.
    pub limits: Limits,
}

/// The API keys file and the keys it held at start.
#[derive(Clone, Debug)]
pub struct ApiKeysFile {
    /// The file.
    pub path: PathBuf,
    /// Its keys when the settings were resolved.
    pub keys: Vec<ApiKeyDigest>,
}

/// Overload protection: concurrency, deadlines, message sizes, database timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// HTTP/2 streams per connection.
    pub grpc_max_concurrent_streams: u32,
    /// gRPC calls served at once (health checks excluded).
    pub max_concurrent_calls: usize,
    /// Long-lived streams (health Watch, reflection) open at once.
    pub max_open_streams: usize,
    /// How long a call waits for a free slot when `max_concurrent_calls` are running, before it is
    /// refused (zero: refused at once).
    pub call_queue_wait: Duration,
    /// Deadline of calls without grpc-timeout.
    pub default_deadline: Duration,
    /// Largest request message (every RPC but IngestEvents).
    pub max_request_bytes: usize,
    /// Largest IngestEvents request message.
    pub max_events_request_bytes: usize,
    /// Largest response message.
    pub max_response_bytes: usize,
    /// PostgreSQL statement_timeout (zero: none).
    pub db_statement_timeout: Duration,
    /// Wait for a database connection.
    pub db_acquire_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            grpc_max_concurrent_streams: 100,
            max_concurrent_calls: 512,
            max_open_streams: 100,
            call_queue_wait: Duration::from_millis(500),
            default_deadline: Duration::from_secs(20),
            max_request_bytes: 1024 * 1024,
            max_events_request_bytes: 16 * 1024 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
            db_statement_timeout: Duration::from_secs(15),
            db_acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {message}")]
pub struct ConfigError {
    /// The setting, as flag and environment variable.
    pub setting: String,
    /// What is wrong.
    pub message: String,
}

fn error(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_owned(),
        message: message.into(),
    }
}

fn read_file(path: &Path) -> Result<SettingsInput, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        error(
            "--config (PATRON_CONFIG)",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        error(
            "--config (PATRON_CONFIG)",
            format!("{}: {}", path.display(), e.message()),
        )
    })
}

fn addr(setting: &str, raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.parse().map_err(|_| {
        error(
            setting,
            format!("{raw:?} is not an IP:port address (e.g. 127.0.0.1:50051)"),
        )
    })
}

impl Settings {
    /// Merges flags/environment over the file over defaults, and validates the result.
    pub fn resolve(input: SettingsInput) -> Result<Self, ConfigError> {
        let file = match &input.config {
            Some(path) => read_file(path)?,
            None => SettingsInput::default(),
        };
        let database_url = input
            .database_url
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()))
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let grpc = input.grpc_addr.or(file.grpc_addr);
        let http = input.http_addr.or(file.http_addr);
        let settings = Self {
            stripe_api_base: String::new(),
            public_url: None,
            secret_key: SecretKeySource::Ephemeral,
            api_keys: Vec::new(),
            insecure_no_auth: false,
            tls: None,
            api_keys_file: None,
            api_keys_poll: Duration::ZERO,
            limits: Limits::default(),
            grpc_addr: addr(
                "--grpc-addr (PATRON_GRPC_ADDR)",
                grpc.as_deref().unwrap_or(DEFAULT_GRPC_ADDR),
            )?,
            http_addr: addr(
                "--http-addr (PATRON_HTTP_ADDR)",
                http.as_deref().unwrap_or(DEFAULT_HTTP_ADDR),
            )?,
            database_url,
            migrate_at_start: input
                .migrate_at_start
                .or(file.migrate_at_start)
                .unwrap_or(true),
            db_max_connections: input
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(16),
            customer_cache_entries: input
                .customer_cache_entries
                .or(file.customer_cache_entries)
                .unwrap_or(10_000),
            shutdown_timeout: Duration::from_secs(
                input
                    .shutdown_timeout_secs
                    .or(file.shutdown_timeout_secs)
                    .unwrap_or(30),
            ),
            log_format: match input.log_format.or(file.log_format).as_deref() {
                None | Some("") => None,
                Some("json") => Some(LogFormat::Json),
                Some("pretty") => Some(LogFormat::Pretty),
                Some(other) => {
                    return Err(error(
                        "--log-format (PATRON_LOG_FORMAT)",
                        format!("{other:?} is not json or pretty"),
                    ));
                }
            },
        };
        let stripe_api_base = input
            .stripe_api_base
            .or(file.stripe_api_base)
            .unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.to_owned());
        let public_url = input
            .public_url
            .or(file.public_url)
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned());
        let secret_key = match (
            input
                .secret_key
                .or(file.secret_key)
                .filter(|k| !k.is_empty()),
            input.secret_key_file.or(file.secret_key_file),
        ) {
            (Some(key), _) => SecretKeySource::Inline(key),
            (None, Some(path)) => SecretKeySource::File(path),
            (None, None) if settings.database_url.starts_with("sqlite:") => {
                match crate::storage::sqlite_file(&settings.database_url) {
                    Some(db) => {
                        let mut name = db.clone().into_os_string();
                        name.push(".secret-key");
                        SecretKeySource::BesideDatabase(PathBuf::from(name))
                    }
                    None => SecretKeySource::Ephemeral,
                }
            }
            (None, None) if !settings.database_url.starts_with("postgres") => {
                // Not a database patron knows: validate() names the URL.
                SecretKeySource::Ephemeral
            }
            (None, None) => {
                return Err(error(
                    "--secret-key-file (PATRON_SECRET_KEY_FILE, PATRON_SECRET_KEY)",
                    "is required with PostgreSQL: 32 bytes, base64 (e.g. `openssl rand -base64 32`)",
                ));
            }
        };
        let mut api_keys = Vec::new();
        if let Some(text) = input
            .api_keys
            .or(file.api_keys)
            .filter(|k| !k.trim().is_empty())
        {
            api_keys.extend(parse_api_keys("--api-keys (PATRON_API_KEYS)", &text)?);
        }
        let api_keys_file = match input.api_keys_file.or(file.api_keys_file) {
            Some(path) => {
                let setting = API_KEYS_FILE_SETTING;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| error(setting, format!("cannot read {}: {e}", path.display())))?;
                let keys = parse_api_keys(setting, &text)?;
                Some(ApiKeysFile { path, keys })
            }
            None => None,
        };
        let defaults = Limits::default();
        let millis = Duration::from_millis;
        let limits = Limits {
            grpc_max_concurrent_streams: input
                .grpc_max_concurrent_streams
                .or(file.grpc_max_concurrent_streams)
                .unwrap_or(defaults.grpc_max_concurrent_streams),
            max_concurrent_calls: input
                .max_concurrent_calls
                .or(file.max_concurrent_calls)
                .unwrap_or(defaults.max_concurrent_calls),
            max_open_streams: input
                .max_open_streams
                .or(file.max_open_streams)
                .unwrap_or(defaults.max_open_streams),
            call_queue_wait: input
                .call_queue_ms
                .or(file.call_queue_ms)
                .map_or(defaults.call_queue_wait, millis),
            default_deadline: input
                .default_deadline_ms
                .or(file.default_deadline_ms)
                .map_or(defaults.default_deadline, millis),
            max_request_bytes: input
                .max_request_bytes
                .or(file.max_request_bytes)
                .unwrap_or(defaults.max_request_bytes),
            max_events_request_bytes: input
                .max_events_request_bytes
                .or(file.max_events_request_bytes)
                .unwrap_or(defaults.max_events_request_bytes),
            max_response_bytes: input
                .max_response_bytes
                .or(file.max_response_bytes)
                .unwrap_or(defaults.max_response_bytes),
            db_statement_timeout: input
                .db_statement_timeout_ms
                .or(file.db_statement_timeout_ms)
                .map_or(defaults.db_statement_timeout, millis),
            db_acquire_timeout: input
                .db_acquire_timeout_ms
                .or(file.db_acquire_timeout_ms)
                .map_or(defaults.db_acquire_timeout, millis),
        };
        let api_keys_poll = Duration::from_secs(
            input
                .api_keys_poll_secs
                .or(file.api_keys_poll_secs)
                .unwrap_or(2),
        );
        let tls = match (
            input.tls_cert.or(file.tls_cert),
            input.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(error(
                    "--tls-cert/--tls-key (PATRON_TLS_CERT, PATRON_TLS_KEY)",
                    "give both the certificate and the key",
                ));
            }
        };
        let settings = Self {
            stripe_api_base,
            public_url,
            secret_key,
            api_keys,
            insecure_no_auth: input.insecure_no_auth || file.insecure_no_auth,
            tls,
            api_keys_file,
            api_keys_poll,
            limits,
            ..settings
        };
        settings.validate()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        let url = &self.database_url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(error(
                "--database-url (DATABASE_URL, PATRON_DATABASE_URL)",
                "must start with sqlite: or postgres://",
            ));
        }
        for (setting, url) in [
            (
                "--stripe-api-base (PATRON_STRIPE_API_BASE)",
                Some(&self.stripe_api_base),
            ),
            ("--public-url (PATRON_PUBLIC_URL)", self.public_url.as_ref()),
        ] {
            if let Some(url) = url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(error(setting, format!("{url:?} is not an http(s) URL")));
            }
        }
        let loopback = self.grpc_addr.ip().is_loopback() && self.http_addr.ip().is_loopback();
        let no_keys = self.api_keys.is_empty()
            && self
                .api_keys_file
                .as_ref()
                .is_none_or(|f| f.keys.is_empty());
        if no_keys && !loopback && !self.insecure_no_auth {
            return Err(error(
                "--api-keys (PATRON_API_KEYS)",
                "required when listening on a non-loopback address (or pass --insecure-no-auth)",
            ));
        }
        if self.db_max_connections == 0 {
            return Err(error(
                "--db-max-connections (PATRON_DB_MAX_CONNECTIONS)",
                "must be at least 1",
            ));
        }
        let l = &self.limits;
        for (setting, value) in [
            (
                "--grpc-max-concurrent-streams (PATRON_GRPC_MAX_CONCURRENT_STREAMS)",
                u64::from(l.grpc_max_concurrent_streams),
            ),
            (
                "--max-concurrent-calls (PATRON_MAX_CONCURRENT_CALLS)",
                l.max_concurrent_calls as u64,
            ),
            (
                "--max-open-streams (PATRON_MAX_OPEN_STREAMS)",
                l.max_open_streams as u64,
            ),
            (
                "--default-deadline-ms (PATRON_DEFAULT_DEADLINE_MS)",
                u64::try_from(l.default_deadline.as_millis()).unwrap_or(u64::MAX),
            ),
            (
                "--db-acquire-timeout-ms (PATRON_DB_ACQUIRE_TIMEOUT_MS)",
                u64::try_from(l.db_acquire_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
        ] {
            if value == 0 {
                return Err(error(setting, "must be at least 1"));
            }
        }
        for (setting, value) in [
            (
                "--max-request-bytes (PATRON_MAX_REQUEST_BYTES)",
                l.max_request_bytes,
            ),
            (
                "--max-events-request-bytes (PATRON_MAX_EVENTS_REQUEST_BYTES)",
                l.max_events_request_bytes,
            ),
            (
                "--max-response-bytes (PATRON_MAX_RESPONSE_BYTES)",
                l.max_response_bytes,
            ),
        ] {
            if value < 1024 {
                return Err(error(setting, "must be at least 1024 bytes"));
            }
        }
        Ok(self)
    }

    /// Settings for tests and embedding: both listeners on loopback port 0, the given database.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            migrate_at_start: true,
            db_max_connections: 8,
            customer_cache_entries: 10_000,
            shutdown_timeout: Duration::from_secs(5),
            log_format: None,
            stripe_api_base: DEFAULT_STRIPE_API_BASE.to_owned(),
            public_url: None,
            secret_key: SecretKeySource::Ephemeral,
            api_keys: Vec::new(),
            insecure_no_auth: false,
            tls: None,
            api_keys_file: None,
            api_keys_poll: Duration::from_secs(2),
            limits: Limits::default(),
        }
    }
}
