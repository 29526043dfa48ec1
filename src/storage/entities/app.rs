//! Table `apps`: installed Stripe apps; secrets are stored encrypted.
use sea_orm::entity::prelude::*;

/// One app row; timestamps are microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    /// Always `stripe` for now.
    pub app_type: String,
    pub name: String,
    pub description: Option<String>,
    /// JSON object of string values.
    pub metadata: String,
    pub status: String,
    pub is_default: bool,
    pub stripe_account_id: String,
    pub livemode: bool,
    pub masked_api_key: String,
    /// Base64 of nonce + ciphertext; NULL once wiped.
    pub api_key_ciphertext: Option<String>,
    pub webhook_endpoint_id: Option<String>,
    pub webhook_url: Option<String>,
    /// Base64 of nonce + ciphertext; NULL once wiped.
    pub webhook_secret_ciphertext: Option<String>,
    /// The event types the webhook endpoint was registered with (comma-separated); NULL when
    /// registered before they were recorded.
    pub webhook_events: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
