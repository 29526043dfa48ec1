//! patron: the customers of a usage-billing platform, connected to Stripe, served over gRPC.
//!
//! # Code map
//! - `main.rs`: CLI (`serve`, `migrate`, `version`), configuration, logging, signals.
//! - [`config`]: one `Settings` struct: defaults -> TOML file -> environment -> flags; validated.
//! - [`app`]: builds the running server (database, gRPC with reflection and health, HTTP) and
//!   shuts it down gracefully.
//! - [`domain`]: types and rules (parsed values, customers, pages, errors).
//! - [`service`]: use cases; each owns its transaction, idempotency and rules.
//! - [`storage`]: SeaORM entities and repositories, SQLite and PostgreSQL.
//! - [`grpc`]: generated code, one handler module per service, `status` (the single
//!   domain-error -> Status map) and `convert` (proto <-> domain).
//! - [`http`]: the HTTP listener (/healthz).
//!
//! # Invariants
//! - Only `grpc` knows protobuf types; only `storage` knows SeaORM; `domain` depends on neither.
//! - Handlers are thin: decode, call one use case, encode.
//! - Every row has a namespace; every statement filters by it (reads, and updates and deletes by
//!   id too) and every uniqueness rule is per namespace. The namespace comes from the caller's
//!   credentials (the interceptor), never from a request field. Two statements are global by
//!   design: the webhook's lookup of the app by the id in its URL (all that follows uses that
//!   app's namespace) and the retention purge of old idempotency records.
//! - Attribution identifiers (customer keys and subject keys) belong to at most one live customer
//!   per namespace: a partial unique index on the open intervals of `attribution_identifiers`
//!   enforces it; code only checks first to name the holder in the error.
//! - Timestamps are stored as integer microseconds since the Unix epoch on both databases.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod secrets;
pub mod service;
pub mod storage;
pub mod telemetry;
