//! Table `customer_subject_keys`: the subject keys a customer has.
use sea_orm::entity::prelude::*;

/// One (customer, subject key) pair.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_subject_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: String,
    pub namespace: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_key: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
