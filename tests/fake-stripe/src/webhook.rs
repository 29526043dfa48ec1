//! Stripe events and their signed delivery.
//!
//! An event is the JSON Stripe POSTs to a webhook endpoint. Its `Stripe-Signature` header is
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint's secret>`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::objects::{new_id, now};

/// The `api_version` the fake writes into events: the version async-stripe 1.0.0-rc.10 (and so
/// patron) pins.
pub const EVENT_API_VERSION: &str = "2026-09-30.endive";

/// The `User-Agent` of Stripe's webhook deliveries.
pub const WEBHOOK_USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// A Stripe event, as delivered to webhook endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    json: Value,
    account_id: String,
}

impl Event {
    /// A new event about `object` (`data.object`) of an account.
    ///
    /// `request` is the API request that caused it (id and idempotency key), `None` for
    /// events of the customer's own actions (a completed Checkout).
    pub(crate) fn new(
        account_id: &str,
        livemode: bool,
        event_type: &str,
        object: Value,
        request: Option<(&str, Option<&str>)>,
    ) -> Self {
        let request = match request {
            Some((id, key)) => json!({"id": id, "idempotency_key": key}),
            None => json!({"id": null, "idempotency_key": null}),
        };
        Self {
            json: json!({
                "id": new_id("evt_", 24),
                "object": "event",
                "api_version": EVENT_API_VERSION,
                "created": now(),
                "data": {"object": object},
                "livemode": livemode,
                "pending_webhooks": 1,
                "request": request,
                "type": event_type,
            }),
            account_id: account_id.to_string(),
        }
    }

    /// An event from arbitrary JSON (for tests that craft unusual events), credited to an
    /// account (which decides where [`crate::FakeStripe::deliver_to_endpoints`] sends it).
    pub fn from_json(account_id: &str, json: Value) -> Self {
        Self {
            json,
            account_id: account_id.to_string(),
        }
    }

    /// `evt_...`.
    pub fn id(&self) -> &str {
        self.json.get("id").and_then(Value::as_str).unwrap_or("")
    }

    /// The event type (`setup_intent.succeeded`).
    pub fn event_type(&self) -> &str {
        self.json.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// `created`, unix seconds.
    pub fn created(&self) -> i64 {
        self.json
            .get("created")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// `livemode`.
    pub fn livemode(&self) -> bool {
        self.json
            .get("livemode")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The Stripe account the event belongs to.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// `data.object`.
    pub fn object(&self) -> &Value {
        self.json.pointer("/data/object").unwrap_or(&Value::Null)
    }

    /// The whole event JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The event serialized as Stripe sends it (the body that is signed).
    pub fn payload(&self) -> String {
        self.json.to_string()
    }

    /// The same event with another `created` (for "newer event wins" tests).
    #[must_use]
    pub fn with_created(mut self, created: i64) -> Self {
        self.json["created"] = json!(created);
        self
    }

    /// The same event with another id (a different event with the same content).
    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.json["id"] = json!(id);
        self
    }

    /// The same event changed by `edit` (for crafted events: other metadata, other type).
    #[must_use]
    pub fn map_json(mut self, edit: impl FnOnce(&mut Value)) -> Self {
        edit(&mut self.json);
        self
    }
}

/// The `Stripe-Signature` header value for a payload: `t=<timestamp>,v1=<hex hmac>`.
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    format!(
        "t={timestamp},v1={}",
        hmac_hex(secret, &format!("{timestamp}.{payload}"))
    )
}

/// Hex HMAC-SHA256 of `message` keyed with `secret` (the whole `whsec_...` string, as Stripe
/// does).
pub fn hmac_hex(secret: &str, message: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The outcome of delivering an event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The endpoint (`we_...`).
    pub endpoint_id: String,
    /// The URL posted to.
    pub url: String,
    /// The HTTP status answered, 0 if the delivery failed at the transport level.
    pub status: u16,
    /// The response body, or the transport error.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_stripes_scheme() {
        // Verified independently: HMAC-SHA256("whsec_test", "1700000000.{}").
        let header = sign("{}", "whsec_test", 1_700_000_000);
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        let v1 = v1.strip_prefix("v1=").unwrap();
        assert_eq!(v1.len(), 64);
        assert_eq!(v1, hmac_hex("whsec_test", "1700000000.{}"));
    }

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn event_shape_and_overrides() {
        let e = Event::new(
            "acct_1",
            false,
            "checkout.session.completed",
            json!({"id": "cs_1"}),
            None,
        )
        .with_created(42);
        assert!(e.id().starts_with("evt_"));
        assert_eq!(e.created(), 42);
        assert_eq!(e.event_type(), "checkout.session.completed");
        assert_eq!(e.object()["id"], "cs_1");
        assert_eq!(e.json()["object"], "event");
        assert_eq!(e.json()["api_version"], EVENT_API_VERSION);
        assert_eq!(e.json()["pending_webhooks"], 1);
        assert_eq!(
            e.json()["request"],
            json!({"id": null, "idempotency_key": null})
        );
        assert_eq!(e.account_id(), "acct_1");
    }
}
