//! patron's integration tests: one binary that starts the real server on port 0 and talks gRPC
//! through the generated clients. Storage-touching scenarios run on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod clients;
mod helpers;

mod customers_create;
mod customers_get_concurrent;
mod customers_list;
mod customers_update_delete;
mod limits;
mod observability;
mod openmeter_sdk;
mod overload;
mod replicas;
mod rest;
mod security;
mod server;
mod stripe_apps;
mod stripe_checkout;
mod stripe_details;
mod stripe_portal;
mod stripe_sync;
mod subjects_events;
mod tenancy;
mod webhooks_hostile;
