//! Stripe webhooks: authentication of deliveries (the `Stripe-Signature` check lives in
//! payments/), at-most-once processing per event id, and the effects of the events patron
//! subscribes to.
//!
//! Until the signature is verified the caller is anonymous: an unknown, malformed or uninstalled
//! app id, an app without a webhook secret, and a missing, malformed, stale or wrong signature all
//! get the same answer (`InvalidSignature`) at about the same cost (one HMAC over the body; for an
//! app without a secret, against a dummy secret).
//!
//! Details collected in Checkout (`domain::collected` has the rule): for a
//! `setup_intent.succeeded` of a session that takes them, the card's `billing_details` are read
//! at Stripe before the event's transaction (a transient failure fails the delivery, so Stripe
//! retries); a `customer.updated` brings the Stripe customer's. Either is applied in the event's
//! transaction, with the event record.

use std::hint::black_box;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{Deps, steps};
use crate::domain::Namespace;
use crate::domain::app::WebhookSecret;
use crate::domain::checkout::SessionStatus;
use crate::domain::collected::{Collected, DetailsRule, RawAddress};
use crate::domain::customer::Customer;
use crate::domain::values::ResourceId;
use crate::domain::{Timestamp, new_etag};
use crate::payments::PaymentsError;
use crate::payments::signature::{SignatureError, SignatureHeader};
use crate::storage::{StoreError, StripeCustomerOf, StripeEntry, Tx};

pub use crate::payments::signature::MAX_HEADER_BYTES;

/// Largest accepted body.
pub const MAX_BODY: usize = 512 * 1024;
/// Longest Stripe id (event, customer, payment method, session) or event type patron reads from
/// a verified event; Stripe's are far shorter.
const MAX_STRIPE_ID: usize = 255;
/// What a delivery for an app without a webhook secret is verified against, so that refusing it
/// costs what refusing a bad signature costs. Its result is never used.
const DUMMY_SECRET: &[u8] = b"whsec_patron_no_app_has_this_secret_0000000";
/// How long reading a payment method's billing details at Stripe may take while a delivery
/// waits (Stripe gives a delivery about 20 s).
const PAYMENT_METHOD_BUDGET: Duration = Duration::from_secs(10);

/// What Checkout collected for a session, read at Stripe before the event's transaction.
struct Prefetched {
    session_id: String,
    customer_id: String,
    rule: DetailsRule,
    collected: Collected,
}

/// The effect of collected details.
enum DetailsOutcome {
    /// Applied, or nothing to apply (why).
    Done(&'static str),
    /// The customer changed between the read and the write: roll back, Stripe retries.
    Retry,
}

/// An address at `path` (Stripe's shape), if it is an object.
fn raw_address(value: &Value, path: &[&str]) -> Option<RawAddress> {
    let a = path.iter().try_fold(value, |v, key| v.get(key))?;
    a.is_object().then(|| {
        ["country", "postal_code", "state", "city", "line1", "line2"]
            .map(|k| a.get(k).and_then(Value::as_str).map(str::to_owned))
    })
}

fn log_unparsed(source: &str, violations: &[crate::domain::FieldViolation]) {
    for v in violations {
        tracing::warn!(
            source,
            field = %v.field,
            problem = %v.description,
            "collected detail skipped: it does not parse"
        );
    }
}

/// Applies what was collected to the customer under the session's rule, in `tx`: one write of
/// the customer (new etag) if a field changes, and the rule's new recorded values.
async fn apply_collected(
    tx: &Tx,
    ns: &Namespace,
    details: &Prefetched,
    created: i64,
    now: Timestamp,
) -> Result<DetailsOutcome, StoreError> {
    let Prefetched {
        session_id,
        customer_id,
        rule,
        collected,
    } = details;
    let (session_id, customer_id) = (session_id.as_str(), customer_id.as_str());
    let Some(current) = tx.customer_by_id(ns, customer_id).await? else {
        return Ok(DetailsOutcome::Done("no such customer"));
    };
    if !current.is_live() {
        return Ok(DetailsOutcome::Done("customer deleted"));
    }
    let Some(applied) = rule.apply(&current.fields, collected, created) else {
        return Ok(DetailsOutcome::Done(
            "collected details older than those applied",
        ));
    };
    let mut note = "collected details change nothing";
    if let Some(fields) = applied.fields {
        let updated = Customer {
            fields,
            updated_at: now.max(current.updated_at),
            etag: new_etag(),
            ..current.clone()
        };
        if !tx
            .update_customer(ns, &updated, &current.etag, &[], &[])
            .await?
        {
            return Ok(DetailsOutcome::Retry);
        }
        tracing::info!(
            customer_id,
            session_id,
            "customer details taken from Checkout"
        );
        note = "customer details updated from Checkout";
    }
    if applied.rule != *rule {
        tx.set_collected_details(ns, session_id, &applied.rule, now)
            .await?;
    }
    Ok(DetailsOutcome::Done(note))
}

/// What the HTTP layer answers.
#[derive(Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// 200: processed (or a replay, or ignored).
    Accepted(&'static str),
    /// 400, always the same body: the delivery is not authenticated (unknown, malformed or
    /// uninstalled app, no webhook secret, missing, malformed, stale or wrong signature); nothing
    /// changed.
    InvalidSignature,
    /// 400: a verified delivery that is not a Stripe event patron can read; nothing changed.
    Rejected(&'static str),
    /// 500: could not be stored; Stripe retries.
    Failed,
}

/// Why a delivery's app cannot verify it (for logs only).
type NoSecret = &'static str;

/// Processes Stripe webhook deliveries.
#[derive(Clone, Debug)]
pub struct Webhooks {
    deps: Deps,
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// A Stripe id or event type at `path`: 1 to `MAX_STRIPE_ID` printable ASCII characters (what
/// may be stored or searched for).
fn stripe_id<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    text(value, path).filter(|s| {
        !s.is_empty() && s.len() <= MAX_STRIPE_ID && s.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// A Stripe id at `path`, or at `path.id` when Stripe expanded the object.
fn stripe_ref<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    stripe_id(value, path).or_else(|| {
        let expanded = value.pointer(&format!("/{}", path.join("/")))?;
        stripe_id(expanded, &["id"])
    })
}

fn refused(why: &dyn std::fmt::Display) -> WebhookOutcome {
    tracing::warn!(reason = %why, "webhook refused: invalid signature");
    WebhookOutcome::InvalidSignature
}

impl Webhooks {
    /// Processing over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// Handles one delivery to `/webhooks/stripe/{app_id}`: `signature` is the raw
    /// `Stripe-Signature` header, if any.
    #[tracing::instrument(skip_all, fields(app_id = tracing::field::Empty))]
    pub async fn handle(
        &self,
        app_id: &str,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> WebhookOutcome {
        let header = match signature
            .ok_or(SignatureError::Missing)
            .and_then(SignatureHeader::parse)
        {
            Ok(header) => header,
            Err(why) => return refused(&why),
        };
        let now = self.deps.now().micros() / 1_000_000;
        let (ns, app_id, secret) = match self.signing_secret(app_id).await {
            Ok(Ok(found)) => found,
            Ok(Err(why)) => {
                let _ = black_box(header.verify(body, black_box(DUMMY_SECRET), now));
                return refused(&why);
            }
            Err(e) => {
                tracing::error!(error = %e, "webhook: cannot read the app");
                return WebhookOutcome::Failed;
            }
        };
        if let Err(why) = header.verify(body, secret.expose().as_bytes(), now) {
            return refused(&why);
        }
        let Ok(event) = serde_json::from_slice::<Value>(body) else {
            return WebhookOutcome::Rejected("body is not JSON");
        };
        let (Some(event_id), Some(event_type)) =
            (stripe_id(&event, &["id"]), stripe_id(&event, &["type"]))
        else {
            return WebhookOutcome::Rejected("not a Stripe event (no id or type)");
        };
        let created = event.get("created").and_then(Value::as_i64).unwrap_or(0);
        let prefetched = match self
            .payment_method_details(&ns, &app_id, event_id, event_type, &event)
            .await
        {
            Ok(found) => found,
            Err(why) => {
                tracing::warn!(event_id, %why, "cannot read the collected details yet; Stripe will retry");
                return WebhookOutcome::Failed;
            }
        };
        match self
            .process(
                &ns, &app_id, event_id, event_type, created, &event, prefetched,
            )
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, event_id, "webhook processing failed; Stripe will retry");
                WebhookOutcome::Failed
            }
        }
    }

    /// The namespace, id and webhook secret of the live app `raw_id`, or why there is none.
    async fn signing_secret(
        &self,
        raw_id: &str,
    ) -> Result<Result<(Namespace, String, WebhookSecret), NoSecret>, StoreError> {
        let Ok(app_id) = ResourceId::parse("app_id", raw_id) else {
            return Ok(Err("malformed app id"));
        };
        tracing::Span::current().record("app_id", app_id.as_ref());
        let Some((ns, app, secrets)) = self.deps.store.app_for_webhook(app_id.as_ref()).await?
        else {
            return Ok(Err("unknown app"));
        };
        if app.deleted_at.is_some() {
            return Ok(Err("uninstalled app"));
        }
        match steps::webhook_secret(&self.deps, &app, &secrets) {
            Ok(Some(secret)) => Ok(Ok((ns, app.id, secret))),
            Ok(None) => Ok(Err("app without a webhook secret")),
            Err(e) => {
                tracing::error!(error = %e, "webhook: cannot decrypt the signing secret");
                Ok(Err("undecryptable webhook secret"))
            }
        }
    }

    /// For a `setup_intent.succeeded` of a session that takes collected details: the session,
    /// its rule and the payment method's `billing_details` (read at Stripe: the event carries
    /// only the payment method's id). `Err` when Stripe cannot be asked now (the delivery fails
    /// and Stripe retries); a payment method Stripe does not have, or one the app may not read,
    /// is logged and skipped.
    async fn payment_method_details(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str,
        event_type: &str,
        event: &Value,
    ) -> Result<Option<Prefetched>, String> {
        let object = event.pointer("/data/object").unwrap_or(&Value::Null);
        if event_type != "setup_intent.succeeded"
            || text(object, &["metadata", "patron_app_id"]) != Some(app_id)
        {
            return Ok(None);
        }
        let (Some(setup_intent), Some(pm)) = (
            stripe_id(object, &["id"]),
            stripe_ref(object, &["payment_method"]),
        ) else {
            return Ok(None);
        };
        let store = &self.deps.store;
        // A replay is refused later anyway: spare it the call to Stripe.
        if store
            .webhook_event_processed(ns, app_id, event_id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(None);
        }
        let session = store
            .checkout_session_by_setup_intent(ns, app_id, setup_intent)
            .await
            .map_err(|e| e.to_string())?;
        let Some((session, rule)) =
            session.and_then(|s| s.collected_details.clone().map(|rule| (s, rule)))
        else {
            return Ok(None);
        };
        let key = match steps::app(store, ns, app_id)
            .await
            .and_then(|(app, secrets)| steps::api_key(&self.deps, &app, &secrets))
        {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(error = %e, app_id, "collected details skipped: no usable API key");
                return Ok(None);
            }
        };
        let deadline = Instant::now() + PAYMENT_METHOD_BUDGET;
        let method = match self
            .deps
            .payments
            .retrieve_payment_method(&key, pm, deadline)
            .await
        {
            Ok(method) => method,
            Err(
                e @ (PaymentsError::Unavailable(_)
                | PaymentsError::DeadlineExceeded
                | PaymentsError::Other(_)),
            ) => return Err(e.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, payment_method = pm, "collected details skipped");
                return Ok(None);
            }
        };
        let (collected, violations) = Collected::parse(
            "payment_method.billing_details",
            method.billing_name.as_deref(),
            method.billing_address.as_ref(),
        );
        log_unparsed("payment_method.billing_details", &violations);
        Ok(Some(Prefetched {
            session_id: session.session_id,
            customer_id: session.customer_id,
            rule,
            collected,
        }))
    }

    /// For a `customer.updated` whose `previous_attributes` show the address or name changed:
    /// the Stripe customer's new values, under the rule of the customer's newest session in the
    /// app that takes them from the Stripe customer.
    async fn customer_details(
        tx: &Tx,
        ns: &Namespace,
        app_id: &str,
        event: &Value,
    ) -> Result<Option<Prefetched>, StoreError> {
        let object = event.pointer("/data/object").unwrap_or(&Value::Null);
        let previous = event
            .pointer("/data/previous_attributes")
            .unwrap_or(&Value::Null);
        let (address_changed, name_changed) = (
            previous.get("address").is_some(),
            previous.get("name").is_some(),
        );
        let Some(stripe_customer) = stripe_id(object, &["id"]) else {
            return Ok(None);
        };
        if !address_changed && !name_changed {
            return Ok(None);
        }
        let Some(entry) = tx
            .customer_app_by_stripe_customer(ns, app_id, stripe_customer)
            .await?
            .filter(|e| e.deleted_at.is_none() && e.stripe_customer_deleted_at.is_none())
        else {
            return Ok(None);
        };
        let Some(session) = tx
            .newest_collecting_session(ns, app_id, &entry.customer_id, stripe_customer)
            .await?
        else {
            return Ok(None);
        };
        let Some(rule) = session.collected_details else {
            return Ok(None);
        };
        let address = (address_changed && rule.address_from_customer)
            .then(|| raw_address(object, &["address"]))
            .flatten();
        let name = (name_changed && rule.name.is_some())
            .then(|| text(object, &["name"]))
            .flatten();
        if address.is_none() && name.is_none() {
            return Ok(None);
        }
        let (collected, violations) = Collected::parse("customer", name, address.as_ref());
        log_unparsed("customer", &violations);
        Ok(Some(Prefetched {
            session_id: session.session_id,
            customer_id: entry.customer_id,
            rule,
            collected,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn process(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str,
        event_type: &str,
        created: i64,
        event: &Value,
        prefetched: Option<Prefetched>,
    ) -> Result<WebhookOutcome, StoreError> {
        let store = &self.deps.store;
        let now = self.deps.now();
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
        let details = match prefetched {
            Some(p) => Some(p),
            None if event_type == "customer.updated" => {
                Self::customer_details(&tx, ns, app_id, event).await?
            }
            None => None,
        };
        let details_note = match details {
            Some(p) => match apply_collected(&tx, ns, &p, created, now).await? {
                DetailsOutcome::Done(note) => Some(note),
                DetailsOutcome::Retry => {
                    tracing::warn!(event_id, "customer changed meanwhile; Stripe will retry");
                    return Ok(WebhookOutcome::Failed);
                }
            },
            None => None,
        };
        let outcome = match event_type {
            "setup_intent.succeeded" if ours => {
                let customer_id = text(object, &["metadata", "patron_customer_id"])
                    .and_then(|raw| ResourceId::parse("patron_customer_id", raw).ok());
                // Only the Stripe customer patron maps the customer to may set its default.
                let stripe_customer = stripe_ref(object, &["customer"]);
                let payment_method = stripe_ref(object, &["payment_method"]);
                match (customer_id, stripe_customer, payment_method) {
                    (Some(customer_id), Some(stripe_customer), Some(pm)) => {
                        let customer_id = customer_id.as_ref();
                        let changed = tx
                            .set_default_payment_method(
                                ns,
                                StripeEntry {
                                    app_id,
                                    customer_id,
                                    stripe_customer_id: stripe_customer,
                                },
                                pm,
                                created,
                                now,
                            )
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
                            "not applied: older than the current default, or not the customer's Stripe customer"
                        })
                    }
                    _ => WebhookOutcome::Accepted(
                        "setup intent without patron customer, Stripe customer or payment method",
                    ),
                }
            }
            "checkout.session.completed" | "checkout.session.expired" => {
                let status = if event_type.ends_with("completed") {
                    SessionStatus::Complete
                } else {
                    SessionStatus::Expired
                };
                match stripe_id(object, &["id"]) {
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
            "customer.updated" => {
                // Set in Stripe (e.g. the customer portal): the customer's invoice default.
                let stripe_customer = stripe_id(object, &["id"]);
                let payment_method =
                    stripe_ref(object, &["invoice_settings", "default_payment_method"]);
                let customer_id = text(object, &["metadata", "patron_customer_id"])
                    .and_then(|raw| ResourceId::parse("patron_customer_id", raw).ok());
                match (stripe_customer, payment_method) {
                    (Some(stripe_customer), Some(pm)) => {
                        let changed = tx
                            .set_default_payment_method_of_stripe_customer(
                                ns,
                                StripeCustomerOf {
                                    app_id,
                                    stripe_customer_id: stripe_customer,
                                    customer_id: customer_id.as_ref().map(AsRef::as_ref),
                                },
                                pm,
                                created,
                                now,
                            )
                            .await?;
                        tracing::info!(
                            event_id,
                            changed,
                            "default payment method from customer.updated"
                        );
                        WebhookOutcome::Accepted(if changed {
                            "default payment method set"
                        } else {
                            "not applied: older than the current default, or not a customer of this app"
                        })
                    }
                    _ => WebhookOutcome::Accepted(
                        details_note.unwrap_or("customer without a default payment method"),
                    ),
                }
            }
            "customer.deleted" => match stripe_id(object, &["id"]) {
                Some(stripe_customer) => {
                    let changed = tx
                        .mark_stripe_customer_deleted(ns, app_id, stripe_customer, now)
                        .await?;
                    tracing::info!(event_id, changed, "Stripe customer deleted at Stripe");
                    WebhookOutcome::Accepted(if changed {
                        "Stripe customer marked deleted"
                    } else {
                        "not a live Stripe customer of this app"
                    })
                }
                None => WebhookOutcome::Accepted("customer without id"),
            },
            "payment_method.detached" => match stripe_id(object, &["id"]) {
                Some(pm) => {
                    let changed = tx
                        .clear_default_payment_method(ns, app_id, pm, created, now)
                        .await?;
                    tracing::info!(
                        event_id,
                        changed,
                        "default payment method cleared by payment_method.detached"
                    );
                    WebhookOutcome::Accepted(if changed {
                        "default payment method cleared"
                    } else {
                        "not applied: not a default of this app, or older than it"
                    })
                }
                None => WebhookOutcome::Accepted("payment method without id"),
            },
            _ => WebhookOutcome::Accepted("ignored"),
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn stripe_ids_are_short_printable_ascii() {
        let v = json!({
            "id": "evt_1",
            "nul": "evt_\u{0}",
            "space": "evt 1",
            "empty": "",
            "long": "x".repeat(MAX_STRIPE_ID + 1),
            "max": "x".repeat(MAX_STRIPE_ID),
            "unicode": "evt_é",
            "number": 1,
        });
        assert_eq!(stripe_id(&v, &["id"]), Some("evt_1"));
        assert!(stripe_id(&v, &["max"]).is_some());
        for bad in [
            "nul", "space", "empty", "long", "unicode", "number", "missing",
        ] {
            assert_eq!(stripe_id(&v, &[bad]), None, "{bad}");
        }
    }

    #[test]
    fn references_may_be_expanded_objects() {
        let v = json!({
            "customer": {"id": "cus_1", "object": "customer"},
            "payment_method": "pm_1",
            "bad": {"id": "pm\n"},
        });
        assert_eq!(stripe_ref(&v, &["customer"]), Some("cus_1"));
        assert_eq!(stripe_ref(&v, &["payment_method"]), Some("pm_1"));
        assert_eq!(stripe_ref(&v, &["bad"]), None);
        assert_eq!(stripe_ref(&v, &["missing"]), None);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("id".to_owned()),
                        Just("customer".to_owned()),
                        ".{0,6}".prop_map(String::from)
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn reading_ids_from_arbitrary_json_never_panics(v in json_value()) {
            for path in [&["id"][..], &["customer"], &["customer", "id"], &[]] {
                if let Some(id) = stripe_ref(&v, path) {
                    prop_assert!(!id.is_empty() && id.len() <= MAX_STRIPE_ID);
                    prop_assert!(id.bytes().all(|b| b.is_ascii_graphic()));
                }
            }
        }
    }
}
