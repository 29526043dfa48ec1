//! Table `attribution_identifiers`: who held an identifier when (valid_to NULL = held now).
use sea_orm::entity::prelude::*;

/// One interval in which a customer held an identifier.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attribution_identifiers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    pub identifier: String,
    pub customer_id: String,
    pub valid_from: i64,
    pub valid_to: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
