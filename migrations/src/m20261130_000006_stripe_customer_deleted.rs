//! A customer's entry for a Stripe app remembers when its Stripe customer was deleted at Stripe
//! (`customer.deleted`), so the next checkout creates a fresh one.
use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["ALTER TABLE customer_apps ADD COLUMN stripe_customer_deleted_at BIGINT"];

const DOWN: &[&str] = &["ALTER TABLE customer_apps DROP COLUMN stripe_customer_deleted_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
