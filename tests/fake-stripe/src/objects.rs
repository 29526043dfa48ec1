//! The JSON objects the fake returns, shaped like Stripe's (every field of the object present,
//! `null` where Stripe has nothing), ids with Stripe's prefixes.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `len` random ASCII letters and digits.
pub(crate) fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `prefix` followed by `len` random letters and digits (`cus_` + 14 like Stripe's customers).
pub(crate) fn new_id(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", random_alnum(len))
}

/// A `req_...` request id.
pub(crate) fn request_id() -> String {
    new_id("req_", 14)
}

/// A non-empty string parameter (`""` means "unset" in Stripe's encoding).
pub(crate) fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A string parameter as JSON, `null` when absent or empty.
pub(crate) fn str_or_null(params: &Value, key: &str) -> Value {
    str_param(params, key).map_or(Value::Null, |s| json!(s))
}

/// Metadata from a `map` parameter, dropping keys sent empty (which unset them).
pub(crate) fn metadata(params: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(map)) = params {
        for (k, v) in map {
            if v.as_str().is_some_and(|s| !s.is_empty()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Applies a metadata update to existing metadata: keys set, `""` values remove keys, and
/// `metadata=""` clears all.
pub(crate) fn update_metadata(existing: &mut Value, update: &Value) {
    match update {
        Value::String(s) if s.is_empty() => *existing = json!({}),
        Value::Object(map) => {
            if !existing.is_object() {
                *existing = json!({});
            }
            if let Value::Object(target) = existing {
                for (k, v) in map {
                    match v.as_str() {
                        Some("") => {
                            target.remove(k);
                        }
                        _ => {
                            target.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// An address with all six fields (`null` for those not given), or `null`.
pub(crate) fn address(params: Option<&Value>) -> Value {
    match params {
        Some(Value::Object(a)) => {
            let field = |k: &str| {
                a.get(k)
                    .cloned()
                    .filter(|v| v.as_str() != Some(""))
                    .unwrap_or(Value::Null)
            };
            json!({
                "city": field("city"),
                "country": field("country"),
                "line1": field("line1"),
                "line2": field("line2"),
                "postal_code": field("postal_code"),
                "state": field("state"),
            })
        }
        _ => Value::Null,
    }
}

/// An address of nulls.
pub(crate) fn empty_address() -> Value {
    json!({
        "city": null, "country": null, "line1": null, "line2": null,
        "postal_code": null, "state": null
    })
}

/// `GET /v1/account`.
pub(crate) fn account(id: &str, created: i64) -> Value {
    json!({
        "id": id,
        "object": "account",
        "business_profile": {
            "annual_revenue": null,
            "estimated_worker_count": null,
            "mcc": "5734",
            "minority_owned_business_designation": null,
            "name": "Fake Stripe account",
            "product_description": null,
            "support_address": null,
            "support_email": null,
            "support_phone": null,
            "support_url": null,
            "url": "https://example.com"
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": true,
        "controller": {"type": "account"},
        "country": "US",
        "created": created,
        "default_currency": "usd",
        "details_submitted": true,
        "email": format!("owner+{}@example.com", id.to_lowercase()),
        "metadata": {},
        "payouts_enabled": true,
        "settings": {
            "bacs_debit_payments": {"display_name": null, "service_user_number": null},
            "branding": {
                "icon": null,
                "logo": null,
                "primary_color": null,
                "secondary_color": null
            },
            "card_issuing": {"tos_acceptance": {"date": null, "ip": null}},
            "card_payments": {
                "decline_on": {"avs_failure": false, "cvc_failure": true},
                "statement_descriptor_prefix": null,
                "statement_descriptor_prefix_kana": null,
                "statement_descriptor_prefix_kanji": null
            },
            "dashboard": {"display_name": "Fake Stripe account", "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": null, "hosted_payment_method_save": null},
            "payments": {
                "statement_descriptor": "FAKE STRIPE",
                "statement_descriptor_kana": null,
                "statement_descriptor_kanji": null,
                "statement_descriptor_prefix_kana": null,
                "statement_descriptor_prefix_kanji": null
            },
            "payouts": {
                "debit_negative_balances": true,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": null
            },
            "sepa_debit_payments": {}
        },
        "tos_acceptance": {"date": null, "ip": null, "user_agent": null},
        "type": "standard"
    })
}

/// A customer from `POST /v1/customers` parameters.
pub(crate) fn customer(id: &str, livemode: bool, created: i64, p: &Value) -> Value {
    let invoice_settings = p.get("invoice_settings");
    let default_pm = invoice_settings
        .and_then(|s| str_param(s, "default_payment_method"))
        .map_or(Value::Null, |s| json!(s));
    let footer = invoice_settings
        .and_then(|s| str_param(s, "footer"))
        .map_or(Value::Null, |s| json!(s));
    let shipping = match p.get("shipping") {
        Some(s @ Value::Object(_)) => json!({
            "address": address(s.get("address")),
            "name": str_or_null(s, "name"),
            "phone": str_or_null(s, "phone"),
        }),
        _ => Value::Null,
    };
    json!({
        "id": id,
        "object": "customer",
        "address": address(p.get("address")),
        "balance": p.get("balance").cloned().unwrap_or(json!(0)),
        "business_name": str_or_null(p, "business_name"),
        "created": created,
        "currency": null,
        "customer_account": null,
        "default_source": null,
        "delinquent": false,
        "description": str_or_null(p, "description"),
        "discount": null,
        "email": str_or_null(p, "email"),
        "individual_name": str_or_null(p, "individual_name"),
        "invoice_prefix": str_param(p, "invoice_prefix")
            .map_or_else(|| random_alnum(8).to_uppercase(), str::to_string),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": default_pm,
            "footer": footer,
            "rendering_options": null
        },
        "livemode": livemode,
        "metadata": metadata(p.get("metadata")),
        "name": str_or_null(p, "name"),
        "next_invoice_sequence": p.get("next_invoice_sequence").cloned().unwrap_or(json!(1)),
        "phone": str_or_null(p, "phone"),
        "preferred_locales": p.get("preferred_locales").cloned().unwrap_or(json!([])),
        "shipping": shipping,
        "tax_exempt": str_param(p, "tax_exempt").unwrap_or("none"),
        "test_clock": str_or_null(p, "test_clock")
    })
}

/// What `GET /v1/customers/{id}` returns for a deleted customer (status 200).
pub(crate) fn deleted(id: &str, object: &str) -> Value {
    json!({"id": id, "object": object, "deleted": true})
}

/// A test card payment method (`4242`).
pub(crate) fn payment_method(
    id: &str,
    livemode: bool,
    created: i64,
    customer: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": empty_address(),
            "email": null,
            "name": null,
            "phone": null,
            "tax_id": null
        },
        "card": {
            "brand": "visa",
            "checks": {
                "address_line1_check": null,
                "address_postal_code_check": null,
                "cvc_check": "pass"
            },
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": random_alnum(16),
            "funding": "credit",
            "generated_from": null,
            "last4": "4242",
            "networks": {"available": ["visa"], "preferred": null},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": true},
            "wallet": null
        },
        "created": created,
        "customer": customer,
        "customer_account": null,
        "livemode": livemode,
        "metadata": {},
        "type": "card"
    })
}

/// Inputs of a SetupIntent created for a Checkout Session in setup mode.
pub(crate) struct SetupIntentInput<'a> {
    pub id: &'a str,
    pub livemode: bool,
    pub created: i64,
    pub customer: Option<&'a str>,
    pub payment_method_types: Value,
    /// `setup_intent_data` of the session.
    pub data: Option<&'a Value>,
}

/// A SetupIntent in `requires_payment_method`.
pub(crate) fn setup_intent(input: &SetupIntentInput<'_>) -> Value {
    let data = input.data.cloned().unwrap_or(json!({}));
    json!({
        "id": input.id,
        "object": "setup_intent",
        "application": null,
        "automatic_payment_methods": null,
        "cancellation_reason": null,
        "client_secret": format!("{}_secret_{}", input.id, random_alnum(24)),
        "created": input.created,
        "customer": input.customer,
        "customer_account": null,
        "description": str_or_null(&data, "description"),
        "excluded_payment_method_types": null,
        "flow_directions": null,
        "last_setup_error": null,
        "latest_attempt": null,
        "livemode": input.livemode,
        "mandate": null,
        "metadata": metadata(data.get("metadata")),
        "next_action": null,
        "on_behalf_of": str_or_null(&data, "on_behalf_of"),
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": {
            "card": {"mandate_options": null, "network": null, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": input.payment_method_types,
        "single_use_mandate": null,
        "status": "requires_payment_method",
        "usage": "off_session"
    })
}

/// A webhook endpoint (with its `secret`, which Stripe returns on creation only).
pub(crate) fn webhook_endpoint(id: &str, livemode: bool, created: i64, p: &Value) -> Value {
    json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": str_or_null(p, "api_version"),
        "application": null,
        "created": created,
        "description": str_or_null(p, "description"),
        "enabled_events": p.get("enabled_events").cloned().unwrap_or(json!([])),
        "livemode": livemode,
        "metadata": metadata(p.get("metadata")),
        "secret": new_id("whsec_", 32),
        "status": "enabled",
        "url": str_or_null(p, "url")
    })
}

/// A Stripe list object.
pub(crate) fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

/// Whether `s` is an absolute `http(s)` URL with a host, as Stripe requires of redirect and
/// webhook URLs (Checkout's `{CHECKOUT_SESSION_ID}` template is allowed).
pub(crate) fn is_valid_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    !host.is_empty()
        && !host.starts_with(':')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A plausible email address (`local@domain` with a dot in the domain), as Stripe checks.
pub(crate) fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The currencies Stripe presents (lower case ISO 4217).
pub(crate) const CURRENCIES: &[&str] = &[
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
    "bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad",
    "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp",
    "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl",
    "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf",
    "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd",
    "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok",
    "npr", "nzd", "omr", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd",
    "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl",
    "thb", "tjs", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd",
    "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
];

/// A Billing customer portal configuration (`bpc_...`) with Stripe's defaults; `features`
/// given as in the create parameters are merged over them.
pub(crate) fn portal_configuration(
    id: &str,
    livemode: bool,
    created: i64,
    is_default: bool,
    features: &Value,
) -> Value {
    let mut configuration = json!({
        "id": id,
        "object": "billing_portal.configuration",
        "active": true,
        "application": null,
        "business_profile": {"headline": null, "privacy_policy_url": null, "terms_of_service_url": null},
        "created": created,
        "default_return_url": null,
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": false},
            "invoice_history": {"enabled": false},
            "payment_method_update": {"enabled": false, "payment_method_configuration": null},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": false, "options": []},
                "enabled": false,
                "mode": "at_period_end",
                "proration_behavior": "none"
            },
            "subscription_update": {
                "billing_cycle_anchor": null,
                "default_allowed_updates": [],
                "enabled": false,
                "products": [],
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial"
            }
        },
        "is_default": is_default,
        "livemode": livemode,
        "login_page": {"enabled": false, "url": null},
        "metadata": {},
        "name": null,
        "updated": created,
    });
    merge(&mut configuration["features"], features);
    configuration
}

/// Merges create/update parameters into an object: nested hashes merge, `""` clears (an empty
/// list for list fields, `null` otherwise), anything else replaces.
fn merge(target: &mut Value, params: &Value) {
    let Value::Object(params) = params else {
        return;
    };
    for (k, v) in params {
        let slot = &mut target[k.as_str()];
        match v {
            Value::Object(_) if slot.is_object() => merge(slot, v),
            Value::String(s) if s.is_empty() => {
                *slot = if slot.is_array() {
                    json!([])
                } else {
                    Value::Null
                };
            }
            _ => *slot = v.clone(),
        }
    }
}

/// Applies `POST /v1/billing_portal/configurations[/{id}]` parameters (already checked against
/// the allow-list) to a configuration, with Stripe's rules on URLs.
pub(crate) fn update_portal_configuration(
    configuration: &mut Value,
    p: &Value,
) -> Result<(), crate::error::ApiError> {
    use crate::error::ApiError;
    for (param, value) in [
        ("default_return_url", p.get("default_return_url")),
        (
            "business_profile[privacy_policy_url]",
            p.pointer("/business_profile/privacy_policy_url"),
        ),
        (
            "business_profile[terms_of_service_url]",
            p.pointer("/business_profile/terms_of_service_url"),
        ),
    ] {
        if let Some(url) = value.and_then(Value::as_str)
            && !url.is_empty()
            && !is_valid_url(url)
        {
            return Err(ApiError::param(
                Some("url_invalid"),
                param,
                "Not a valid URL",
            ));
        }
    }
    if let Some(features) = p.get("features") {
        merge(&mut configuration["features"], features);
    }
    if let Some(profile) = p.get("business_profile") {
        merge(&mut configuration["business_profile"], profile);
    }
    for key in ["active", "default_return_url", "name"] {
        if let Some(v) = p.get(key) {
            configuration[key] = if v.as_str() == Some("") {
                Value::Null
            } else {
                v.clone()
            };
        }
    }
    if let Some(enabled) = p.pointer("/login_page/enabled").and_then(Value::as_bool) {
        let url = if enabled {
            configuration["login_page"]["url"].as_str().map_or_else(
                || {
                    json!(format!(
                        "https://billing.stripe.com/p/login/test_{}",
                        random_alnum(24)
                    ))
                },
                |u| json!(u),
            )
        } else {
            Value::Null
        };
        configuration["login_page"] = json!({"enabled": enabled, "url": url});
    }
    if let Some(m) = p.get("metadata") {
        update_metadata(&mut configuration["metadata"], m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_length() {
        let id = new_id("cus_", 14);
        assert!(id.starts_with("cus_"));
        assert_eq!(id.len(), 18);
        assert!(id[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn url_validation() {
        assert!(is_valid_url(
            "https://example.com/ok?session_id={CHECKOUT_SESSION_ID}"
        ));
        assert!(is_valid_url("http://127.0.0.1:8080/webhooks/stripe/01H"));
        assert!(!is_valid_url("example.com/ok"));
        assert!(!is_valid_url("https://"));
        assert!(!is_valid_url("ftp://example.com"));
        assert!(!is_valid_url("https://exa mple.com"));
    }

    #[test]
    fn email_validation() {
        assert!(is_valid_email("jane@example.com"));
        assert!(!is_valid_email("jane"));
        assert!(!is_valid_email("jane@localhost"));
        assert!(!is_valid_email("@example.com"));
    }

    #[test]
    fn metadata_updates() {
        let mut m = json!({"a": "1", "b": "2"});
        update_metadata(&mut m, &json!({"a": "", "c": "3"}));
        assert_eq!(m, json!({"b": "2", "c": "3"}));
        update_metadata(&mut m, &json!(""));
        assert_eq!(m, json!({}));
    }
}
