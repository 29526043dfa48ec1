//! Subjects and usage events.
//!
//! Events are written in batches of up to 1000 rows per statement and deduplicated by the unique
//! index on (namespace, source, event_id). Reads go through (namespace, subject, event_time, id).
//!
//! Partitioning plan (PostgreSQL): `events` is keyed and indexed so that it can become a table
//! partitioned by RANGE (event_time) — monthly partitions created ahead by a maintenance job —
//! without changing queries: every read filters on event_time, and the dedupe key would become
//! (namespace, source, event_id, event_time) on the partitioned table with a small per-namespace
//! dedupe table for events older than the newest partition. Until volume calls for it, one table.

use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE TABLE subjects (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        key TEXT{C} NOT NULL,
        display_name TEXT NULL,
        metadata TEXT NULL,
        stripe_customer_id TEXT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT NULL
    )"#,
    "CREATE UNIQUE INDEX subjects_live_key ON subjects (namespace, key) WHERE deleted_at IS NULL",
    "CREATE INDEX subjects_ns_key ON subjects (namespace, key, id)",
    r#"CREATE TABLE events (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        source TEXT{C} NOT NULL,
        event_id TEXT{C} NOT NULL,
        event_type TEXT NOT NULL,
        subject TEXT{C} NOT NULL,
        event_time BIGINT NOT NULL,
        attributes TEXT NOT NULL,
        data_kind TEXT NULL,
        data_text TEXT NULL,
        ingested_at BIGINT NOT NULL
    )"#,
    "CREATE UNIQUE INDEX events_dedupe ON events (namespace, source, event_id)",
    "CREATE INDEX events_ns_subject_time ON events (namespace, subject, event_time, id)",
];

const DOWN: &[&str] = &["DROP TABLE events", "DROP TABLE subjects"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
