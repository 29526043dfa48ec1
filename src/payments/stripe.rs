//! The Stripe implementation of `Payments`, on async-stripe (pinned to the API version of its
//! release, sent on every call).
//!
//! Retries are ours, not the client's: every attempt of a create call carries the same
//! Idempotency-Key, 409/429/5xx/timeouts/connection errors are retried with exponential backoff
//! and jitter until the gRPC call's deadline, and the last failure decides between UNAVAILABLE
//! and DEADLINE_EXCEEDED.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use stripe::{Client, ClientBuilder, StripeError};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionConsentCollection,
    CreateCheckoutSessionConsentCollectionPaymentMethodReuseAgreement,
    CreateCheckoutSessionCustomText, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionSetupIntentData, CreateCheckoutSessionTaxIdCollection,
    CustomTextPositionParam, ExpireCheckoutSession,
};
use stripe_client_core::{
    IdempotencyKey, RequestBuilder, RequestStrategy, StripeMethod, StripeRequest,
};
use stripe_connect::account::RetrieveForMyAccountAccount;
use stripe_core::customer::{
    CreateCustomer, OptionalFieldsCustomerAddress, RetrieveCustomer, RetrieveCustomerReturned,
    UpdateCustomer,
};
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, DeleteWebhookEndpoint, UpdateWebhookEndpoint,
};
use stripe_payment::payment_method::RetrievePaymentMethod;
use tokio::time::Instant;

use super::{
    CheckoutSessionInfo, NewCheckoutSession, NewPortalSession, NewStripeCustomer, PaymentMethod,
    Payments, PaymentsError, PortalSessionInfo, StripeCustomer, StripeCustomerDetails,
    WEBHOOK_EVENTS, WebhookEndpoint,
};
use crate::domain::app::{StripeApiKey, WebhookSecret};
use crate::domain::checkout::{SessionStatus, UiMode};
use crate::metrics::Metrics;

/// Longest a single attempt may take (the deadline may cut it shorter).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// First backoff; doubles per retry up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The form of `POST /v1/billing_portal/sessions` (async-stripe's billing crate is not a
/// dependency: the request goes through the client core with this typed form).
#[derive(Debug, Clone, serde::Serialize)]
struct PortalSessionForm<'a> {
    customer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<&'a str>,
}

/// Stripe's message when a portal session names no configuration and the account has no
/// default one. Stripe gives this error no `code`, so its message is all there is to tell it
/// from other invalid requests.
const NO_PORTAL_CONFIGURATION: &str = "No configuration provided";

fn portal_session_info(v: &miniserde::json::Value) -> Result<PortalSessionInfo, PaymentsError> {
    use miniserde::json::{Number, Value};
    let Value::Object(o) = v else {
        return Err(PaymentsError::Other(
            "billing_portal.session: not an object".into(),
        ));
    };
    let text = |name: &str| match o.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let required = |name: &str| {
        text(name).ok_or_else(|| PaymentsError::Other(format!("billing_portal.session: no {name}")))
    };
    let created = match o.get("created") {
        Some(Value::Number(Number::U64(n))) => i64::try_from(*n).unwrap_or(i64::MAX),
        Some(Value::Number(Number::I64(n))) => *n,
        _ => {
            return Err(PaymentsError::Other(
                "billing_portal.session: no created".into(),
            ));
        }
    };
    Ok(PortalSessionInfo {
        id: required("id")?,
        customer: required("customer")?,
        configuration: required("configuration")?,
        livemode: matches!(o.get("livemode"), Some(Value::Bool(true))),
        created,
        locale: text("locale"),
        return_url: text("return_url"),
        url: required("url")?,
    })
}

/// Talks to Stripe (or a Stripe double) at a base URL.
#[derive(Debug, Clone)]
pub struct StripeGateway {
    base_url: String,
    /// One HTTP client per API key (keyed by its SHA-256), reused across calls.
    clients: Arc<Mutex<HashMap<[u8; 32], Client>>>,
    /// Where each attempt is counted.
    metrics: Arc<Metrics>,
}

impl StripeGateway {
    /// A gateway for `base_url` (e.g. `https://api.stripe.com`) that counts its attempts in
    /// `metrics`.
    pub fn new(base_url: &str, metrics: Arc<Metrics>) -> Self {
        let mut base_url = base_url.trim().to_owned();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Self {
            base_url,
            clients: Arc::default(),
            metrics,
        }
    }

    fn client(&self, key: &StripeApiKey) -> Result<Client, PaymentsError> {
        let digest: [u8; 32] = Sha256::digest(key.expose().as_bytes()).into();
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| PaymentsError::Other("client cache poisoned".into()))?;
        if let Some(client) = clients.get(&digest) {
            return Ok(client.clone());
        }
        let client = ClientBuilder::new(key.expose())
            .url(self.base_url.clone())
            .build()
            .map_err(|e| PaymentsError::Other(format!("cannot build the Stripe client: {e}")))?;
        clients.insert(digest, client.clone());
        Ok(client)
    }
}

/// A value of one of async-stripe's string enums (their FromStr cannot fail).
fn choice<T: FromStr<Err = Infallible>>(value: &str) -> T {
    match value.parse() {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

enum Failure {
    /// Worth another attempt (with the reason).
    Retry(String),
    /// The answer is final.
    Final(PaymentsError),
}

fn classify(err: StripeError) -> Failure {
    match err {
        StripeError::Stripe(errors, status) => {
            let message = errors
                .message
                .clone()
                .unwrap_or_else(|| format!("HTTP {status}"));
            let missing = errors
                .code
                .as_ref()
                .is_some_and(|c| c.as_str() == "resource_missing");
            match status {
                // A referenced object (e.g. `customer`) that does not exist: Stripe says 400
                // resource_missing; for us it is a failed precondition like a 404.
                400 if missing => Failure::Final(PaymentsError::NotFound { message }),
                400 | 402 | 422 => Failure::Final(PaymentsError::InvalidRequest {
                    message,
                    param: errors.param.clone(),
                }),
                401 => Failure::Final(PaymentsError::Unauthorized),
                403 => Failure::Final(PaymentsError::PermissionDenied { message }),
                404 => Failure::Final(PaymentsError::NotFound { message }),
                409 | 429 | 500..=599 => Failure::Retry(format!("HTTP {status}: {message}")),
                _ => Failure::Final(PaymentsError::Other(format!("HTTP {status}: {message}"))),
            }
        }
        // A non-2xx answer without Stripe's error body (a proxy, a dropped response) is a
        // transient fault like any 5xx.
        StripeError::JSONDeserialize(message) if message.contains("Stripe error") => {
            Failure::Retry(format!("unreadable error response: {message}"))
        }
        StripeError::JSONDeserialize(message) => Failure::Final(PaymentsError::Other(format!(
            "unreadable response: {message}"
        ))),
        StripeError::ClientError(message) => Failure::Retry(format!("connection: {message}")),
        StripeError::Timeout => Failure::Retry("timed out".into()),
        StripeError::ConfigError(message) => Failure::Final(PaymentsError::Other(message)),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `deadline` passes.
#[tracing::instrument(name = "stripe", skip_all, fields(stripe.endpoint = endpoint))]
async fn with_retries<T, F, Fut>(
    m: &Metrics,
    endpoint: &'static str,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, PaymentsError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, StripeError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut last_failure: Option<String> = None;
    let mut tries: u32 = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(match last_failure {
                Some(reason) if !reason.starts_with("timed out") => {
                    PaymentsError::Unavailable(reason)
                }
                _ => PaymentsError::DeadlineExceeded,
            });
        }
        let budget = (deadline - now).min(ATTEMPT_TIMEOUT);
        tries += 1;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(budget, attempt(budget)).await;
        m.stripe_latency
            .with_label_values(&[endpoint])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(Ok(value)) => {
                m.stripe_requests.with_label_values(&[endpoint, "ok"]).inc();
                return Ok(value);
            }
            Ok(Err(err)) => classify(err),
            Err(_) => Failure::Retry("timed out".into()),
        };
        let label = match &outcome {
            Failure::Retry(_) => "retryable_error",
            Failure::Final(PaymentsError::InvalidRequest { .. }) => "invalid_request",
            Failure::Final(PaymentsError::Unauthorized) => "unauthorized",
            Failure::Final(PaymentsError::PermissionDenied { .. }) => "permission_denied",
            Failure::Final(PaymentsError::NotFound { .. }) => "not_found",
            Failure::Final(_) => "error",
        };
        m.stripe_requests
            .with_label_values(&[endpoint, label])
            .inc();
        let reason = match outcome {
            Failure::Final(err) => return Err(err),
            Failure::Retry(reason) => reason,
        };
        tracing::warn!(endpoint, attempt = tries, %reason, "Stripe call failed; retrying");
        last_failure = Some(reason);
        let jitter = Duration::from_millis(rand::random::<u64>() % 50);
        let pause = (backoff + jitter).min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn idempotent(key: &str) -> Result<RequestStrategy, PaymentsError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentsError::Other(format!("idempotency key: {e}")))
}

fn session_info(session: stripe_shared::CheckoutSession) -> CheckoutSessionInfo {
    CheckoutSessionInfo {
        id: session.id.as_str().to_owned(),
        url: session.url,
        client_secret: session.client_secret,
        setup_intent_id: session.setup_intent.map(|s| s.id().as_str().to_owned()),
        status: session
            .status
            .and_then(|s| SessionStatus::parse(s.as_str())),
        expires_at: session.expires_at,
        created: session.created,
        currency: session.currency.map(|c| c.to_string().to_uppercase()),
        customer_email: session.customer_email,
    }
}

fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn build_checkout(session: &NewCheckoutSession) -> CreateCheckoutSession {
    let o = &session.options;
    let mut request = CreateCheckoutSession::new()
        .mode(choice::<stripe_shared::CheckoutSessionMode>("setup"))
        .customer(session.customer.as_str())
        .ui_mode(choice::<stripe_shared::CheckoutSessionUiMode>(
            match o.ui_mode {
                UiMode::Hosted => "hosted_page",
                UiMode::Embedded => "embedded_page",
            },
        ))
        .metadata(hash_map(&session.metadata))
        .setup_intent_data(CreateCheckoutSessionSetupIntentData {
            metadata: Some(hash_map(&session.metadata)),
            ..CreateCheckoutSessionSetupIntentData::new()
        });
    if let Some(currency) = &session.currency {
        request = request.currency(choice::<stripe_types::Currency>(currency));
    }
    if let Some(url) = &o.success_url {
        request = request.success_url(url.as_str());
    }
    if let Some(url) = &o.cancel_url {
        request = request.cancel_url(url.as_str());
    }
    if let Some(url) = &o.return_url {
        request = request.return_url(url.as_str());
    }
    if let Some(reference) = &o.client_reference_id {
        request = request.client_reference_id(reference.as_str());
    }
    if let Some(locale) = &o.locale {
        request = request.locale(choice::<stripe_shared::CheckoutSessionLocale>(locale));
    }
    if let Some(expires_at) = o.expires_at {
        request = request.expires_at(expires_at.micros().div_euclid(1_000_000));
    }
    if !o.payment_method_types.is_empty() {
        request = request.allowed_payment_method_types(
            o.payment_method_types
                .iter()
                .map(|t| choice(t))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(c) = o.billing_address_collection {
        request = request.billing_address_collection(choice::<
            stripe_shared::CheckoutSessionBillingAddressCollection,
        >(c.as_str()));
    }
    if let Some((enabled, required)) = o.tax_id_collection {
        let mut tax = CreateCheckoutSessionTaxIdCollection::new(enabled);
        tax.required = required.map(|r| choice(r.as_str()));
        request = request.tax_id_collection(tax);
    }
    if o.customer_update_address.is_some()
        || o.customer_update_name.is_some()
        || o.customer_update_shipping.is_some()
    {
        let mut update = CreateCheckoutSessionCustomerUpdate::new();
        update.address = o.customer_update_address.map(|c| choice(c.as_str()));
        update.name = o.customer_update_name.map(|c| choice(c.as_str()));
        update.shipping = o.customer_update_shipping.map(|c| choice(c.as_str()));
        request = request.customer_update(update);
    }
    if o.consent_reuse_agreement_position.is_some()
        || o.consent_promotions.is_some()
        || o.consent_terms_of_service.is_some()
    {
        let mut consent = CreateCheckoutSessionConsentCollection::new();
        consent.payment_method_reuse_agreement = o.consent_reuse_agreement_position.map(|p| {
            CreateCheckoutSessionConsentCollectionPaymentMethodReuseAgreement::new(choice::<
                stripe_checkout::checkout_session::CreateCheckoutSessionConsentCollectionPaymentMethodReuseAgreementPosition,
            >(p.as_str()))
        });
        consent.promotions = o.consent_promotions.map(|c| choice(c.as_str()));
        consent.terms_of_service = o.consent_terms_of_service.map(|c| choice(c.as_str()));
        request = request.consent_collection(consent);
    }
    let t = &o.custom_text;
    if t.after_submit.is_some()
        || t.shipping_address.is_some()
        || t.submit.is_some()
        || t.terms_of_service_acceptance.is_some()
    {
        let mut text = CreateCheckoutSessionCustomText::new();
        let param =
            |m: &Option<String>| m.as_ref().map(|m| CustomTextPositionParam::new(m.as_str()));
        text.after_submit = param(&t.after_submit);
        text.shipping_address = param(&t.shipping_address);
        text.submit = param(&t.submit);
        text.terms_of_service_acceptance = param(&t.terms_of_service_acceptance);
        request = request.custom_text(text);
    }
    if let Some(c) = o.redirect_on_completion {
        request = request.redirect_on_completion(choice::<
            stripe_shared::CheckoutSessionRedirectOnCompletion,
        >(c.as_str()));
    }
    request
}

#[async_trait::async_trait]
impl Payments for StripeGateway {
    async fn retrieve_account(
        &self,
        key: &StripeApiKey,
        deadline: Instant,
    ) -> Result<String, PaymentsError> {
        let client = self.client(key)?;
        let account = with_retries(&self.metrics, "GET /v1/account", deadline, |budget| {
            RetrieveForMyAccountAccount::new()
                .customize()
                .request_strategy(RequestStrategy::Once)
                .timeout(budget)
                .send(&client)
        })
        .await?;
        Ok(account.id.as_str().to_owned())
    }

    async fn create_webhook_endpoint(
        &self,
        key: &StripeApiKey,
        url: &str,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<WebhookEndpoint, PaymentsError> {
        let client = self.client(key)?;
        let strategy = idempotent(idempotency_key)?;
        let events: Vec<_> = WEBHOOK_EVENTS.iter().map(|e| choice(e)).collect();
        let endpoint = with_retries(
            &self.metrics,
            "POST /v1/webhook_endpoints",
            deadline,
            |budget| {
                CreateWebhookEndpoint::new(events.clone(), url)
                    .description("patron")
                    .customize()
                    .request_strategy(strategy.clone())
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        let secret = endpoint.secret.ok_or_else(|| {
            PaymentsError::Other("Stripe returned no webhook signing secret".into())
        })?;
        Ok(WebhookEndpoint {
            id: endpoint.id.as_str().to_owned(),
            secret: WebhookSecret::new(secret),
        })
    }

    async fn update_webhook_endpoint_events(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<(), PaymentsError> {
        let client = self.client(key)?;
        let events: Vec<_> = WEBHOOK_EVENTS.iter().map(|e| choice(e)).collect();
        with_retries(
            &self.metrics,
            "POST /v1/webhook_endpoints/{id}",
            deadline,
            |budget| {
                UpdateWebhookEndpoint::new(id)
                    .enabled_events(events.clone())
                    .customize()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        Ok(())
    }

    async fn delete_webhook_endpoint(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<(), PaymentsError> {
        let client = self.client(key)?;
        with_retries(
            &self.metrics,
            "DELETE /v1/webhook_endpoints",
            deadline,
            |budget| {
                DeleteWebhookEndpoint::new(id)
                    .customize()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        Ok(())
    }

    async fn retrieve_customer(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError> {
        let client = self.client(key)?;
        let customer = with_retries(&self.metrics, "GET /v1/customers", deadline, |budget| {
            RetrieveCustomer::new(id)
                .customize()
                .request_strategy(RequestStrategy::Once)
                .timeout(budget)
                .send(&client)
        })
        .await?;
        Ok(match customer {
            RetrieveCustomerReturned::Customer(c) => StripeCustomer {
                id: c.id.as_str().to_owned(),
                deleted: false,
                default_payment_method: c
                    .invoice_settings
                    .and_then(|s| s.default_payment_method)
                    .map(|pm| pm.id().as_str().to_owned()),
            },
            RetrieveCustomerReturned::DeletedCustomer(c) => StripeCustomer {
                id: c.id.as_str().to_owned(),
                deleted: true,
                default_payment_method: None,
            },
        })
    }

    async fn create_customer(
        &self,
        key: &StripeApiKey,
        customer: &NewStripeCustomer,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError> {
        let client = self.client(key)?;
        let strategy = idempotent(idempotency_key)?;
        let request = CreateCustomer::new().metadata(hash_map(&customer.metadata));
        let created = with_retries(&self.metrics, "POST /v1/customers", deadline, |budget| {
            request
                .clone()
                .customize()
                .request_strategy(strategy.clone())
                .timeout(budget)
                .send(&client)
        })
        .await?;
        Ok(StripeCustomer {
            id: created.id.as_str().to_owned(),
            deleted: false,
            default_payment_method: None,
        })
    }

    async fn update_customer(
        &self,
        key: &StripeApiKey,
        id: &str,
        details: &StripeCustomerDetails,
        deadline: Instant,
    ) -> Result<StripeCustomer, PaymentsError> {
        let client = self.client(key)?;
        let mut request = UpdateCustomer::new(id);
        if let Some(name) = &details.name {
            request = request.name(name.as_str());
        }
        if let Some(email) = &details.email {
            request = request.email(email.as_str());
        }
        if let Some(phone) = &details.phone {
            request = request.phone(phone.as_str());
        }
        if let Some([country, postal_code, state, city, line1, line2]) = details.address.clone() {
            request = request.address(OptionalFieldsCustomerAddress {
                city,
                country,
                line1,
                line2,
                postal_code,
                state,
            });
        }
        // Setting the same values again changes nothing: every attempt may simply repeat.
        let updated = with_retries(
            &self.metrics,
            "POST /v1/customers/{id}",
            deadline,
            |budget| {
                request
                    .clone()
                    .customize()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        Ok(StripeCustomer {
            id: updated.id.as_str().to_owned(),
            deleted: false,
            default_payment_method: updated
                .invoice_settings
                .and_then(|s| s.default_payment_method)
                .map(|pm| pm.id().as_str().to_owned()),
        })
    }

    async fn retrieve_payment_method(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<PaymentMethod, PaymentsError> {
        let client = self.client(key)?;
        let method = with_retries(
            &self.metrics,
            "GET /v1/payment_methods",
            deadline,
            |budget| {
                RetrievePaymentMethod::new(id)
                    .customize()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        let details = method.billing_details;
        Ok(PaymentMethod {
            id: method.id.as_str().to_owned(),
            customer: method.customer.map(|c| c.id().as_str().to_owned()),
            billing_name: details.name,
            billing_address: details
                .address
                .map(|a| [a.country, a.postal_code, a.state, a.city, a.line1, a.line2]),
        })
    }

    async fn create_checkout_session(
        &self,
        key: &StripeApiKey,
        session: &NewCheckoutSession,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<CheckoutSessionInfo, PaymentsError> {
        let client = self.client(key)?;
        let strategy = idempotent(idempotency_key)?;
        let request = build_checkout(session);
        let created = with_retries(
            &self.metrics,
            "POST /v1/checkout/sessions",
            deadline,
            |budget| {
                request
                    .clone()
                    .customize()
                    .request_strategy(strategy.clone())
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        Ok(session_info(created))
    }

    async fn expire_checkout_session(
        &self,
        key: &StripeApiKey,
        id: &str,
        deadline: Instant,
    ) -> Result<CheckoutSessionInfo, PaymentsError> {
        let client = self.client(key)?;
        let expired = with_retries(
            &self.metrics,
            "POST /v1/checkout/sessions/expire",
            deadline,
            |budget| {
                ExpireCheckoutSession::new(id)
                    .customize()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await?;
        Ok(session_info(expired))
    }

    async fn create_portal_session(
        &self,
        key: &StripeApiKey,
        session: &NewPortalSession,
        deadline: Instant,
    ) -> Result<PortalSessionInfo, PaymentsError> {
        let client = self.client(key)?;
        let form = PortalSessionForm {
            customer: &session.customer,
            configuration: session.configuration.as_deref(),
            locale: session.locale.as_deref(),
            return_url: session.return_url.as_deref(),
        };
        // No Idempotency-Key: a portal session has no side effect, a retry that creates a
        // second one is harmless (the first one's URL is simply never used).
        let created = with_retries(
            &self.metrics,
            "POST /v1/billing_portal/sessions",
            deadline,
            |budget| {
                RequestBuilder::new(StripeMethod::Post, "/billing_portal/sessions")
                    .form(&form)
                    .customize::<miniserde::json::Value>()
                    .request_strategy(RequestStrategy::Once)
                    .timeout(budget)
                    .send(&client)
            },
        )
        .await;
        match created {
            Ok(value) => portal_session_info(&value),
            Err(PaymentsError::InvalidRequest { message, .. })
                if message.contains(NO_PORTAL_CONFIGURATION) =>
            {
                Err(PaymentsError::PortalNotConfigured { message })
            }
            Err(e) => Err(e),
        }
    }
}
