//! SeaORM entities, one module per table (schema in migrations/).

pub mod app;
pub mod attribution_identifier;
pub mod checkout_session;
pub mod customer;
pub mod customer_app;
pub mod customer_subject_key;
pub mod event;
pub mod idempotency_record;
pub mod subject;
pub mod webhook_event;
