//! The default lists (live customers only) walk an index whose predicate is exactly theirs.
//!
//! With only `(namespace, name, id)` and friends, a list of live customers filters
//! `deleted_at IS NULL` row by row. A partial index on the live rows in each list order matches
//! the query's own predicate, so the first page is an index walk with no filter, and deleted rows
//! never slow a live list down (SQLite uses them the same way). The full indexes stay for lists
//! that include deleted customers.
//!
//! These indexes alone do not keep PostgreSQL from sorting on a table that has no statistics yet
//! (its default selectivities estimate about one row, which makes any sort look free): patron
//! analyzes such tables itself (`Store::refresh_statistics`).
use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX customers_live_ns_name ON customers (namespace, name, id) WHERE deleted_at IS NULL",
    "CREATE INDEX customers_live_ns_created ON customers (namespace, created_at, id) WHERE deleted_at IS NULL",
    "CREATE INDEX customers_live_ns_id ON customers (namespace, id) WHERE deleted_at IS NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX customers_live_ns_name",
    "DROP INDEX customers_live_ns_created",
    "DROP INDEX customers_live_ns_id",
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
