//! patron: the customers of a usage-billing platform, connected to Stripe, served over gRPC.
//!
//! # Code map
//! - `main.rs`: CLI (`serve`, `migrate`, `version`), the tokio runtime, configuration, logging,
//!   signals.
//! - [`config`]: one `Settings` struct: defaults -> TOML file -> environment -> flags; validated.
//! - [`app`]: builds the running server (database, the use cases over one `service::Deps` with
//!   the injected clock, gRPC with reflection and health, HTTP, background jobs: database watch,
//!   idempotency purge, the start-up refresh of webhook endpoints) and shuts it down gracefully.
//! - [`domain`]: types and rules, parsed once at the edge into typed values: values (names,
//!   identifiers, metadata), customers, apps, checkout options and sessions, the rule by which
//!   details collected in Checkout flow back to a customer (`collected`), portal sessions,
//!   subjects, usage events, ISO codes, one `page::Page<T>` with its tokens, errors, and the
//!   `clock`.
//! - [`service`]: use cases (customers, apps, customer apps, checkout, webhooks, subjects,
//!   events); each owns its transaction, idempotency and rules, and gets the same `Deps` (store,
//!   payments, cipher, clock, public URL). Steps several use cases share live in
//!   `service::steps`.
//! - [`storage`]: SeaORM entities and repositories, SQLite and PostgreSQL, and the customer cache;
//!   the hot statements (GetCustomer by id/key, CreateCustomer on PostgreSQL) are written once
//!   and go to the driver (sqlx, through SeaORM's re-export) directly; on PostgreSQL
//!   `storage::batch` merges the GetCustomer reads of concurrent calls into one statement and
//!   `storage::creates` the CreateCustomer writes (one statement, one commit), both on a
//!   pool of their own whose connections use generic plans; on SQLite, creates and event
//!   batches are jobs of the writer task's group commit (`storage::group_commit`: one
//!   transaction per batch of jobs, answered after the commit; a batch with a failed job is
//!   rerun with a savepoint per job), and `storage::checkpoint` copies the WAL into the
//!   database file beside the writer instead of inside its commits.
//! - [`payments`]: Stripe behind the `Payments` trait (async-stripe), and the webhook signature.
//! - [`grpc`]: generated code, one handler module per service, `status` (the single
//!   domain-error -> Status map), `convert` (proto <-> domain), `auth` (the interceptor over
//!   [`auth`]), `observe` (spans, metrics), `limit` (overload shedding), `codec`.
//! - [`rest`]: OpenMeter's v1 REST API under `/api/v1` on the HTTP listener: one handler module
//!   per resource (customers, customer apps with the portal, checkout, subjects, apps with the
//!   marketplace install, events), `json` (case-insensitive JSON objects), `problem` (the single
//!   domain-error -> RFC 7807 map), `openapi` (the document, from the same route table as the
//!   router).
//! - [`auth`]: API keys -> namespace, for both transports.
//! - [`http`]: the HTTP listener (Stripe webhooks, also at OpenMeter's path, the REST API,
//!   /metrics, /livez, /readyz = /healthz).
//! - [`secrets`]: AES-256-GCM sealing of the secrets stored in the database.
//! - [`metrics`]: the Prometheus registry; [`telemetry`]: logging and OpenTelemetry tracing, each
//!   output with its own filter (a span nobody wants is never created).
//!
//! # Invariants
//! - Only `grpc` (and `app`, which mounts its servers) knows tonic and protobuf types; only
//!   `rest` and `http` know axum; only
//!   `storage` knows SeaORM; only `payments` knows Stripe's crates; `domain` depends on none of
//!   them, nor on `service`, `storage` or `payments`.
//! - Handlers are thin: decode, parse into domain types (the rules live in `domain`), call one
//!   use case, encode. Errors become a Status in one place, `grpc::status`, and a problem in
//!   one place, `rest::problem`.
//! - No use case reaches through another for its dependencies: each holds a `service::Deps`.
//! - Below `grpc`, "now" comes from the injected `domain::clock::Clock`, never from the system
//!   (`app` builds the system clock; storage stamps only times it is given).
//! - Every row has a namespace; every statement filters by it (reads, and updates and deletes by
//!   id too) and every uniqueness rule is per namespace. The namespace comes from the caller's
//!   credentials (the interceptor), never from a request field. Three statements are global by
//!   design: the webhook's lookup of the app by the id in its URL (all that follows uses that
//!   app's namespace), the retention purge of old idempotency records, and the start-up listing
//!   of apps whose webhook endpoints lack event types (each app's update then uses its
//!   namespace).
//! - Attribution identifiers (customer keys and subject keys) belong to at most one live customer
//!   per namespace: a partial unique index on the open intervals of `attribution_identifiers`
//!   enforces it; code only checks first to name the holder in the error.
//! - A request_id's fingerprint is the SHA-256 of the serialized request; a request that cannot be
//!   serialized fails (INTERNAL) rather than sharing an empty fingerprint.
//! - Timestamps are stored as integer microseconds since the Unix epoch on both databases.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod rest;
pub mod secrets;
pub mod service;
pub mod storage;
pub mod telemetry;
