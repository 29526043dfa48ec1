//! Processed webhook events get their namespace like every other row (the app's; existing rows
//! take it from their app), so every statement on them can filter by it.
use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE webhook_events ADD COLUMN namespace TEXT{C} NOT NULL DEFAULT ''",
    "UPDATE webhook_events SET namespace = \
     (SELECT apps.namespace FROM apps WHERE apps.id = webhook_events.app_id) \
     WHERE EXISTS (SELECT 1 FROM apps WHERE apps.id = webhook_events.app_id)",
];

const DOWN: &[&str] = &["ALTER TABLE webhook_events DROP COLUMN namespace"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
