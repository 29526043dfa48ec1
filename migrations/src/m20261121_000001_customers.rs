//! Customers, their subject keys, the attribution-identifier ledger and idempotency records.
//!
//! Timestamps are integer microseconds since the Unix epoch on both databases, so ordering and
//! comparison are identical everywhere. Text columns that are ordered or range-scanned use the
//! byte-order "C" collation on PostgreSQL (SQLite's default BINARY collation is the same order).

use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The schema, with `{C}` standing for the byte-order collation clause.
const UP: &[&str] = &[
    r#"CREATE TABLE customers (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        key TEXT{C} NULL,
        name TEXT{C} NOT NULL,
        name_lower TEXT{C} NOT NULL,
        description TEXT NULL,
        metadata TEXT NOT NULL,
        subject_keys TEXT NOT NULL,
        primary_email TEXT NULL,
        primary_email_lower TEXT{C} NULL,
        currency TEXT NULL,
        billing_country TEXT NULL,
        billing_postal_code TEXT NULL,
        billing_state TEXT NULL,
        billing_city TEXT NULL,
        billing_line1 TEXT NULL,
        billing_line2 TEXT NULL,
        billing_phone_number TEXT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT NULL,
        etag TEXT NOT NULL
    )"#,
    "CREATE INDEX customers_ns_name ON customers (namespace, name, id)",
    "CREATE INDEX customers_ns_name_lower ON customers (namespace, name_lower, id)",
    "CREATE INDEX customers_ns_created ON customers (namespace, created_at, id)",
    "CREATE INDEX customers_ns_id ON customers (namespace, id)",
    "CREATE INDEX customers_ns_key ON customers (namespace, key)",
    "CREATE INDEX customers_ns_email ON customers (namespace, primary_email_lower)",
    // The subject keys a customer has (kept after a soft delete, as its last state).
    r#"CREATE TABLE customer_subject_keys (
        customer_id TEXT{C} NOT NULL,
        namespace TEXT{C} NOT NULL,
        subject_key TEXT{C} NOT NULL,
        PRIMARY KEY (customer_id, subject_key)
    )"#,
    "CREATE INDEX customer_subject_keys_ns_key ON customer_subject_keys (namespace, subject_key)",
    // The attribution-identifier ledger: who held an identifier (customer key or subject key)
    // when. An open interval (valid_to NULL) is a live claim; the partial unique index is the
    // rule "an identifier belongs to at most one live customer".
    r#"CREATE TABLE attribution_identifiers (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        identifier TEXT{C} NOT NULL,
        customer_id TEXT{C} NOT NULL,
        valid_from BIGINT NOT NULL,
        valid_to BIGINT NULL
    )"#,
    "CREATE UNIQUE INDEX attribution_identifiers_live ON attribution_identifiers (namespace, identifier) WHERE valid_to IS NULL",
    "CREATE INDEX attribution_identifiers_history ON attribution_identifiers (namespace, identifier, valid_from)",
    "CREATE INDEX attribution_identifiers_customer ON attribution_identifiers (customer_id)",
    // Responses of create-like calls, by request_id, for idempotent retries.
    r#"CREATE TABLE idempotency_records (
        namespace TEXT{C} NOT NULL,
        method TEXT{C} NOT NULL,
        request_id TEXT{C} NOT NULL,
        request_hash TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, method, request_id)
    )"#,
    "CREATE INDEX idempotency_records_created ON idempotency_records (created_at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE idempotency_records",
    "DROP TABLE attribution_identifiers",
    "DROP TABLE customer_subject_keys",
    "DROP TABLE customers",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
