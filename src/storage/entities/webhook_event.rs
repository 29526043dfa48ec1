//! Table `webhook_events`: Stripe events already processed, per app.
use sea_orm::entity::prelude::*;

/// One processed event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub event_type: String,
    /// The event's `created`, as Stripe sends it.
    pub event_created: i64,
    pub processed_at: i64,
    /// The app's namespace.
    pub namespace: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
