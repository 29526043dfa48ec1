//! Stripe webhooks: signature verification, at-most-once processing per event id, and the
//! effects of the events patron subscribes to.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::apps::Apps;
use crate::domain::checkout::SessionStatus;
use crate::domain::{Namespace, Timestamp};
use crate::storage::StoreError;

/// Largest accepted body.
pub const MAX_BODY: usize = 512 * 1024;
/// Largest accepted distance between the signature's timestamp and now.
pub const TOLERANCE_SECS: i64 = 300;

/// What the HTTP layer answers.
#[derive(Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// 200: processed (or a replay, or ignored).
    Accepted(&'static str),
    /// 400: bad signature, stale timestamp or unreadable event; nothing changed.
    Rejected(&'static str),
    /// 404: unknown or uninstalled app, or no endpoint registered for it.
    UnknownApp,
    /// 500: could not be stored; Stripe retries.
    Failed,
}

/// Verifies `Stripe-Signature` (`t=...,v1=...[,v1=...]`) over `t.payload`, constant-time, with the
/// timestamp within `TOLERANCE_SECS` of `now`.
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), &'static str> {
    let mut timestamp: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("no timestamp in Stripe-Signature")?;
    if signatures.is_empty() {
        return Err("no v1 signature in Stripe-Signature");
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err("signature timestamp outside the 300 s tolerance");
    }
    for signature in signatures {
        let Some(expected) = decode_hex(signature) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return Err("unusable secret");
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err("signature does not match")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Processes Stripe webhook deliveries.
#[derive(Clone, Debug)]
pub struct Webhooks {
    apps: Apps,
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

impl Webhooks {
    /// Processing over the app use cases.
    pub fn new(apps: Apps) -> Self {
        Self { apps }
    }

    /// Handles one delivery to `/webhooks/stripe/{app_id}`.
    #[tracing::instrument(skip_all, fields(app_id = %app_id))]
    pub async fn handle(
        &self,
        app_id: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> WebhookOutcome {
        let found = match self.apps.store().app_for_webhook(app_id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "webhook: cannot read the app");
                return WebhookOutcome::Failed;
            }
        };
        let Some((ns, app, secrets)) = found else {
            return WebhookOutcome::UnknownApp;
        };
        if app.deleted_at.is_some() {
            return WebhookOutcome::UnknownApp;
        }
        let secret = match self.apps.webhook_secret(&app, &secrets) {
            Ok(Some(secret)) => secret,
            Ok(None) => return WebhookOutcome::UnknownApp,
            Err(e) => {
                tracing::error!(error = %e, "webhook: cannot decrypt the signing secret");
                return WebhookOutcome::Failed;
            }
        };
        let Some(signature) = signature else {
            return WebhookOutcome::Rejected("missing Stripe-Signature header");
        };
        let now = Timestamp::now().micros() / 1_000_000;
        if let Err(why) = verify_signature(signature, body, secret.expose(), now) {
            tracing::warn!(reason = why, "webhook rejected");
            return WebhookOutcome::Rejected(why);
        }
        let Ok(event) = serde_json::from_slice::<Value>(body) else {
            return WebhookOutcome::Rejected("body is not JSON");
        };
        let (Some(event_id), Some(event_type)) = (text(&event, &["id"]), text(&event, &["type"]))
        else {
            return WebhookOutcome::Rejected("not a Stripe event (no id or type)");
        };
        let created = event.get("created").and_then(Value::as_i64).unwrap_or(0);
        match self
            .process(&ns, app_id, event_id, event_type, created, &event)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, event_id, "webhook processing failed; Stripe will retry");
                WebhookOutcome::Failed
            }
        }
    }

    async fn process(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str,
        event_type: &str,
        created: i64,
        event: &Value,
    ) -> Result<WebhookOutcome, StoreError> {
        let store = self.apps.store();
        let now = Timestamp::now();
        let tx = store.begin().await?;
        match tx
            .record_webhook_event(ns, app_id, event_id, event_type, created, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::UniqueViolation(_)) => {
                tracing::info!(event_id, "webhook replay ignored");
                return Ok(WebhookOutcome::Accepted("duplicate event"));
            }
            Err(e) => return Err(e),
        }
        let object = event
            .get("data")
            .and_then(|d| d.get("object"))
            .unwrap_or(&Value::Null);
        let ours = text(object, &["metadata", "patron_app_id"]) == Some(app_id);
        let outcome = match event_type {
            "setup_intent.succeeded" if ours => {
                let customer_id = text(object, &["metadata", "patron_customer_id"]);
                let payment_method = text(object, &["payment_method"])
                    .or_else(|| text(object, &["payment_method", "id"]));
                match (customer_id, payment_method) {
                    (Some(customer_id), Some(pm)) => {
                        let changed = tx
                            .set_default_payment_method(ns, app_id, customer_id, pm, created, now)
                            .await?;
                        tracing::info!(
                            event_id,
                            customer_id,
                            changed,
                            "default payment method from setup_intent.succeeded"
                        );
                        WebhookOutcome::Accepted(if changed {
                            "default payment method set"
                        } else {
                            "older than the current default"
                        })
                    }
                    _ => WebhookOutcome::Accepted(
                        "setup intent without patron customer or payment method",
                    ),
                }
            }
            "checkout.session.completed" | "checkout.session.expired" => {
                let status = if event_type.ends_with("completed") {
                    SessionStatus::Complete
                } else {
                    SessionStatus::Expired
                };
                match text(object, &["id"]) {
                    Some(session_id) => {
                        let changed = tx
                            .set_checkout_session_status(ns, app_id, session_id, status, now)
                            .await?;
                        WebhookOutcome::Accepted(if changed {
                            "session status stored"
                        } else {
                            "not a session of this app"
                        })
                    }
                    None => WebhookOutcome::Accepted("session without id"),
                }
            }
            _ => WebhookOutcome::Accepted("ignored"),
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={sig}")
    }

    #[test]
    fn signatures_are_checked_with_a_300_second_tolerance() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_x", 1_000, body);
        assert_eq!(verify_signature(&header, body, "whsec_x", 1_000), Ok(()));
        assert_eq!(verify_signature(&header, body, "whsec_x", 1_300), Ok(()));
        assert!(verify_signature(&header, body, "whsec_x", 1_301).is_err());
        assert!(verify_signature(&header, body, "whsec_y", 1_000).is_err());
        assert!(verify_signature(&header, b"{}", "whsec_x", 1_000).is_err());
        assert!(verify_signature("t=1000", body, "whsec_x", 1_000).is_err());
        let two = format!("{},v1=deadbeef", header.replace("v1=", "v1=00,v1="));
        assert_eq!(
            verify_signature(&two, body, "whsec_x", 1_000),
            Ok(()),
            "any v1 may match"
        );
    }
}
