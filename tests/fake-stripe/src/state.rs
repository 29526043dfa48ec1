//! The fake's memory: API keys and accounts, the objects of each account and mode, stored
//! idempotent responses, queued faults, the request log and emitted events.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::form;
use crate::webhook::Event;

/// A fault injected into the next request that matches a method and path prefix
/// ([`crate::FakeStripe::fail_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a Stripe error body (`api_error` for 5xx), doing
    /// nothing.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>` and a `rate_limit_error`, doing nothing.
    RateLimited {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// Answer 403 as Stripe does for a restricted key without the permission the endpoint
    /// needs (an `invalid_request_error` naming the masked key, the account and the
    /// permission), doing nothing. The permission is e.g. `rak_customer_write`.
    PermissionDenied(String),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without an answer, doing nothing.
    Drop,
    /// Perform the request (objects created, idempotent response stored), then close the
    /// connection without an answer: a response lost on the way back.
    SucceedThenDrop,
    /// Perform the request (objects created, idempotent response stored), then answer with
    /// this status (a 5xx) instead of the real response.
    SucceedThenStatus(u16),
}

/// One request the fake received, with what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The `Request-Id` the fake answered with (`req_...`).
    pub request_id: String,
    /// `GET`, `POST`, `DELETE`, ...
    pub method: String,
    /// The path, without the query string (`/v1/customers`).
    pub path: String,
    /// The raw query string, if the URL had a `?` (async-stripe sends `?` with an empty query).
    pub query: Option<String>,
    /// The parameters of the query string and form body, decoded from bracket notation into
    /// nested objects and arrays (all leaves strings); `{}` when there were none or they could
    /// not be decoded.
    pub params: Value,
    /// The raw request body.
    pub body: String,
    /// All request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The API key from `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// The `Stripe-Version` header.
    pub stripe_version: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The HTTP status answered (the status that would have been sent when the connection was
    /// dropped).
    pub status: u16,
    /// The response body.
    pub response_body: String,
    /// Whether the answer was an idempotent replay of a stored response.
    pub replayed: bool,
    /// The injected fault that applied, if any.
    pub fault: Option<Fault>,
    /// Whether the connection was closed without an answer.
    pub dropped: bool,
}

impl RecordedRequest {
    /// A request parameter by bracketed path (`setup_intent_data[metadata][k]`, `expand[0]`).
    pub fn param(&self, path: &str) -> Option<&str> {
        form::lookup(&self.params, path).and_then(Value::as_str)
    }

    /// A request header by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The response body as JSON (`Null` if it is not JSON).
    pub fn response_json(&self) -> Value {
        serde_json::from_str(&self.response_body).unwrap_or(Value::Null)
    }
}

/// A registered API key.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub account: String,
    pub revoked: bool,
}

/// The objects of one account in one mode (test and live data are apart, as at Stripe).
/// Each list is in creation order.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub customers: Vec<Value>,
    pub deleted_customers: Vec<String>,
    pub payment_methods: Vec<Value>,
    pub checkout_sessions: Vec<Value>,
    pub setup_intents: Vec<Value>,
    pub webhook_endpoints: Vec<Value>,
    pub events: Vec<Value>,
    /// Billing customer portal configurations (`bpc_...`), at most one `is_default`.
    pub portal_configurations: Vec<Value>,
    /// Billing customer portal sessions (`bps_...`).
    pub portal_sessions: Vec<Value>,
    /// The `customer_update` parameter of each Checkout Session that had one, by session id
    /// (Stripe keeps it but does not return it).
    pub session_customer_update: std::collections::HashMap<String, Value>,
}

/// Finds an object by id in a list.
pub(crate) fn find<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
}

/// Finds an object by id in a list, mutably.
pub(crate) fn find_mut<'a>(list: &'a mut [Value], id: &str) -> Option<&'a mut Value> {
    list.iter_mut()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
}

impl Scope {
    /// A live (not deleted) customer.
    pub fn customer(&self, id: &str) -> Option<&Value> {
        if self.deleted_customers.iter().any(|d| d == id) {
            return None;
        }
        find(&self.customers, id)
    }

    /// Any object of this scope by id, chosen by its prefix (for `expand`).
    pub fn object(&self, id: &str) -> Option<Value> {
        let list = if id.starts_with("cus_") {
            if self.deleted_customers.iter().any(|d| d == id) {
                return Some(crate::objects::deleted(id, "customer"));
            }
            &self.customers
        } else if id.starts_with("pm_") {
            &self.payment_methods
        } else if id.starts_with("seti_") {
            &self.setup_intents
        } else if id.starts_with("cs_") {
            &self.checkout_sessions
        } else if id.starts_with("we_") {
            &self.webhook_endpoints
        } else if id.starts_with("evt_") {
            &self.events
        } else if id.starts_with("bpc_") {
            &self.portal_configurations
        } else if id.starts_with("bps_") {
            &self.portal_sessions
        } else {
            return None;
        };
        find(list, id).cloned()
    }

    /// Whether the scope holds an object with this id.
    pub fn holds(&self, id: &str) -> bool {
        self.object(id).is_some()
    }
}

/// A stored response for an idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub method: String,
    pub path: String,
    pub params: Value,
    pub status: u16,
    pub body: String,
    pub request_id: String,
}

/// A queued fault.
#[derive(Debug, Clone)]
pub(crate) struct QueuedFault {
    pub method: String,
    pub path_prefix: String,
    pub fault: Fault,
}

/// Everything the fake holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub keys: HashMap<String, KeyInfo>,
    /// Account id -> creation time.
    pub accounts: HashMap<String, i64>,
    pub scopes: HashMap<(String, bool), Scope>,
    /// (account, livemode, key) -> stored response.
    pub idempotency: HashMap<(String, bool, String), Stored>,
    pub faults: Vec<QueuedFault>,
    pub requests: Vec<RecordedRequest>,
    pub required_version: Option<String>,
    /// Every event emitted, in order.
    pub events: Vec<Event>,
}

impl State {
    /// The objects of an account in a mode.
    pub fn scope_mut(&mut self, account: &str, livemode: bool) -> &mut Scope {
        self.scopes
            .entry((account.to_string(), livemode))
            .or_default()
    }

    /// The objects of an account in a mode, if any.
    pub fn scope(&self, account: &str, livemode: bool) -> Option<&Scope> {
        self.scopes.get(&(account.to_string(), livemode))
    }

    /// Takes the first queued fault matching the request.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let pos = self.faults.iter().position(|q| {
            (q.method == "*" || q.method.eq_ignore_ascii_case(method))
                && path.starts_with(&q.path_prefix)
        })?;
        Some(self.faults.remove(pos).fault)
    }

    /// The (account, livemode) whose scope holds the object with this id.
    pub fn locate(&self, id: &str) -> Option<(String, bool)> {
        self.scopes
            .iter()
            .find(|(_, scope)| scope.holds(id))
            .map(|((account, livemode), _)| (account.clone(), *livemode))
    }

    /// Resolves a test helper's account argument: a registered API key (its account and mode)
    /// or an account id (test mode).
    pub fn resolve_account(&self, key_or_account: &str) -> Option<(String, bool)> {
        if let Some(info) = self.keys.get(key_or_account) {
            return Some((info.account.clone(), key_livemode(key_or_account)));
        }
        if self.accounts.contains_key(key_or_account) {
            return Some((key_or_account.to_string(), false));
        }
        None
    }
}

/// The key prefixes Stripe issues, secret and restricted, test and live.
pub(crate) const KEY_PREFIXES: [&str; 4] = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"];

/// Whether a key is a live-mode key.
pub(crate) fn key_livemode(key: &str) -> bool {
    key.starts_with("sk_live_") || key.starts_with("rk_live_")
}

/// Whether a key has one of Stripe's secret or restricted key prefixes and something after it.
pub(crate) fn key_well_formed(key: &str) -> bool {
    KEY_PREFIXES
        .iter()
        .any(|p| key.len() > p.len() && key.starts_with(p))
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A key as Stripe shows it in errors: `sk_test_****abcd`.
pub fn mask_key(key: &str) -> String {
    let prefix = KEY_PREFIXES
        .iter()
        .find(|p| key.starts_with(*p))
        .copied()
        .unwrap_or("");
    let chars: Vec<char> = key.chars().collect();
    let last4: String = if chars.len() >= prefix.len() + 4 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{prefix}****{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(mask_key("sk_test_51Habcdefabcd"), "sk_test_****abcd");
        assert_eq!(mask_key("rk_live_xyz1234"), "rk_live_****1234");
        assert_eq!(mask_key("garbage-key-9876"), "****9876");
        assert_eq!(mask_key("sk_test_ab"), "sk_test_****");
    }

    #[test]
    fn key_shapes() {
        assert!(key_well_formed("sk_test_abc"));
        assert!(key_well_formed("rk_live_abc"));
        assert!(!key_well_formed("pk_test_abc"));
        assert!(!key_well_formed("sk_test_"));
        assert!(!key_well_formed("sk_test_a b"));
        assert!(key_livemode("sk_live_x"));
        assert!(!key_livemode("rk_test_x"));
    }
}
