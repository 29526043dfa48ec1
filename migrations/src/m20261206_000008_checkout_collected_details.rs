//! A Checkout Session remembers the rule by which the details its customer enters flow back to
//! the patron customer (JSON: the fields it may take with their values when patron last knew
//! them, and the newest event applied; NULL: opted out, or created before this column existed).
use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["ALTER TABLE checkout_sessions ADD COLUMN collected_details TEXT{C}"];

const DOWN: &[&str] = &["ALTER TABLE checkout_sessions DROP COLUMN collected_details"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
