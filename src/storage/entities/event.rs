//! Table `events`.
use sea_orm::entity::prelude::*;

/// One stored usage event; attributes are JSON, data is text (binary and proto data base64).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    pub source: String,
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
