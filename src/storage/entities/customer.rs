//! Table `customers`.
use sea_orm::entity::prelude::*;

/// One customer row; timestamps are microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    pub key: Option<String>,
    pub name: String,
    pub name_lower: String,
    pub description: Option<String>,
    /// JSON object of string values.
    pub metadata: String,
    /// JSON array of the sorted subject keys.
    pub subject_keys: String,
    pub primary_email: Option<String>,
    pub primary_email_lower: Option<String>,
    pub currency: Option<String>,
    pub billing_country: Option<String>,
    pub billing_postal_code: Option<String>,
    pub billing_state: Option<String>,
    pub billing_city: Option<String>,
    pub billing_line1: Option<String>,
    pub billing_line2: Option<String>,
    pub billing_phone_number: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub etag: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
