//! A strict fake of the Stripe HTTP API, for patron's tests.
//!
//! [`FakeStripe::start`] serves, on `127.0.0.1` and a free port, the endpoints patron uses
//! (account, customers, payment methods, Checkout Sessions, SetupIntents, events, webhook
//! endpoints) in Stripe's wire format:
//!
//! - `Authorization: Bearer sk_test_...` with keys registered by [`FakeStripe::add_account`]
//!   (several keys may share an account: rotation); unknown and revoked keys get Stripe's 401.
//!   Test and live keys see separate data, as at Stripe.
//! - Form bodies in bracket notation (`metadata[k]=v`, `payment_method_types[0]=card`),
//!   checked against allow-lists transcribed from Stripe's API definition for
//!   `2026-06-24.dahlia` (used for `2026-09-30.endive` too): an unknown parameter, an enum
//!   value outside the set, a missing required parameter, or a broken Checkout rule gets
//!   Stripe's 400 with `code` and `param`.
//! - `Idempotency-Key`: the first response is stored per account and key; the same request
//!   again is replayed (`Idempotent-Replayed: true`) without doing anything, different
//!   parameters get an `idempotency_error`.
//! - Every request is recorded ([`FakeStripe::requests`]), faults can be injected
//!   ([`FakeStripe::fail_next`]), and events are signed and delivered like Stripe's webhooks
//!   ([`FakeStripe::deliver`]).
//!
//! ```no_run
//! # async fn demo() {
//! let stripe = fake_stripe::FakeStripe::start().await;
//! stripe.add_account("sk_test_123", "acct_123");
//! // point the client at stripe.base_url() ...
//! # }
//! ```

// The Checkout Session object is one large `json!` literal.
#![recursion_limit = "256"]

mod allow_list;
mod api;
mod error;
pub mod form;
pub mod http;
mod objects;
mod params;
mod search;
mod server;
mod state;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::api::EnteredDetails;
pub use crate::http::HttpResponse;
pub use crate::state::{Fault, RecordedRequest, mask_key};
pub use crate::webhook::{Delivery, EVENT_API_VERSION, Event, WEBHOOK_USER_AGENT, sign};

use crate::server::Shared;
use crate::state::{KeyInfo, QueuedFault, find, find_mut};

/// A webhook endpoint registered at the fake (through `POST /v1/webhook_endpoints`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    /// `we_...`.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Whether it was created with a live key.
    pub livemode: bool,
    /// Where events go.
    pub url: String,
    /// The signing secret (`whsec_...`).
    pub secret: String,
    /// The event types it receives (`*` for all).
    pub enabled_events: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// The `api_version` it was created with, if any.
    pub api_version: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its metadata.
    pub metadata: Value,
}

impl WebhookEndpoint {
    fn from_json(account_id: &str, livemode: bool, v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            id: s("id").unwrap_or_default(),
            account_id: account_id.to_string(),
            livemode,
            url: s("url").unwrap_or_default(),
            secret: s("secret").unwrap_or_default(),
            enabled_events: v
                .get("enabled_events")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            api_version: s("api_version"),
            description: s("description"),
            metadata: v.get("metadata").cloned().unwrap_or(Value::Null),
        }
    }

    /// Whether the endpoint receives events of this type.
    pub fn receives(&self, event_type: &str) -> bool {
        self.status == "enabled"
            && self
                .enabled_events
                .iter()
                .any(|e| e == "*" || e == event_type)
    }
}

/// A running fake Stripe. The server stops when this is dropped.
#[derive(Debug)]
pub struct FakeStripe {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeStripe {
    /// Starts the fake on `127.0.0.1` and a free port, in a task of the current tokio runtime.
    ///
    /// # Panics
    /// If no port can be bound on 127.0.0.1.
    pub async fn start() -> Self {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Ok(fake) => fake,
            Err(e) => panic!("fake-stripe: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts the fake on the given address.
    ///
    /// # Errors
    /// If the address cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:PORT/` (with the trailing slash; clients append `v1/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers an API key for an account (`acct_...`). Several keys may map to one account
    /// (key rotation); the key's prefix decides test or live mode. Registering a revoked key
    /// again makes it valid again.
    ///
    /// # Panics
    /// If the key does not look like `sk_test_...`, `sk_live_...`, `rk_test_...` or
    /// `rk_live_...`, or the account id does not start with `acct_`.
    pub fn add_account(&self, key: &str, account_id: &str) {
        assert!(
            state::key_well_formed(key),
            "fake-stripe: {key:?} is not a Stripe secret or restricted key"
        );
        assert!(
            account_id.starts_with("acct_") && account_id.len() > 5,
            "fake-stripe: {account_id:?} is not an account id"
        );
        let mut state = self.shared.lock();
        state
            .accounts
            .entry(account_id.to_string())
            .or_insert_with(objects::now);
        state.keys.insert(
            key.to_string(),
            KeyInfo {
                account: account_id.to_string(),
                revoked: false,
            },
        );
    }

    /// Revokes (rolls) a key: requests with it get 401 from now on.
    pub fn revoke_key(&self, key: &str) {
        if let Some(info) = self.shared.lock().keys.get_mut(key) {
            info.revoked = true;
        }
    }

    /// When set, a request whose `Stripe-Version` header differs (or is missing) gets 400.
    pub fn set_required_version(&self, version: Option<String>) {
        self.shared.lock().required_version = version;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests with this method (any case, `*` for all) whose path starts with
    /// `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| {
                (method == "*" || r.method.eq_ignore_ascii_case(method))
                    && r.path.starts_with(path_prefix)
            })
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Injects a fault into the next request with this method (any case, `*` for all) whose
    /// path starts with `path_prefix`. Faults queue up: each applies to one request, first in
    /// first out. They apply before authentication.
    pub fn fail_next(&self, method: &str, path_prefix: &str, fault: Fault) {
        self.shared.lock().faults.push(QueuedFault {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            fault,
        });
    }

    /// How many injected faults have not been used yet.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Forgets every injected fault that has not been used yet (Stripe recovers).
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    fn resolve(&self, key_or_account: &str) -> (String, bool) {
        match self.shared.lock().resolve_account(key_or_account) {
            Some(found) => found,
            None => panic!(
                "fake-stripe: {key_or_account:?} is neither a registered key nor a known account"
            ),
        }
    }

    /// Creates a customer directly (not through the API) and returns its id. `account` is a
    /// registered key (its account and mode) or an account id (test mode).
    ///
    /// # Panics
    /// If the account is unknown.
    pub fn create_customer(
        &self,
        account: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> String {
        let (account, livemode) = self.resolve(account);
        let id = objects::new_id("cus_", 14);
        let mut params = serde_json::Map::new();
        if let Some(name) = name {
            params.insert("name".into(), Value::from(name));
        }
        if let Some(email) = email {
            params.insert("email".into(), Value::from(email));
        }
        let customer = objects::customer(&id, livemode, objects::now(), &Value::Object(params));
        self.shared
            .lock()
            .scope_mut(&account, livemode)
            .customers
            .push(customer);
        id
    }

    /// Creates a card payment method (`visa`, `4242`) directly and returns its id, attached to
    /// `customer` if given. `account` is a registered key or an account id (test mode).
    ///
    /// # Panics
    /// If the account is unknown, or the customer does not exist in that account and mode.
    pub fn create_payment_method(&self, account: &str, customer: Option<&str>) -> String {
        let (account, livemode) = self.resolve(account);
        let id = objects::new_id("pm_", 24);
        let mut state = self.shared.lock();
        let scope = state.scope_mut(&account, livemode);
        if let Some(c) = customer {
            assert!(
                scope.customer(c).is_some(),
                "fake-stripe: no customer {c} in {account} (livemode {livemode})"
            );
        }
        let pm = objects::payment_method(&id, livemode, objects::now(), customer);
        scope.payment_methods.push(pm);
        id
    }

    /// Deletes a customer directly, as if done in the Dashboard: `GET` then answers
    /// `{"deleted": true}` and new Checkout Sessions cannot use it.
    ///
    /// # Panics
    /// If there is no such customer.
    pub fn delete_customer(&self, customer_id: &str) {
        let mut state = self.shared.lock();
        let Some((account, livemode)) = state.locate(customer_id) else {
            panic!("fake-stripe: no customer {customer_id}");
        };
        state
            .scope_mut(&account, livemode)
            .deleted_customers
            .push(customer_id.to_string());
    }

    /// Creates a Billing customer portal configuration directly (as saved in the Dashboard) and
    /// returns its id (`bpc_...`); `is_default` makes it the account's default (the one a
    /// session without `configuration` uses), replacing any previous default. An account has
    /// none until one is created. `account` is a registered key or an account id (test mode).
    ///
    /// # Panics
    /// If the account is unknown.
    pub fn create_portal_configuration(
        &self,
        account: &str,
        is_default: bool,
        default_return_url: Option<&str>,
    ) -> String {
        let (account, livemode) = self.resolve(account);
        let id = objects::new_id("bpc_", 24);
        let mut state = self.shared.lock();
        let scope = state.scope_mut(&account, livemode);
        if is_default {
            for c in &mut scope.portal_configurations {
                c["is_default"] = Value::Bool(false);
            }
        }
        let mut configuration =
            objects::portal_configuration(&id, livemode, objects::now(), is_default, &Value::Null);
        configuration["default_return_url"] = default_return_url.map_or(Value::Null, Value::from);
        scope.portal_configurations.push(configuration);
        id
    }

    /// Sets (or with `None` clears) a customer's `invoice_settings.default_payment_method`
    /// directly, as if done in the Dashboard, without an event.
    ///
    /// # Panics
    /// If there is no such customer.
    pub fn set_customer_default_payment_method(&self, customer_id: &str, pm: Option<&str>) {
        let mut state = self.shared.lock();
        let Some((account, livemode)) = state.locate(customer_id) else {
            panic!("fake-stripe: no customer {customer_id}");
        };
        let scope = state.scope_mut(&account, livemode);
        let Some(customer) = find_mut(&mut scope.customers, customer_id) else {
            panic!("fake-stripe: no customer {customer_id}");
        };
        customer["invoice_settings"]["default_payment_method"] =
            pm.map_or(Value::Null, Value::from);
    }

    /// Detaches a payment method from its customer directly.
    ///
    /// # Panics
    /// If there is no such payment method.
    pub fn detach_payment_method(&self, payment_method_id: &str) {
        let mut state = self.shared.lock();
        let Some((account, livemode)) = state.locate(payment_method_id) else {
            panic!("fake-stripe: no payment method {payment_method_id}");
        };
        let scope = state.scope_mut(&account, livemode);
        if let Some(pm) = find_mut(&mut scope.payment_methods, payment_method_id) {
            pm["customer"] = Value::Null;
        }
    }

    fn object(&self, id: &str) -> Option<Value> {
        let state = self.shared.lock();
        let (account, livemode) = state.locate(id)?;
        state.scope(&account, livemode)?.object(id)
    }

    /// A customer by id (any account), as the API would return it.
    pub fn customer(&self, id: &str) -> Option<Value> {
        self.object(id)
    }

    /// A payment method by id (any account).
    pub fn payment_method(&self, id: &str) -> Option<Value> {
        self.object(id)
    }

    /// A Checkout Session by id (any account).
    pub fn checkout_session(&self, id: &str) -> Option<Value> {
        self.object(id)
    }

    /// A SetupIntent by id (any account).
    pub fn setup_intent(&self, id: &str) -> Option<Value> {
        self.object(id)
    }

    fn all(&self, account: &str, pick: impl Fn(&state::Scope) -> &Vec<Value>) -> Vec<Value> {
        let (account, livemode) = self.resolve(account);
        let state = self.shared.lock();
        state
            .scope(&account, livemode)
            .map(|scope| pick(scope).clone())
            .unwrap_or_default()
    }

    /// The customers of an account (key or account id), oldest first, deleted ones included.
    ///
    /// # Panics
    /// If the account is unknown.
    pub fn customers(&self, account: &str) -> Vec<Value> {
        self.all(account, |s| &s.customers)
    }

    /// The Checkout Sessions of an account (key or account id), oldest first.
    ///
    /// # Panics
    /// If the account is unknown.
    pub fn checkout_sessions(&self, account: &str) -> Vec<Value> {
        self.all(account, |s| &s.checkout_sessions)
    }

    /// Completes an open Checkout Session as the customer would, with an existing payment
    /// method (see [`FakeStripe::create_payment_method`]): the session becomes `complete`, its
    /// SetupIntent `succeeded` with `payment_method` set, and the payment method is attached to
    /// the session's customer. Returns the events Stripe emits: `setup_intent.succeeded` then
    /// `checkout.session.completed`.
    ///
    /// # Panics
    /// If the session does not exist or is not open, or the payment method is not in the
    /// session's account and mode or belongs to another customer.
    pub fn complete_checkout_session(
        &self,
        session_id: &str,
        payment_method_id: &str,
    ) -> Vec<Event> {
        match api::complete_session(&mut self.shared.lock(), session_id, payment_method_id, None) {
            Ok(events) => events,
            Err(e) => panic!("fake-stripe: {e}"),
        }
    }

    /// Completes an open Checkout Session as [`FakeStripe::complete_checkout_session`] does,
    /// with what the customer entered besides the card: the payment method gets
    /// `billing_details` (the name, and the full address with
    /// `billing_address_collection=required`, else only country and postal code), and with
    /// `customer_update[address]=auto` (`[name]=auto`) the Stripe customer gets the same. Returns
    /// the events Stripe emits: `customer.updated` (with `previous_attributes`, when the Stripe
    /// customer changed), `setup_intent.succeeded`, then `checkout.session.completed`.
    ///
    /// # Panics
    /// As [`FakeStripe::complete_checkout_session`].
    pub fn complete_checkout_session_with(
        &self,
        session_id: &str,
        payment_method_id: &str,
        entered: &EnteredDetails,
    ) -> Vec<Event> {
        let mut state = self.shared.lock();
        match api::complete_session(&mut state, session_id, payment_method_id, Some(entered)) {
            Ok(events) => events,
            Err(e) => panic!("fake-stripe: {e}"),
        }
    }

    /// Expires an open Checkout Session (as when `expires_at` passes) and returns the
    /// `checkout.session.expired` event.
    ///
    /// # Panics
    /// If the session does not exist or is not open.
    pub fn expire_checkout_session_event(&self, session_id: &str) -> Event {
        match api::expire_session(&mut self.shared.lock(), session_id) {
            Ok(event) => event,
            Err(e) => panic!("fake-stripe: {e}"),
        }
    }

    /// Fails the setup of a Checkout Session's SetupIntent (card declined) and returns the
    /// `setup_intent.setup_failed` event.
    ///
    /// # Panics
    /// If the session does not exist or has no SetupIntent.
    pub fn setup_intent_failed_event(&self, session_id: &str) -> Event {
        match api::fail_setup(&mut self.shared.lock(), session_id) {
            Ok(event) => event,
            Err(e) => panic!("fake-stripe: {e}"),
        }
    }

    /// Every event emitted so far (by the helpers above and by `POST .../expire`), in order.
    pub fn events(&self) -> Vec<Event> {
        self.shared.lock().events.clone()
    }

    /// The webhook endpoints registered through the API (all accounts), oldest first,
    /// with their secrets.
    pub fn webhook_endpoints(&self) -> Vec<WebhookEndpoint> {
        let state = self.shared.lock();
        let mut out: Vec<(i64, WebhookEndpoint)> = state
            .scopes
            .iter()
            .flat_map(|((account, livemode), scope)| {
                scope.webhook_endpoints.iter().map(move |w| {
                    (
                        w.get("created").and_then(Value::as_i64).unwrap_or(0),
                        WebhookEndpoint::from_json(account, *livemode, w),
                    )
                })
            })
            .collect();
        out.sort_by_key(|(created, _)| *created);
        out.into_iter().map(|(_, w)| w).collect()
    }

    /// Sets the event types a webhook endpoint receives directly (as an endpoint registered by
    /// an older version of the client would have them).
    ///
    /// # Panics
    /// If there is no such endpoint.
    pub fn set_webhook_endpoint_events(&self, id: &str, events: &[&str]) {
        let mut state = self.shared.lock();
        let endpoint = state
            .scopes
            .values_mut()
            .find_map(|scope| find_mut(&mut scope.webhook_endpoints, id))
            .unwrap_or_else(|| panic!("fake-stripe: no webhook endpoint {id}"));
        endpoint["enabled_events"] = serde_json::json!(events);
    }

    /// A webhook endpoint by id (deleted ones are gone).
    pub fn webhook_endpoint(&self, id: &str) -> Option<WebhookEndpoint> {
        let state = self.shared.lock();
        state
            .scopes
            .iter()
            .find_map(|((account, livemode), scope)| {
                find(&scope.webhook_endpoints, id)
                    .map(|w| WebhookEndpoint::from_json(account, *livemode, w))
            })
    }

    /// The `Stripe-Signature` header value for a payload: `t=<timestamp>,v1=<hex
    /// HMAC-SHA256(secret, "<timestamp>.<payload>")>`.
    pub fn sign(&self, payload: &str, secret: &str, timestamp: i64) -> String {
        webhook::sign(payload, secret, timestamp)
    }

    /// POSTs an event to a webhook URL (`http://` only) like Stripe: JSON body,
    /// `Stripe-Signature` signed now with `secret`, Stripe's `User-Agent`. Returns the status
    /// and body of the answer.
    ///
    /// # Panics
    /// If the request cannot be delivered (connection refused, no answer within 30 s).
    pub async fn deliver(&self, url: &str, secret: &str, event: &Event) -> (u16, String) {
        let payload = event.payload();
        let signature = webhook::sign(&payload, secret, objects::now());
        self.deliver_raw(url, &[("Stripe-Signature", signature.as_str())], &payload)
            .await
    }

    /// POSTs a raw body to a webhook URL with `Content-Type: application/json`, Stripe's
    /// `User-Agent` and the given headers (to tamper with signatures and timestamps).
    ///
    /// # Panics
    /// If the request cannot be delivered.
    pub async fn deliver_raw(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut all = vec![
            ("Content-Type", "application/json; charset=utf-8"),
            ("User-Agent", WEBHOOK_USER_AGENT),
            ("Accept", "*/*; q=0.5, application/xml"),
            ("Cache-Control", "no-cache"),
        ];
        all.extend_from_slice(headers);
        match http::send("POST", url, &all, body).await {
            Ok(response) => (response.status, response.body),
            Err(e) => panic!("fake-stripe: cannot deliver to {url}: {e}"),
        }
    }

    /// Delivers an event to every enabled webhook endpoint of its account and mode that
    /// receives its type, each signed with that endpoint's secret. Transport failures are
    /// reported with status 0.
    pub async fn deliver_to_endpoints(&self, event: &Event) -> Vec<Delivery> {
        let endpoints: Vec<WebhookEndpoint> = self
            .webhook_endpoints()
            .into_iter()
            .filter(|w| w.account_id == event.account_id() && w.livemode == event.livemode())
            .filter(|w| w.receives(event.event_type()))
            .collect();
        let payload = event.payload();
        let mut out = Vec::new();
        for endpoint in endpoints {
            let signature = webhook::sign(&payload, &endpoint.secret, objects::now());
            let headers = [
                ("Content-Type", "application/json; charset=utf-8"),
                ("User-Agent", WEBHOOK_USER_AGENT),
                ("Stripe-Signature", signature.as_str()),
            ];
            let (status, body) = match http::send("POST", &endpoint.url, &headers, &payload).await {
                Ok(r) => (r.status, r.body),
                Err(e) => (0, e.to_string()),
            };
            out.push(Delivery {
                endpoint_id: endpoint.id,
                url: endpoint.url,
                status,
                body,
            });
        }
        out
    }
}
