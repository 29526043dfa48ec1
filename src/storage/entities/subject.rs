//! Table `subjects`.
use sea_orm::entity::prelude::*;

/// One subject row; metadata is a JSON object string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subjects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    pub key: String,
    pub display_name: Option<String>,
    pub metadata: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
