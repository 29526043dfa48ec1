//! Table `checkout_sessions`: Stripe Checkout Sessions patron created.
use sea_orm::entity::prelude::*;

/// One session row; timestamps are microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkout_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub namespace: String,
    pub app_id: String,
    pub customer_id: String,
    pub stripe_customer_id: String,
    pub setup_intent_id: Option<String>,
    pub status: String,
    pub ui_mode: String,
    pub url: Option<String>,
    /// Base64 of nonce + ciphertext of the embedded client secret.
    pub client_secret_ciphertext: Option<String>,
    pub currency: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub return_url: Option<String>,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    /// JSON object of string values.
    pub metadata: String,
    pub request_id: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON of the session's `domain::collected::DetailsRule`; NULL: none.
    pub collected_details: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
