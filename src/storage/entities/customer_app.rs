//! Table `customer_apps`: a customer's data for one app (its Stripe customer and default
//! payment method).
use sea_orm::entity::prelude::*;

/// One customer-app row; timestamps are microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub namespace: String,
    pub customer_id: String,
    pub app_id: String,
    pub stripe_customer_id: String,
    pub stripe_default_payment_method_id: Option<String>,
    /// `created` of the webhook event that set the default payment method.
    pub default_payment_method_event_created: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// When `customer.deleted` said the Stripe customer is gone.
    pub stripe_customer_deleted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
