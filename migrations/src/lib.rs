//! patron's schema migrations (sea-orm-migration). The same migrations produce the same schema on
//! SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

use sea_orm_migration::sea_orm::DatabaseBackend;

mod m20261121_000001_customers;
mod m20261121_000002_stripe;
mod m20261121_000003_subjects_events;
mod m20261121_000004_event_keys;
mod m20261130_000005_webhook_event_namespace;
mod m20261130_000006_stripe_customer_deleted;
mod m20261130_000007_app_webhook_events;
mod m20261206_000008_checkout_collected_details;
mod m20261206_000015_live_customer_indexes;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_customers::Migration),
            Box::new(m20261121_000002_stripe::Migration),
            Box::new(m20261121_000003_subjects_events::Migration),
            Box::new(m20261121_000004_event_keys::Migration),
            Box::new(m20261130_000005_webhook_event_namespace::Migration),
            Box::new(m20261130_000006_stripe_customer_deleted::Migration),
            Box::new(m20261130_000007_app_webhook_events::Migration),
            Box::new(m20261206_000008_checkout_collected_details::Migration),
            Box::new(m20261206_000015_live_customer_indexes::Migration),
        ]
    }
}

/// Runs SQL statements written for both databases; `{C}` stands for the byte-order collation
/// clause, which PostgreSQL needs spelled out and SQLite has by default.
pub(crate) async fn run_statements(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let collate = match db.get_database_backend() {
        DatabaseBackend::Postgres => r#" COLLATE "C""#,
        _ => "",
    };
    for statement in statements {
        db.execute_unprepared(&statement.replace("{C}", collate))
            .await?;
    }
    Ok(())
}
