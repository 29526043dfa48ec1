//! StripeCheckoutService use cases: the checkout saga with no orphans and no duplicates.
//!
//! 1. request_id seen before with the same request: the stored session.
//! 2. Resolve or create the patron customer (its own transaction).
//! 3. The Stripe customer: the stored mapping; else the given one, verified and stored; else
//!    POST /v1/customers with an Idempotency-Key derived from (namespace, app, customer), so no
//!    retry, repeat or crash between the call and the commit can create a second one.
//! 4. POST /v1/checkout/sessions (mode setup) with an Idempotency-Key derived from the
//!    request_id (or random).
//! 5. Store the session (and the request_id record) and return it.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::time::Instant;

use super::customer_apps::stripe_customer_taken;
use super::idempotency::Idempotent;
use super::steps::{self, derived_key, failure};
use super::{Customers, Deps};
use crate::domain::app::{App, CustomerApp, StripeApiKey};
use crate::domain::checkout::{CheckoutOptions, CheckoutSession, SessionStatus};
use crate::domain::collected::DetailsRule;
use crate::domain::customer::{Customer, CustomerFields, CustomerLookup};
use crate::domain::page::{self, Cursor, Page, SortValue};
use crate::domain::values::{Identifier, RequestId, ResourceId};
use crate::domain::{Error, Namespace, Result, Timestamp, new_id};
use crate::payments::NewCheckoutSession;
use crate::storage::StoreError;

/// Which customer the session is for.
#[derive(Debug, Clone, Serialize)]
pub enum CheckoutCustomer {
    /// An existing customer.
    Id(ResourceId),
    /// A live customer's key.
    Key(Identifier),
    /// Create one (or use the live holder of its key).
    Create(Box<CustomerFields>),
}

/// A CreateStripeCheckoutSession call, parsed.
#[derive(Debug, Clone, Serialize)]
pub struct CreateCheckout {
    /// The app (default when `None`).
    pub app_id: Option<String>,
    /// The customer.
    pub customer: CheckoutCustomer,
    /// A Stripe customer to use when none is stored yet.
    pub stripe_customer_id: Option<String>,
    /// Options.
    pub options: CheckoutOptions,
}

/// StripeCheckoutService use cases.
#[derive(Clone, Debug)]
pub struct Checkout {
    deps: Deps,
    /// Step 2 creates the patron customer exactly as CreateCustomer does (same rules, same
    /// idempotency), over the same dependencies.
    customers: Customers,
}

/// The request_id of the customer-create step of the checkout with `request_id` (the step's
/// record lives beside CreateCustomer's, under a name no caller's request_id collides with in
/// practice).
fn customer_step_id(request_id: &RequestId) -> Result<RequestId> {
    let derived = derived_key("patron-checkout-customer", &[request_id.as_str()]);
    RequestId::parse("request_id", &derived)
        .map_err(|v| Error::Internal(format!("derived request id: {v:?}")))?
        .ok_or_else(|| Error::Internal("derived request id is empty".into()))
}

fn session_purpose(session_id: &str) -> String {
    format!("checkout/{session_id}/client_secret")
}

fn session_not_found(id: &str) -> Error {
    Error::NotFound {
        reason: "CHECKOUT_SESSION_NOT_FOUND",
        message: format!("no checkout session {id:?}"),
        metadata: vec![("session_id", id.to_owned())],
    }
}

fn list_fingerprint(customer_id: Option<&str>, status: Option<SessionStatus>) -> String {
    page::fingerprint(&[
        "checkout_sessions",
        customer_id.unwrap_or_default(),
        status.map(SessionStatus::as_str).unwrap_or_default(),
    ])
}

impl Checkout {
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self {
            customers: Customers::new(deps.clone()),
            deps,
        }
    }

    /// The current time of this service's clock (option rules speak of "from now").
    pub fn now(&self) -> Timestamp {
        self.deps.now()
    }

    /// Creates a Checkout Session in setup mode (the saga above).
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn create(
        &self,
        ns: &Namespace,
        input: CreateCheckout,
        request_id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<CheckoutSession> {
        let idempotent = request_id
            .as_ref()
            .map(|rid| Idempotent::new("CreateStripeCheckoutSession", rid, &input))
            .transpose()?;
        if let Some(idem) = &idempotent
            && let Some(original) = idem.replay::<CheckoutSession>(&self.deps.store, ns).await?
        {
            return self.with_client_secret(ns, original).await;
        }
        let (app, key) = steps::usable_app(&self.deps, ns, input.app_id.as_deref()).await?;

        // 2. The patron customer.
        let customer = self
            .resolve_customer(ns, &input.customer, request_id.as_ref())
            .await?;
        let currency = input
            .options
            .currency
            .clone()
            .or_else(|| customer.fields.currency.clone());
        // Stripe (2026-09-30.endive) requires a currency for every setup-mode session.
        if currency.is_none() {
            return Err(Error::invalid(
                "options.currency",
                "is required: the customer has no currency; give options.currency or set the customer's currency",
            ));
        }

        // 3. The Stripe customer.
        let mapping = self
            .stripe_customer(
                ns,
                &app,
                &key,
                &customer,
                input.stripe_customer_id.as_deref(),
                deadline,
            )
            .await?;

        // 4. The session at Stripe.
        let mut metadata: BTreeMap<String, String> = input.options.metadata.clone();
        metadata.insert("patron_namespace".into(), ns.as_str().to_owned());
        metadata.insert("patron_app_id".into(), app.id.clone());
        metadata.insert("patron_customer_id".into(), customer.id.clone());
        if let Some(rid) = &request_id {
            metadata.insert("patron_request_id".into(), rid.as_str().to_owned());
        }
        let idempotency_key = match &request_id {
            Some(rid) => derived_key("patron-checkout", &[ns.as_str(), rid.as_str()]),
            None => format!("patron-checkout-{}", new_id()),
        };
        let request = NewCheckoutSession {
            customer: mapping.stripe_customer_id.clone(),
            currency: currency.as_ref().map(|c| c.as_str().to_lowercase()),
            options: input.options.clone(),
            metadata: metadata.clone(),
        };
        let created = match self
            .deps
            .payments
            .create_checkout_session(&key, &request, &idempotency_key, deadline)
            .await
        {
            Ok(created) => created,
            Err(e) => {
                let stripe_customer = mapping.stripe_customer_id.clone();
                return Err(failure(&self.deps, ns, &app, &key, e, |message| {
                    Error::FailedPrecondition {
                        reason: "STRIPE_OBJECT_NOT_FOUND",
                        message: format!("Stripe: {message}"),
                        metadata: vec![("stripe_customer_id", stripe_customer)],
                    }
                })
                .await);
            }
        };

        // 5. Store it.
        let now = self.deps.now();
        let o = &input.options;
        let session = CheckoutSession {
            session_id: created.id.clone(),
            app_id: app.id.clone(),
            customer_id: customer.id.clone(),
            stripe_customer_id: mapping.stripe_customer_id.clone(),
            setup_intent_id: created.setup_intent_id.clone(),
            status: created.status.unwrap_or(SessionStatus::Open),
            ui_mode: o.ui_mode,
            url: created.url.clone(),
            client_secret: created.client_secret.clone(),
            currency: created
                .currency
                .clone()
                .or_else(|| currency.as_ref().map(|c| c.as_str().to_owned())),
            success_url: o.success_url.clone(),
            cancel_url: o.cancel_url.clone(),
            return_url: o.return_url.clone(),
            client_reference_id: o.client_reference_id.clone(),
            customer_email: created.customer_email.clone().or_else(|| {
                customer
                    .fields
                    .primary_email
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
            }),
            metadata,
            request_id: request_id.as_ref().map(|r| r.as_str().to_owned()),
            expires_at: Some(Timestamp(created.expires_at.saturating_mul(1_000_000))),
            // Our own clock, in microseconds: Stripe's `created` has whole seconds only, which
            // would leave sessions of the same second in no particular order.
            created_at: now,
            updated_at: now,
            collected_details: DetailsRule::for_session(o, &customer.fields),
        };
        let secret = session.client_secret.as_deref().map(|s| {
            self.deps
                .cipher
                .encrypt(&session_purpose(&session.session_id), s)
        });
        // The remembered response holds no client secret; a replay decrypts the stored one.
        let remembered = CheckoutSession {
            client_secret: None,
            ..session.clone()
        };
        let record = idempotent
            .as_ref()
            .map(|idem| idem.record(&remembered).map(|r| (idem, r)))
            .transpose()?;
        let result = async {
            let tx = self.deps.store.begin().await?;
            tx.insert_checkout_session(ns, &session, secret).await?;
            if let Some((idem, record)) = record {
                tx.put_idempotency_record(ns, idem.method, idem.request_id.as_str(), record, now)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(session),
            // The same request_id raced us (Stripe answered both with the same session).
            Err(StoreError::UniqueViolation(_)) => match &idempotent {
                Some(idem) => match idem.replay::<CheckoutSession>(&self.deps.store, ns).await? {
                    Some(original) => self.with_client_secret(ns, original).await,
                    None => Err(Error::Conflict(
                        "a concurrent request stored this session; retry".into(),
                    )),
                },
                None => Err(Error::Conflict(
                    "the session was stored concurrently; retry".into(),
                )),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn with_client_secret(
        &self,
        ns: &Namespace,
        mut session: CheckoutSession,
    ) -> Result<CheckoutSession> {
        if let Some((_, Some(ciphertext))) = self
            .deps
            .store
            .checkout_session(ns, &session.session_id)
            .await?
        {
            session.client_secret = Some(
                self.deps
                    .cipher
                    .decrypt(&session_purpose(&session.session_id), &ciphertext)
                    .map_err(|e| Error::Internal(format!("session {}: {e}", session.session_id)))?,
            );
        }
        Ok(session)
    }

    /// The live customer holding the key of `fields` (none without a key), if the other
    /// identifiers of `fields` are free for it ("create or use existing").
    async fn holder_of_key(
        &self,
        ns: &Namespace,
        fields: &CustomerFields,
    ) -> Result<Option<Customer>> {
        let Some(key) = &fields.key else {
            return Ok(None);
        };
        let Some(existing) = self.customers.find_live_by_key(ns, key).await? else {
            return Ok(None);
        };
        self.customers
            .check_identifiers_free_for(ns, fields, &existing.id)
            .await?;
        Ok(Some(existing))
    }

    async fn resolve_customer(
        &self,
        ns: &Namespace,
        wanted: &CheckoutCustomer,
        request_id: Option<&RequestId>,
    ) -> Result<Customer> {
        let customer = match wanted {
            CheckoutCustomer::Id(id) => {
                return steps::live_customer(&self.deps.store, ns, &CustomerLookup::Id(id.clone()))
                    .await;
            }
            CheckoutCustomer::Key(key) => {
                return steps::live_customer(
                    &self.deps.store,
                    ns,
                    &CustomerLookup::Key(key.clone()),
                )
                .await;
            }
            CheckoutCustomer::Create(fields) => match self.holder_of_key(ns, fields).await? {
                Some(existing) => existing,
                None => {
                    // The create step is idempotent by the checkout's request_id: a retry after a
                    // later step failed finds the customer its first attempt created (a customer
                    // without a key could not be found otherwise, and its subject keys would
                    // now be taken by that customer).
                    let step_id = request_id.map(customer_step_id).transpose()?;
                    let created = self.customers.create(ns, (**fields).clone(), step_id).await;
                    match created {
                        Ok(created) if request_id.is_some() => {
                            // Possibly the first attempt's response: read what it is now.
                            self.deps
                                .store
                                .customer_by_id(ns, &created.id)
                                .await?
                                .unwrap_or(created)
                        }
                        Ok(created) => created,
                        // A concurrent create with the same key won: use that customer, as for
                        // a key that was held from the start.
                        Err(err @ Error::AlreadyExists { .. }) => {
                            match self.holder_of_key(ns, fields).await? {
                                Some(existing) => existing,
                                None => return Err(err),
                            }
                        }
                        Err(Error::RequestIdReused { .. }) => {
                            return Err(Error::RequestIdReused {
                                request_id: request_id
                                    .map(|r| r.as_str().to_owned())
                                    .unwrap_or_default(),
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
            },
        };
        if !customer.is_live() {
            return Err(steps::customer_deleted(&customer));
        }
        Ok(customer)
    }

    async fn stripe_customer(
        &self,
        ns: &Namespace,
        app: &App,
        key: &StripeApiKey,
        customer: &Customer,
        given: Option<&str>,
        deadline: Instant,
    ) -> Result<CustomerApp> {
        let store = &self.deps.store;
        let existing = store.customer_app(ns, &app.id, &customer.id).await?;
        if let Some(gone) = existing
            .as_ref()
            .filter(|e| e.stripe_customer_deleted_at.is_some())
        {
            return self
                .replace_stripe_customer(ns, app, key, customer, gone.clone(), given, deadline)
                .await;
        }
        if let Some(existing) = existing {
            if let Some(given) = given
                && given != existing.stripe_customer_id
            {
                return Err(Error::FailedPrecondition {
                    reason: "STRIPE_CUSTOMER_MISMATCH",
                    message: format!(
                        "customer {} is already connected to Stripe customer {} in app {}, not {given}",
                        customer.id, existing.stripe_customer_id, app.id
                    ),
                    metadata: vec![
                        ("customer_id", customer.id.clone()),
                        ("stripe_customer_id", existing.stripe_customer_id.clone()),
                    ],
                });
            }
            return Ok(existing);
        }
        let stripe_customer_id = steps::ensure_stripe_customer(
            &self.deps,
            ns,
            app,
            key,
            customer,
            given,
            |_| missing_stripe_customer(given.unwrap_or_default()),
            deadline,
        )
        .await?;
        let now = self.deps.now();
        let entry = CustomerApp {
            id: new_id(),
            customer_id: customer.id.clone(),
            app_id: app.id.clone(),
            stripe_customer_id: stripe_customer_id.clone(),
            stripe_default_payment_method_id: None,
            default_payment_method_event_created: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            stripe_customer_deleted_at: None,
        };
        let result = async {
            let tx = store.begin().await?;
            tx.insert_customer_app(ns, &entry).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(entry),
            Err(StoreError::UniqueViolation(_)) => {
                // A concurrent checkout stored the same mapping (same idempotent Stripe customer),
                // or the Stripe customer belongs to another customer.
                if let Some(existing) = store.customer_app(ns, &app.id, &customer.id).await?
                    && existing.stripe_customer_id == stripe_customer_id
                {
                    return Ok(existing);
                }
                match store
                    .customer_app_by_stripe_customer(ns, &app.id, &stripe_customer_id)
                    .await?
                {
                    Some(holder) => Err(stripe_customer_taken(
                        app,
                        &stripe_customer_id,
                        &holder.customer_id,
                    )),
                    None => Err(Error::Conflict(
                        "a concurrent checkout changed this customer's Stripe data; retry".into(),
                    )),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Connects the customer, whose Stripe customer was deleted at Stripe, to a fresh one (or to
    /// `given`, verified at Stripe) in its existing entry, without a default payment method.
    #[allow(clippy::too_many_arguments)]
    async fn replace_stripe_customer(
        &self,
        ns: &Namespace,
        app: &App,
        key: &StripeApiKey,
        customer: &Customer,
        mut entry: CustomerApp,
        given: Option<&str>,
        deadline: Instant,
    ) -> Result<CustomerApp> {
        let stripe_customer_id = steps::ensure_stripe_customer_replacing(
            &self.deps,
            ns,
            app,
            key,
            customer,
            given,
            |_| missing_stripe_customer(given.unwrap_or_default()),
            Some(&entry.stripe_customer_id),
            deadline,
        )
        .await?;
        let now = self.deps.now();
        entry.stripe_customer_id = stripe_customer_id.clone();
        entry.stripe_default_payment_method_id = None;
        entry.default_payment_method_event_created = None;
        entry.stripe_customer_deleted_at = None;
        entry.updated_at = now.max(entry.updated_at);
        let store = &self.deps.store;
        let result = async {
            let tx = store.begin().await?;
            tx.update_customer_app(ns, &entry).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(entry),
            Err(StoreError::UniqueViolation(_)) => {
                match store
                    .customer_app_by_stripe_customer(ns, &app.id, &stripe_customer_id)
                    .await?
                {
                    Some(holder) if holder.customer_id != customer.id => Err(
                        stripe_customer_taken(app, &stripe_customer_id, &holder.customer_id),
                    ),
                    _ => Err(Error::Conflict(
                        "a concurrent checkout changed this customer's Stripe data; retry".into(),
                    )),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A stored session.
    pub async fn get(&self, ns: &Namespace, id: &str) -> Result<CheckoutSession> {
        let (session, _) = self
            .deps
            .store
            .checkout_session(ns, id)
            .await?
            .ok_or_else(|| session_not_found(id))?;
        self.with_client_secret(ns, session).await
    }

    /// Stored sessions, newest first.
    pub async fn list(
        &self,
        ns: &Namespace,
        customer_id: Option<&str>,
        status: Option<SessionStatus>,
        page_size: u64,
        page_token: &str,
    ) -> Result<Page<CheckoutSession>> {
        let fingerprint = list_fingerprint(customer_id, status);
        let after = page::decode_token("page_token", page_token, &fingerprint, page::SortKind::Int)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let rows = self
            .deps
            .store
            .list_checkout_sessions(ns, customer_id, status, after.as_ref(), page_size + 1)
            .await?;
        let sessions: Vec<CheckoutSession> = rows.into_iter().map(|(session, _)| session).collect();
        let mut page = Page::from_rows(sessions, page_size, &fingerprint, |last| Cursor {
            value: SortValue::Int(last.created_at.micros()),
            id: last.session_id.clone(),
        });
        let mut out = Vec::with_capacity(page.items.len());
        for session in std::mem::take(&mut page.items) {
            out.push(self.with_client_secret(ns, session).await?);
        }
        page.items = out;
        Ok(page)
    }

    /// Expires an open session at Stripe and stores its new status.
    #[tracing::instrument(skip_all, fields(namespace = %ns, session_id = %id))]
    pub async fn expire(
        &self,
        ns: &Namespace,
        id: &str,
        deadline: Instant,
    ) -> Result<CheckoutSession> {
        let mut session = self.get(ns, id).await?;
        if session.status != SessionStatus::Open {
            return Err(Error::FailedPrecondition {
                reason: "CHECKOUT_SESSION_NOT_OPEN",
                message: format!("session {id} is {}, not open", session.status.as_str()),
                metadata: vec![
                    ("session_id", id.to_owned()),
                    ("status", session.status.as_str().to_owned()),
                ],
            });
        }
        let (app, key) = steps::usable_app(&self.deps, ns, Some(&session.app_id)).await?;
        let expired = match self
            .deps
            .payments
            .expire_checkout_session(&key, id, deadline)
            .await
        {
            Ok(expired) => expired,
            Err(e) => {
                return Err(
                    failure(&self.deps, ns, &app, &key, e, |_| session_not_found(id)).await,
                );
            }
        };
        let status = expired.status.unwrap_or(SessionStatus::Expired);
        let now = self.deps.now();
        self.deps
            .store
            .set_checkout_session_status_in(ns, id, status, now)
            .await?;
        session.status = status;
        session.updated_at = now;
        Ok(session)
    }
}

fn missing_stripe_customer(id: &str) -> Error {
    Error::FailedPrecondition {
        reason: "STRIPE_CUSTOMER_NOT_FOUND",
        message: format!("Stripe customer {id} does not exist at Stripe"),
        metadata: vec![
            ("field", "stripe_customer_id".to_owned()),
            ("stripe_customer_id", id.to_owned()),
        ],
    }
}
