//! Payments: the Stripe adapter behind a trait. The only module that names Stripe's crates; the
//! service layer sees the `Payments` trait and these plain types.

pub mod signature;
mod stripe;

use std::collections::BTreeMap;
use std::fmt::Debug;

use tokio::time::Instant;

use crate::domain::app::{StripeApiKey, WebhookSecret};
use crate::domain::checkout::{CheckoutOptions, SessionStatus};

pub use self::stripe::StripeGateway;

/// The events patron's webhook endpoint subscribes to.
pub const WEBHOOK_EVENTS: [&str; 7] = [
    "setup_intent.succeeded",
    "setup_intent.setup_failed",
    "checkout.session.completed",
    "checkout.session.expired",
    "customer.updated",
    "customer.deleted",
    "payment_method.detached",
];

/// How a Stripe call failed, as the service layer needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Stripe refused the request's parameters (400).
    #[error("Stripe refused the request: {message}")]
    InvalidRequest {
        /// Stripe's message.
        message: String,
        /// The parameter Stripe names, if any.
        param: Option<String>,
    },
    /// Stripe refused the API key (401: unknown, expired or revoked).
    #[error("Stripe refused the app's API key")]
    Unauthorized,
    /// The key is valid but may not make this call (403: a restricted key without the
    /// permission).
    #[error("Stripe denied the permission: {message}")]
    PermissionDenied {
        /// Stripe's message (naming the masked key and the permission).
        message: String,
    },
    /// A referenced object does not exist at Stripe (404).
    #[error("Stripe has no such object: {message}")]
    NotFound {
        /// Stripe's message.
        message: String,
    },
    /// Stripe could not be reached or kept failing (429, 5xx, connection errors) until the
    /// deadline.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// The call's deadline ran out while waiting for Stripe.
    #[error("the deadline ran out waiting for Stripe")]
    DeadlineExceeded,
    /// A portal session was asked for without a configuration while the account has no default
    /// customer portal configuration.
    #[error("Stripe has no default customer portal configuration: {message}")]
    PortalNotConfigured {
        /// Stripe's message.
        message: String,
    },
    /// Stripe answered something unexpected.
    #[error("unexpected answer from Stripe: {0}")]
    Other(String),
}

/// A webhook endpoint registered at Stripe.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// we_...
    pub id: String,
    /// Its signing secret.
    pub secret: WebhookSecret,
}

/// A Stripe customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeCustomer {
    /// cus_...
    pub id: String,
    /// Whether it was deleted at Stripe.
    pub deleted: bool,
    /// `invoice_settings.default_payment_method` (pm_...), if set (never for a deleted one).
    pub default_payment_method: Option<String>,
}

/// A Stripe customer to create: only what never changes for a (namespace, app, customer), so
/// its Idempotency-Key, derived from the same, always comes with the same parameters (Stripe
/// refuses a key reused with other parameters); the details follow in an update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewStripeCustomer {
    /// Metadata (patron_* keys).
    pub metadata: BTreeMap<String, String>,
}

/// The details of a Stripe customer patron sets from its own customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeCustomerDetails {
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Address: country, postal_code, state, city, line1, line2.
    pub address: Option<[Option<String>; 6]>,
}

/// A payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    /// pm_...
    pub id: String,
    /// The customer it is attached to.
    pub customer: Option<String>,
    /// `billing_details.name`.
    pub billing_name: Option<String>,
    /// `billing_details.address`: country, postal_code, state, city, line1, line2.
    pub billing_address: Option<[Option<String>; 6]>,
}

/// A Checkout Session to create (mode setup).
#[derive(Debug, Clone)]
pub struct NewCheckoutSession {
    /// The Stripe customer.
    pub customer: String,
    /// Currency, lower case as Stripe wants it.
    pub currency: Option<String>,
    /// Validated options.
    pub options: CheckoutOptions,
    /// Session metadata (caller's plus patron_*), also put on the setup intent.
    pub metadata: BTreeMap<String, String>,
}

/// A Checkout Session as Stripe returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSessionInfo {
    /// cs_...
    pub id: String,
    /// Hosted URL.
    pub url: Option<String>,
    /// Embedded client secret.
    pub client_secret: Option<String>,
    /// seti_...
    pub setup_intent_id: Option<String>,
    /// State.
    pub status: Option<SessionStatus>,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Currency, upper case.
    pub currency: Option<String>,
    /// Customer email.
    pub customer_email: Option<String>,
}

/// A Billing customer portal session to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPortalSession {
    /// The Stripe customer (cus_...).
    pub customer: String,
    /// The configuration (bpc_...); `None` for the account's default.
    pub configuration: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// Return URL.
    pub return_url: Option<String>,
}

/// A Billing customer portal session as Stripe returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSessionInfo {
    /// bps_...
    pub id: String,
    /// The Stripe customer.
    pub customer: String,
    /// The configuration used (bpc_...).
    pub configuration: String,
    /// Live mode.
    pub livemode: bool,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Locale.
    pub locale: Option<String>,
    /// Return URL.
    pub return_url: Option<String>,
    /// The portal URL.
    pub url: String,
}

/// The Stripe operations patron uses. Every call gets the deadline of the gRPC call it serves;
/// create calls take an Idempotency-Key that the implementation reuses on every retry.
#[async_trait::async_trait]
pub trait Payments: Send + Sync + Debug + 'static {
    /// GET /v1/account: the account id of the key.
    async fn retrieve_account(
        &self,
        key: &StripeApiKey,
        deadline: Instant,
    ) -> Result<String, PaymentsError>;
    /// POST /v1/webhook_endpoints.
    async fn create_webhook_endpoint(
        &self,
        key: &StripeApiKey,
        url: &str,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<WebhookEndpoint, PaymentsError>;
    /// POST /v1/webhook_endpoints/{id}: subscribes the endpoint to [`WEBHOOK_EVENTS`].
    async fn update_webhook_endpoint_events(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<(), PaymentsError>;
    /// DELETE /v1/webhook_endpoints/{id}.
    async fn delete_webhook_endpoint(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<(), PaymentsError>;
    /// GET /v1/customers/{id}.
    async fn retrieve_customer(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError>;
    /// POST /v1/customers.
    async fn create_customer(
        &self,
        key: &StripeApiKey,
        customer: &NewStripeCustomer,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError>;
    /// POST /v1/customers/{id}: sets the given details.
    async fn update_customer(
        &self,
        key: &StripeApiKey,
        id: &str,
        details: &StripeCustomerDetails,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError>;
    /// GET /v1/payment_methods/{id}.
    async fn retrieve_payment_method(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<PaymentMethod, PaymentsError>;
    /// POST /v1/checkout/sessions.
    async fn create_checkout_session(
        &self,
        key: &StripeApiKey,
        session: &NewCheckoutSession,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<CheckoutSessionInfo, PaymentsError>;
    /// POST /v1/checkout/sessions/{id}/expire.
    async fn expire_checkout_session(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<CheckoutSessionInfo, PaymentsError>;
    /// POST /v1/billing_portal/sessions.
    async fn create_portal_session(
        &self,
        key: &StripeApiKey,
        session: &NewPortalSession,
        deadline: Instant,
    ) -> Result<PortalSessionInfo, PaymentsError>;
}
