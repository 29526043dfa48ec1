//! patron's schema migrations (sea-orm-migration). The same migrations produce the same schema on
//! SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261121_000001_customers;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261121_000001_customers::Migration)]
    }
}
