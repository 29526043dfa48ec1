//! An app remembers the event types its webhook endpoint was registered with, so endpoints
//! registered before patron subscribed to more types are updated without a manual step (NULL:
//! registered before this column existed).
use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["ALTER TABLE apps ADD COLUMN webhook_events TEXT{C}"];

const DOWN: &[&str] = &["ALTER TABLE apps DROP COLUMN webhook_events"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
