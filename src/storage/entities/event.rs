//! Table `events`.
use sea_orm::entity::prelude::*;

/// One stored usage event, unique by (namespace, source, event_id); attributes are JSON, data is
/// text (binary and proto data base64). `id` (a ULID) breaks ties in time order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub namespace: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    pub event_time: i64,
    pub attributes: String,
    pub data_kind: Option<String>,
    pub data_text: Option<String>,
    pub ingested_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
