//! `POST /stripe/checkout/sessions`: a Stripe Checkout Session in setup mode (201), for an
//! existing customer (`{id}` or `{key}`) or one created on the way (a `CustomerCreate`).

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::customers::{customer_fields, put_opt, rfc3339};
use super::json::Object;
use super::{JsonBody, RestResult, RestState, Tenant, deadline, invalid};
use crate::domain::app::parse_stripe_id;
use crate::domain::checkout::{CheckoutOptions, CheckoutOptionsInput, CheckoutSession};
use crate::domain::error::Violations;
use crate::domain::values::{Identifier, ResourceId};
use crate::domain::{FieldViolation, Timestamp};
use crate::service::checkout::{CheckoutCustomer, CreateCheckout};

/// OpenMeter's `CreateStripeCheckoutSessionResult`.
fn session_json(s: CheckoutSession) -> Value {
    let mut out = Map::new();
    out.insert("customerId".into(), json!(s.customer_id));
    out.insert("stripeCustomerId".into(), json!(s.stripe_customer_id));
    out.insert("sessionId".into(), json!(s.session_id));
    out.insert(
        "setupIntentId".into(),
        json!(s.setup_intent_id.unwrap_or_default()),
    );
    put_opt(&mut out, "clientSecret", s.client_secret);
    put_opt(&mut out, "clientReferenceId", s.client_reference_id);
    put_opt(&mut out, "customerEmail", s.customer_email);
    put_opt(&mut out, "currency", s.currency);
    out.insert("createdAt".into(), json!(rfc3339(s.created_at)));
    if let Some(expires) = s.expires_at {
        out.insert("expiresAt".into(), json!(rfc3339(expires)));
    }
    if !s.metadata.is_empty() {
        out.insert("metadata".into(), json!(s.metadata));
    }
    out.insert("status".into(), json!(s.status.as_str()));
    put_opt(&mut out, "url", s.url);
    out.insert("mode".into(), json!("setup"));
    put_opt(&mut out, "cancelURL", s.cancel_url);
    put_opt(&mut out, "successURL", s.success_url);
    put_opt(&mut out, "returnURL", s.return_url);
    Value::Object(out)
}

/// The options as the domain parses them (decoding only; the rules live in `domain::checkout`).
fn options_input(v: &mut Violations, o: Option<&Object>) -> CheckoutOptionsInput {
    let Some(o) = o else {
        return CheckoutOptionsInput::default();
    };
    let text = |v: &mut Violations, name: &str| o.text(v, name).to_owned();
    let nested = |v: &mut Violations, outer: &str, inner: &str| {
        o.object(v, outer)
            .map(|n| n.text(v, inner).to_owned())
            .unwrap_or_default()
    };
    let custom = o.object(v, "customText");
    let message = |v: &mut Violations, part: &str| {
        custom
            .as_ref()
            .and_then(|c| c.object(v, part))
            .map(|m| m.text(v, "message").to_owned())
            .unwrap_or_default()
    };
    let consent = o.object(v, "consentCollection");
    let reuse = consent
        .as_ref()
        .and_then(|c| c.object(v, "paymentMethodReuseAgreement"))
        .map(|r| r.text(v, "position").to_owned())
        .unwrap_or_default();
    let tax = o.object(v, "taxIdCollection").map(|t| {
        (
            t.boolean(v, "enabled").unwrap_or(false),
            t.text(v, "required").to_owned(),
        )
    });
    CheckoutOptionsInput {
        currency: text(v, "currency"),
        success_url: text(v, "successURL"),
        cancel_url: text(v, "cancelURL"),
        return_url: text(v, "returnURL"),
        ui_mode: text(v, "uiMode"),
        client_reference_id: text(v, "clientReferenceID"),
        locale: text(v, "locale"),
        expires_at: o.integer(v, "expiresAt"),
        metadata: o
            .string_map(v, "metadata")
            .unwrap_or_default()
            .into_iter()
            .collect(),
        payment_method_types: o.strings(v, "paymentMethodTypes").unwrap_or_default(),
        billing_address_collection: text(v, "billingAddressCollection"),
        tax_id_collection: tax,
        customer_update_address: nested(v, "customerUpdate", "address"),
        customer_update_name: nested(v, "customerUpdate", "name"),
        customer_update_shipping: nested(v, "customerUpdate", "shipping"),
        consent_reuse_agreement_position: reuse,
        consent_promotions: consent
            .as_ref()
            .map(|c| c.text(v, "promotions").to_owned())
            .unwrap_or_default(),
        consent_terms_of_service: consent
            .as_ref()
            .map(|c| c.text(v, "termsOfService").to_owned())
            .unwrap_or_default(),
        custom_text_after_submit: message(v, "afterSubmit"),
        custom_text_shipping_address: message(v, "shippingAddress"),
        custom_text_submit: message(v, "submit"),
        custom_text_terms_of_service_acceptance: message(v, "termsOfServiceAcceptance"),
        redirect_on_completion: text(v, "redirectOnCompletion"),
    }
}

/// `{id}`, `{key}`, or a `CustomerCreate` (it has a `name`; its key, if any, reuses the live
/// holder of that key).
fn checkout_customer(v: &mut Violations, o: &Object) -> Option<CheckoutCustomer> {
    let Some(c) = o.object(v, "customer") else {
        v.add(
            "customer",
            "is required: {id}, {key} or a customer to create",
        );
        return None;
    };
    if c.get("name").is_some() || c.get("usageAttribution").is_some() {
        return customer_fields(v, &c).map(|f| CheckoutCustomer::Create(Box::new(f)));
    }
    if let Some(id) = c.string(v, "id") {
        return v
            .check(ResourceId::parse(&c.path("id"), id))
            .map(CheckoutCustomer::Id);
    }
    if let Some(key) = c.string(v, "key") {
        return v
            .check(Identifier::parse(&c.path("key"), key))
            .map(CheckoutCustomer::Key);
    }
    v.add(
        "customer",
        "set id, key, or the customer to create (with a name)",
    );
    None
}

/// The request, parsed at time `now`.
pub fn decode(body: &Value, now: Timestamp) -> RestResult<CreateCheckout> {
    let o = Object::new("", body).map_err(invalid)?;
    let mut v = Violations::new();
    let app_id = match o.text(&mut v, "appId") {
        "" => None,
        raw => v.check(ResourceId::parse("appId", raw).map(ResourceId::into_string)),
    };
    let customer = checkout_customer(&mut v, &o);
    let stripe_customer_id = match o.text(&mut v, "stripeCustomerId") {
        "" => None,
        raw => v.check(parse_stripe_id("stripeCustomerId", raw, "cus_")),
    };
    let options_object = o.object(&mut v, "options");
    let input = options_input(&mut v, options_object.as_ref());
    let options = match CheckoutOptions::parse("options", &input, now) {
        Ok(options) => Some(options),
        Err(violations) => {
            v.extend(violations);
            None
        }
    };
    v.finish()?;
    let (Some(customer), Some(options)) = (customer, options) else {
        return Err(invalid(vec![FieldViolation::new(
            "customer",
            "is required",
        )]));
    };
    Ok(CreateCheckout {
        app_id,
        customer,
        stripe_customer_id,
        options,
    })
}

/// POST /api/v1/stripe/checkout/sessions: 201.
pub async fn create(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    JsonBody(body): JsonBody,
) -> RestResult {
    let input = decode(&body, s.services.checkout.now())?;
    let session = s
        .services
        .checkout
        .create(&ns, input, None, deadline())
        .await?;
    Ok(super::json(StatusCode::CREATED, session_json(session)))
}
