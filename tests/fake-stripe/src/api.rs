//! The endpoints: routing, the rules across parameters that the allow-lists cannot express,
//! and what each endpoint does to the state.

use serde_json::{Value, json};

use crate::allow_list as al;
use crate::error::ApiError;
use crate::objects::{
    self, CURRENCIES, SetupIntentInput, is_valid_email, is_valid_url, metadata, new_id, now,
    str_or_null, str_param, update_metadata,
};
use crate::params::P;
use crate::state::{Scope, State, find, find_mut};
use crate::webhook::Event;

/// An endpoint the fake serves, with the ids from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Account,
    CustomerList,
    CustomerSearch,
    CustomerCreate,
    CustomerRetrieve(String),
    CustomerUpdate(String),
    CustomerDelete(String),
    CustomerPaymentMethods(String),
    CheckoutCreate,
    CheckoutRetrieve(String),
    CheckoutExpire(String),
    SetupIntentRetrieve(String),
    PaymentMethodRetrieve(String),
    PaymentMethodDetach(String),
    EventRetrieve(String),
    WebhookList,
    WebhookCreate,
    WebhookRetrieve(String),
    WebhookUpdate(String),
    WebhookDelete(String),
    PortalSessionCreate,
    PortalConfigurationList,
    PortalConfigurationCreate,
    PortalConfigurationRetrieve(String),
    PortalConfigurationUpdate(String),
}

impl Route {
    /// The endpoint for a method and path, `None` for a URL Stripe (or the fake) does not
    /// serve.
    pub fn parse(method: &str, path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v1/")?;
        let segs: Vec<&str> = rest.split('/').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return None;
        }
        let id = |s: &str| s.to_string();
        Some(match (method, segs.as_slice()) {
            ("GET", ["account"]) => Route::Account,
            ("GET", ["customers"]) => Route::CustomerList,
            ("GET", ["customers", "search"]) => Route::CustomerSearch,
            ("POST", ["customers"]) => Route::CustomerCreate,
            ("GET", ["customers", c]) => Route::CustomerRetrieve(id(c)),
            ("POST", ["customers", c]) => Route::CustomerUpdate(id(c)),
            ("DELETE", ["customers", c]) => Route::CustomerDelete(id(c)),
            ("GET", ["customers", c, "payment_methods"]) => Route::CustomerPaymentMethods(id(c)),
            ("POST", ["checkout", "sessions"]) => Route::CheckoutCreate,
            ("GET", ["checkout", "sessions", s]) => Route::CheckoutRetrieve(id(s)),
            ("POST", ["checkout", "sessions", s, "expire"]) => Route::CheckoutExpire(id(s)),
            ("GET", ["setup_intents", s]) => Route::SetupIntentRetrieve(id(s)),
            ("GET", ["payment_methods", pm]) => Route::PaymentMethodRetrieve(id(pm)),
            ("POST", ["payment_methods", pm, "detach"]) => Route::PaymentMethodDetach(id(pm)),
            ("GET", ["events", e]) => Route::EventRetrieve(id(e)),
            ("GET", ["webhook_endpoints"]) => Route::WebhookList,
            ("POST", ["webhook_endpoints"]) => Route::WebhookCreate,
            ("GET", ["webhook_endpoints", w]) => Route::WebhookRetrieve(id(w)),
            ("POST", ["webhook_endpoints", w]) => Route::WebhookUpdate(id(w)),
            ("DELETE", ["webhook_endpoints", w]) => Route::WebhookDelete(id(w)),
            ("POST", ["billing_portal", "sessions"]) => Route::PortalSessionCreate,
            ("GET", ["billing_portal", "configurations"]) => Route::PortalConfigurationList,
            ("POST", ["billing_portal", "configurations"]) => Route::PortalConfigurationCreate,
            ("GET", ["billing_portal", "configurations", c]) => {
                Route::PortalConfigurationRetrieve(id(c))
            }
            ("POST", ["billing_portal", "configurations", c]) => {
                Route::PortalConfigurationUpdate(id(c))
            }
            _ => return None,
        })
    }

    /// The endpoint's allow-list.
    pub fn schema(&self) -> &'static P {
        match self {
            Route::Account => &al::ACCOUNT_RETRIEVE,
            Route::CustomerList => &al::CUSTOMER_LIST,
            Route::CustomerSearch => &al::CUSTOMER_SEARCH,
            Route::CustomerCreate => &al::CUSTOMER_CREATE,
            Route::CustomerRetrieve(_) => &al::CUSTOMER_RETRIEVE,
            Route::CustomerUpdate(_) => &al::CUSTOMER_UPDATE,
            Route::CustomerDelete(_) => &al::CUSTOMER_DELETE,
            Route::CustomerPaymentMethods(_) => &al::CUSTOMER_PAYMENT_METHODS_LIST,
            Route::CheckoutCreate => &al::CHECKOUT_SESSION_CREATE,
            Route::CheckoutRetrieve(_) => &al::CHECKOUT_SESSION_RETRIEVE,
            Route::CheckoutExpire(_) => &al::CHECKOUT_SESSION_EXPIRE,
            Route::SetupIntentRetrieve(_) => &al::SETUP_INTENT_RETRIEVE,
            Route::PaymentMethodRetrieve(_) => &al::PAYMENT_METHOD_RETRIEVE,
            Route::PaymentMethodDetach(_) => &al::PAYMENT_METHOD_DETACH,
            Route::EventRetrieve(_) => &al::EVENT_RETRIEVE,
            Route::WebhookList => &al::WEBHOOK_ENDPOINT_LIST,
            Route::WebhookCreate => &al::WEBHOOK_ENDPOINT_CREATE,
            Route::WebhookRetrieve(_) => &al::WEBHOOK_ENDPOINT_RETRIEVE,
            Route::WebhookUpdate(_) => &al::WEBHOOK_ENDPOINT_UPDATE,
            Route::WebhookDelete(_) => &al::WEBHOOK_ENDPOINT_DELETE,
            Route::PortalSessionCreate => &al::BILLING_PORTAL_SESSION_CREATE,
            Route::PortalConfigurationList => &al::BILLING_PORTAL_CONFIGURATION_LIST,
            Route::PortalConfigurationCreate => &al::BILLING_PORTAL_CONFIGURATION_CREATE,
            Route::PortalConfigurationRetrieve(_) => &al::BILLING_PORTAL_CONFIGURATION_RETRIEVE,
            Route::PortalConfigurationUpdate(_) => &al::BILLING_PORTAL_CONFIGURATION_UPDATE,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub account: String,
    pub livemode: bool,
    pub request_id: String,
    pub idempotency_key: Option<String>,
    /// Whether the request is read with endive's rules (see [`is_endive`]).
    pub endive: bool,
}

/// Whether a `Stripe-Version` is `2026-09-30.endive` or later. Without the header the fake
/// uses its account default, endive (the version async-stripe 1.0.0-rc.10 pins).
pub(crate) fn is_endive(version: Option<&str>) -> bool {
    version.is_none_or(|v| v.get(..10).is_some_and(|date| date >= "2026-09-30"))
}

/// Rejects, as unknown, the top-level parameters that the request's API version does not have.
pub(crate) fn version_gate(route: &Route, endive: bool, raw: &Value) -> Result<(), ApiError> {
    if *route != Route::CheckoutCreate {
        return Ok(());
    }
    let absent = if endive {
        al::CHECKOUT_SESSION_CREATE_DAHLIA_ONLY
    } else {
        al::CHECKOUT_SESSION_CREATE_ENDIVE_ONLY
    };
    match absent.iter().find(|name| raw.get(**name).is_some()) {
        Some(name) => Err(ApiError::unknown_param(name)),
        None => Ok(()),
    }
}

/// Runs an endpoint with validated, typed parameters.
pub(crate) fn execute(
    state: &mut State,
    ctx: &Ctx,
    route: &Route,
    p: &Value,
) -> Result<Value, ApiError> {
    let mut result = match route {
        Route::Account => {
            let created = state
                .accounts
                .get(&ctx.account)
                .copied()
                .unwrap_or_else(now);
            objects::account(&ctx.account, created)
        }
        Route::CustomerList => customer_list(state, ctx, p)?,
        Route::CustomerSearch => customer_search(state, ctx, p)?,
        Route::CustomerCreate => customer_create(state, ctx, p)?,
        Route::CustomerRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            if scope.deleted_customers.iter().any(|d| d == id) {
                objects::deleted(id, "customer")
            } else {
                find(&scope.customers, id)
                    .cloned()
                    .ok_or_else(|| ApiError::no_such(404, "customer", id, "id"))?
            }
        }
        Route::CustomerUpdate(id) => customer_update(state, ctx, id, p)?,
        Route::CustomerDelete(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            if scope.customer(id).is_none() {
                return Err(ApiError::no_such(404, "customer", id, "id"));
            }
            scope.deleted_customers.push(id.clone());
            if let Some(customer) = find(&scope.customers, id).cloned() {
                let event = Event::new(
                    &ctx.account,
                    ctx.livemode,
                    "customer.deleted",
                    customer,
                    Some((&ctx.request_id, ctx.idempotency_key.as_deref())),
                );
                scope.events.push(event.json().clone());
                state.events.push(event);
            }
            objects::deleted(id, "customer")
        }
        Route::CustomerPaymentMethods(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            if scope.customer(id).is_none() {
                return Err(ApiError::no_such(404, "customer", id, "customer"));
            }
            let type_filter = str_param(p, "type");
            let data: Vec<Value> = scope
                .payment_methods
                .iter()
                .rev()
                .filter(|pm| pm.get("customer").and_then(Value::as_str) == Some(id.as_str()))
                .filter(|pm| {
                    type_filter.is_none_or(|t| pm.get("type").and_then(Value::as_str) == Some(t))
                })
                .cloned()
                .collect();
            paginate(&format!("/v1/customers/{id}/payment_methods"), data, p)?
        }
        Route::CheckoutCreate => checkout_create(state, ctx, p)?,
        Route::CheckoutRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            find(&scope.checkout_sessions, id)
                .cloned()
                .ok_or_else(|| ApiError::no_such(404, "checkout.session", id, "session"))?
        }
        Route::CheckoutExpire(id) => checkout_expire(state, ctx, id)?,
        Route::SetupIntentRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let si = find(&scope.setup_intents, id)
                .cloned()
                .ok_or_else(|| ApiError::no_such(404, "setupintent", id, "intent"))?;
            if let Some(secret) = str_param(p, "client_secret")
                && si.get("client_secret").and_then(Value::as_str) != Some(secret)
            {
                return Err(ApiError::param(
                    None,
                    "client_secret",
                    "The client_secret provided does not match the client_secret associated with the SetupIntent.",
                ));
            }
            si
        }
        Route::PaymentMethodRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            find(&scope.payment_methods, id)
                .cloned()
                .ok_or_else(|| ApiError::no_such(404, "PaymentMethod", id, "payment_method"))?
        }
        Route::PaymentMethodDetach(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let Some(pm) = find_mut(&mut scope.payment_methods, id) else {
                return Err(ApiError::no_such(
                    404,
                    "PaymentMethod",
                    id,
                    "payment_method",
                ));
            };
            let previous = pm["customer"].clone();
            if previous.is_null() {
                return Err(ApiError::invalid(
                    "The payment method you provided is not attached to a customer so \
                     detachment is impossible.",
                ));
            }
            pm["customer"] = Value::Null;
            let detached = pm.clone();
            let event = Event::new(
                &ctx.account,
                ctx.livemode,
                "payment_method.detached",
                detached.clone(),
                Some((&ctx.request_id, ctx.idempotency_key.as_deref())),
            )
            .map_json(|v| v["data"]["previous_attributes"] = json!({"customer": previous}));
            scope.events.push(event.json().clone());
            state.events.push(event);
            detached
        }
        Route::EventRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            find(&scope.events, id)
                .cloned()
                .ok_or_else(|| ApiError::no_such(404, "event", id, "id"))?
        }
        Route::WebhookList => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let data: Vec<Value> = scope
                .webhook_endpoints
                .iter()
                .rev()
                .map(without_secret)
                .collect();
            paginate("/v1/webhook_endpoints", data, p)?
        }
        Route::WebhookCreate => webhook_create(state, ctx, p)?,
        Route::WebhookRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            find(&scope.webhook_endpoints, id)
                .map(without_secret)
                .ok_or_else(|| ApiError::no_such(404, "webhook endpoint", id, "webhook_endpoint"))?
        }
        Route::WebhookUpdate(id) => webhook_update(state, ctx, id, p)?,
        Route::WebhookDelete(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let before = scope.webhook_endpoints.len();
            scope
                .webhook_endpoints
                .retain(|w| w.get("id").and_then(Value::as_str) != Some(id.as_str()));
            if scope.webhook_endpoints.len() == before {
                return Err(ApiError::no_such(
                    404,
                    "webhook endpoint",
                    id,
                    "webhook_endpoint",
                ));
            }
            objects::deleted(id, "webhook_endpoint")
        }
        Route::PortalSessionCreate => portal_session_create(state, ctx, p)?,
        Route::PortalConfigurationList => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let flag = |name: &str| p.get(name).and_then(Value::as_bool);
            let (active, is_default) = (flag("active"), flag("is_default"));
            let data: Vec<Value> = scope
                .portal_configurations
                .iter()
                .rev()
                .filter(|c| active.is_none_or(|a| c["active"] == a))
                .filter(|c| is_default.is_none_or(|d| c["is_default"] == d))
                .cloned()
                .collect();
            paginate("/v1/billing_portal/configurations", data, p)?
        }
        Route::PortalConfigurationCreate => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let id = new_id("bpc_", 24);
            let mut configuration =
                objects::portal_configuration(&id, ctx.livemode, now(), false, &json!({}));
            objects::update_portal_configuration(&mut configuration, p)?;
            scope.portal_configurations.push(configuration.clone());
            configuration
        }
        Route::PortalConfigurationRetrieve(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            find(&scope.portal_configurations, id)
                .cloned()
                .ok_or_else(|| ApiError::no_such(404, "configuration", id, "configuration"))?
        }
        Route::PortalConfigurationUpdate(id) => {
            let scope = state.scope_mut(&ctx.account, ctx.livemode);
            let Some(configuration) = find_mut(&mut scope.portal_configurations, id) else {
                return Err(ApiError::no_such(404, "configuration", id, "configuration"));
            };
            let mut updated = configuration.clone();
            objects::update_portal_configuration(&mut updated, p)?;
            if updated["is_default"] == true && updated["active"] == false {
                return Err(ApiError::param(
                    None,
                    "active",
                    "The default configuration cannot be deactivated.",
                ));
            }
            updated["updated"] = json!(now());
            *configuration = updated.clone();
            updated
        }
    };
    let paths = expand_paths(p);
    if !paths.is_empty() {
        let scope = state.scope_mut(&ctx.account, ctx.livemode);
        expand(scope, &mut result, &paths)?;
    }
    Ok(result)
}

fn without_secret(endpoint: &Value) -> Value {
    let mut out = endpoint.clone();
    if let Value::Object(map) = &mut out {
        map.remove("secret");
    }
    out
}

/// A page's `limit`: 1..=100, default 10.
fn page_limit(p: &Value) -> Result<usize, ApiError> {
    let limit = p.get("limit").and_then(Value::as_i64).unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::param(
            None,
            "limit",
            "This value must be greater than or equal to 1 and less than or equal to 100.",
        ));
    }
    Ok(usize::try_from(limit).unwrap_or(10))
}

/// A list page: `limit` (1..=100, default 10) and `starting_after` / `ending_before` cursors
/// over `data`, which is newest first.
fn paginate(url: &str, data: Vec<Value>, p: &Value) -> Result<Value, ApiError> {
    let limit = page_limit(p)?;
    let position = |cursor: &str, param: &str| {
        data.iter()
            .position(|o| o.get("id").and_then(Value::as_str) == Some(cursor))
            .ok_or_else(|| ApiError::no_such(400, "object", cursor, param))
    };
    let (start, end) = if let Some(cursor) = str_param(p, "starting_after") {
        let start = position(cursor, "starting_after")? + 1;
        (start, (start + limit).min(data.len()))
    } else if let Some(cursor) = str_param(p, "ending_before") {
        let end = position(cursor, "ending_before")?;
        (end.saturating_sub(limit), end)
    } else {
        (0, limit.min(data.len()))
    };
    let has_more = end < data.len();
    Ok(objects::list(url, data[start..end].to_vec(), has_more))
}

fn customer_list(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    let email = str_param(p, "email");
    let created = p.get("created");
    let data: Vec<Value> = scope
        .customers
        .iter()
        .rev()
        .filter(|c| {
            let id = c.get("id").and_then(Value::as_str).unwrap_or("");
            !scope.deleted_customers.iter().any(|d| d == id)
        })
        .filter(|c| email.is_none_or(|e| c.get("email").and_then(Value::as_str) == Some(e)))
        .filter(|c| {
            let t = c.get("created").and_then(Value::as_i64).unwrap_or(0);
            match created {
                Some(Value::Number(n)) => n.as_i64() == Some(t),
                Some(Value::Object(range)) => {
                    let bound = |k: &str| range.get(k).and_then(Value::as_i64);
                    bound("gt").is_none_or(|b| t > b)
                        && bound("gte").is_none_or(|b| t >= b)
                        && bound("lt").is_none_or(|b| t < b)
                        && bound("lte").is_none_or(|b| t <= b)
                }
                _ => true,
            }
        })
        .cloned()
        .collect();
    paginate("/v1/customers", data, p)
}

/// Checks that a payment method exists and may become `customer`'s default.
/// `GET /v1/customers/search`: the live customers matching `query`, newest first, in pages of
/// `limit` (1..=100, default 10) continued by the opaque `page` token of `next_page`.
fn customer_search(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let query = crate::search::Query::parse(str_param(p, "query").unwrap_or(""))?;
    let limit = page_limit(p)?;
    let start = match str_param(p, "page") {
        None => 0,
        Some(page) => page
            .strip_prefix("page_")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::param(None, "page", "Invalid page token."))?,
    };
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    let hits: Vec<Value> = scope
        .customers
        .iter()
        .rev()
        .filter(|c| {
            let id = c.get("id").and_then(Value::as_str).unwrap_or("");
            scope.customer(id).is_some() && query.matches(c)
        })
        .cloned()
        .collect();
    let end = (start + limit).min(hits.len());
    let has_more = end < hits.len();
    let mut result = json!({
        "object": "search_result",
        "data": hits.get(start..end).map(<[Value]>::to_vec).unwrap_or_default(),
        "has_more": has_more,
        "next_page": if has_more { json!(format!("page_{end}")) } else { Value::Null },
        "url": "/v1/customers/search",
    });
    // Stripe counts only when asked: `expand[]=total_count`.
    if expand_paths(p).iter().any(|e| e == "total_count") {
        result["total_count"] = json!(hits.len());
    }
    Ok(result)
}

fn check_default_payment_method(
    scope: &Scope,
    customer: Option<&str>,
    pm: &str,
    param: &str,
) -> Result<(), ApiError> {
    let Some(found) = find(&scope.payment_methods, pm) else {
        return Err(ApiError::no_such(400, "PaymentMethod", pm, param));
    };
    let owner = found.get("customer").and_then(Value::as_str);
    if customer.is_none() || owner != customer {
        return Err(ApiError::param(
            None,
            param,
            format!(
                "The customer does not have a payment method with the ID {pm}. The payment method \
                 must be attached to the customer."
            ),
        ));
    }
    Ok(())
}

fn customer_create(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    if let Some(email) = str_param(p, "email")
        && !is_valid_email(email)
    {
        return Err(ApiError::param(
            Some("email_invalid"),
            "email",
            format!("Invalid email address: {email}"),
        ));
    }
    let id = new_id("cus_", 14);
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    let attach = str_param(p, "payment_method");
    if let Some(pm) = attach {
        match find(&scope.payment_methods, pm) {
            None => {
                return Err(ApiError::no_such(
                    400,
                    "PaymentMethod",
                    pm,
                    "payment_method",
                ));
            }
            Some(found) if !found.get("customer").is_none_or(Value::is_null) => {
                return Err(ApiError::param(
                    None,
                    "payment_method",
                    format!(
                        "The payment method you provided has already been attached to a customer: {pm}."
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(default) = p
        .get("invoice_settings")
        .and_then(|s| str_param(s, "default_payment_method"))
        && attach != Some(default)
    {
        check_default_payment_method(
            scope,
            None,
            default,
            "invoice_settings[default_payment_method]",
        )?;
    }
    if let Some(pm) = attach
        && let Some(found) = find_mut(&mut scope.payment_methods, pm)
    {
        found["customer"] = json!(id);
    }
    let customer = objects::customer(&id, ctx.livemode, now(), p);
    scope.customers.push(customer.clone());
    Ok(customer)
}

fn customer_update(state: &mut State, ctx: &Ctx, id: &str, p: &Value) -> Result<Value, ApiError> {
    if let Some(email) = str_param(p, "email")
        && !is_valid_email(email)
    {
        return Err(ApiError::param(
            Some("email_invalid"),
            "email",
            format!("Invalid email address: {email}"),
        ));
    }
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    if scope.customer(id).is_none() {
        return Err(ApiError::no_such(404, "customer", id, "id"));
    }
    if let Some(default) = p
        .get("invoice_settings")
        .and_then(|s| str_param(s, "default_payment_method"))
    {
        check_default_payment_method(
            scope,
            Some(id),
            default,
            "invoice_settings[default_payment_method]",
        )?;
    }
    let Some(customer) = find_mut(&mut scope.customers, id) else {
        return Err(ApiError::no_such(404, "customer", id, "id"));
    };
    let before = customer.clone();
    for key in [
        "name",
        "email",
        "phone",
        "description",
        "business_name",
        "individual_name",
        "invoice_prefix",
    ] {
        if let Some(v) = p.get(key) {
            customer[key] = if v.as_str() == Some("") {
                Value::Null
            } else {
                v.clone()
            };
        }
    }
    for key in [
        "balance",
        "next_invoice_sequence",
        "preferred_locales",
        "tax_exempt",
    ] {
        if let Some(v) = p.get(key) {
            customer[key] = v.clone();
        }
    }
    if let Some(a) = p.get("address") {
        customer["address"] = objects::address(Some(a));
    }
    if let Some(m) = p.get("metadata") {
        update_metadata(&mut customer["metadata"], m);
    }
    if let Some(settings) = p.get("invoice_settings") {
        if let Some(default) = settings.get("default_payment_method") {
            customer["invoice_settings"]["default_payment_method"] = default.clone();
        }
        if let Some(footer) = settings.get("footer") {
            customer["invoice_settings"]["footer"] = footer.clone();
        }
    }
    let after = customer.clone();
    // Stripe emits `customer.updated` for a change, with the previous values of what changed.
    let previous: serde_json::Map<String, Value> = before
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| after.get(k.as_str()) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !previous.is_empty() {
        let event = Event::new(
            &ctx.account,
            ctx.livemode,
            "customer.updated",
            after.clone(),
            Some((&ctx.request_id, ctx.idempotency_key.as_deref())),
        )
        .map_json(|v| v["data"]["previous_attributes"] = Value::Object(previous));
        scope.events.push(event.json().clone());
        state.events.push(event);
    }
    Ok(after)
}

fn parameter_mode_error(param: &str, mode: &str) -> ApiError {
    ApiError::param(
        None,
        param,
        format!("You can only specify `{param}` in `{mode}` mode."),
    )
}

/// The rules of `POST /v1/checkout/sessions` across parameters, checked before anything is
/// created.
fn checkout_rules(scope: &Scope, p: &Value, now: i64, endive: bool) -> Result<(), ApiError> {
    // `mode` is optional in the generated tables but Stripe requires it.
    let Some(mode) = str_param(p, "mode") else {
        return Err(ApiError::missing_param("mode"));
    };
    let ui_mode = str_param(p, "ui_mode").unwrap_or("hosted_page");
    let has = |k: &str| p.get(k).is_some_and(|v| v.as_str() != Some(""));

    if let Some(customer) = str_param(p, "customer") {
        if scope.customer(customer).is_none() {
            return Err(ApiError::no_such(400, "customer", customer, "customer"));
        }
        if has("customer_email") {
            return Err(ApiError::param(
                Some("parameters_exclusive"),
                "customer_email",
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
    } else if has("customer_update") {
        return Err(ApiError::param(
            None,
            "customer_update",
            "`customer_update` can only be used with `customer`.",
        ));
    }
    if let Some(email) = str_param(p, "customer_email")
        && !is_valid_email(email)
    {
        return Err(ApiError::param(
            Some("email_invalid"),
            "customer_email",
            format!("Invalid email address: {email}"),
        ));
    }

    for (param, only) in [
        ("payment_intent_data", "payment"),
        ("customer_creation", "payment"),
        ("subscription_data", "subscription"),
        ("setup_intent_data", "setup"),
    ] {
        if has(param) && mode != only {
            return Err(parameter_mode_error(param, only));
        }
    }
    match mode {
        // Endive has no `payment_method_types` to stand in for `currency`
        // (`allowed_payment_method_types` only filters the dynamic set, which needs it).
        "setup" if endive => {
            if !has("currency") {
                return Err(ApiError::param(
                    Some("parameter_missing"),
                    "currency",
                    "Missing required param: currency. `currency` is required in `setup` mode.",
                ));
            }
        }
        "setup" => {
            if !has("currency") && !has("payment_method_types") {
                return Err(ApiError::param(
                    Some("parameter_missing"),
                    "currency",
                    "Missing required param: currency. `currency` is required in `setup` mode \
                     when `payment_method_types` is not set.",
                ));
            }
        }
        _ => {
            let line_items = p.get("line_items").and_then(Value::as_array);
            if line_items.is_none_or(Vec::is_empty) {
                return Err(ApiError::missing_param("line_items"));
            }
        }
    }
    if let Some(currency) = str_param(p, "currency")
        && !CURRENCIES.contains(&currency.to_ascii_lowercase().as_str())
    {
        return Err(ApiError::param(
            None,
            "currency",
            format!(
                "Invalid currency: {currency}. Stripe currently supports these currencies: {}",
                CURRENCIES.join(", ")
            ),
        ));
    }

    for param in ["success_url", "cancel_url", "return_url"] {
        if let Some(url) = str_param(p, param)
            && !is_valid_url(url)
        {
            return Err(ApiError::param(
                Some("url_invalid"),
                param,
                "Not a valid URL",
            ));
        }
    }
    if ui_mode == "hosted_page" {
        for param in ["return_url", "redirect_on_completion"] {
            if has(param) {
                return Err(ApiError::param(
                    None,
                    param,
                    format!(
                        "`{param}` can only be used when `ui_mode` is `embedded_page`, `elements` \
                         or `form`."
                    ),
                ));
            }
        }
        if !has("success_url") {
            return Err(ApiError::missing_param("success_url"));
        }
    } else {
        for param in ["success_url", "cancel_url"] {
            if has(param) {
                return Err(ApiError::param(
                    None,
                    param,
                    format!(
                        "`{param}` cannot be used with `ui_mode: {ui_mode}`. Use `return_url` \
                         instead."
                    ),
                ));
            }
        }
        let never = str_param(p, "redirect_on_completion") == Some("never");
        if never && has("return_url") {
            return Err(ApiError::param(
                None,
                "return_url",
                "`return_url` cannot be used when `redirect_on_completion` is `never`.",
            ));
        }
        if !never && !has("return_url") {
            return Err(ApiError::missing_param("return_url"));
        }
    }

    if let Some(expires_at) = p.get("expires_at").and_then(Value::as_i64) {
        if expires_at - now < 30 * 60 {
            return Err(ApiError::param(
                None,
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            ));
        }
        if expires_at - now > 24 * 60 * 60 {
            return Err(ApiError::param(
                None,
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            ));
        }
    }
    if let Some(reference) = str_param(p, "client_reference_id")
        && reference.chars().count() > 200
    {
        return Err(ApiError::param(
            None,
            "client_reference_id",
            "Invalid client_reference_id: must be at most 200 characters",
        ));
    }
    if let Some(Value::Object(texts)) = p.get("custom_text") {
        for (position, text) in texts {
            if let Some(message) = text.get("message").and_then(Value::as_str)
                && message.chars().count() > 1200
            {
                let param = format!("custom_text[{position}][message]");
                return Err(ApiError::param(
                    None,
                    &param,
                    format!("Invalid {param}: must be at most 1200 characters"),
                ));
            }
        }
    }
    Ok(())
}

fn checkout_create(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let created = now();
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    checkout_rules(scope, p, created, ctx.endive)?;

    let mode = str_param(p, "mode").unwrap_or("setup");
    let ui_mode = str_param(p, "ui_mode").unwrap_or("hosted_page");
    let hosted = ui_mode == "hosted_page";
    let id = new_id(if ctx.livemode { "cs_live_" } else { "cs_test_" }, 58);
    let customer = str_param(p, "customer");
    let given_types = p
        .get("payment_method_types")
        .or_else(|| p.get("allowed_payment_method_types"))
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let pm_types_given = given_types.is_some();
    let payment_method_types = given_types.cloned().unwrap_or_else(|| json!(["card"]));

    let setup_intent_id = (mode == "setup").then(|| new_id("seti_", 24));
    if let Some(si_id) = &setup_intent_id {
        let si = objects::setup_intent(&SetupIntentInput {
            id: si_id,
            livemode: ctx.livemode,
            created,
            customer,
            payment_method_types: payment_method_types.clone(),
            data: p.get("setup_intent_data"),
        });
        scope.setup_intents.push(si);
    }

    let message = |position: &str| {
        p.pointer(&format!("/custom_text/{position}/message"))
            .and_then(Value::as_str)
            .map_or(Value::Null, |m| json!({"message": m}))
    };
    let consent_collection = p
        .get("consent_collection")
        .filter(|v| v.is_object())
        .map_or(Value::Null, |c| {
            json!({
                "payment_method_reuse_agreement": c
                    .pointer("/payment_method_reuse_agreement/position")
                    .map_or(Value::Null, |pos| json!({"position": pos})),
                "promotions": str_or_null(c, "promotions"),
                "terms_of_service": str_or_null(c, "terms_of_service"),
            })
        });
    let tax_id_collection = json!({
        "enabled": p.pointer("/tax_id_collection/enabled").cloned().unwrap_or(json!(false)),
        "required": p
            .pointer("/tax_id_collection/required")
            .cloned()
            .unwrap_or(json!("never")),
    });
    let redirect_on_completion = match str_param(p, "redirect_on_completion") {
        Some(r) => json!(r),
        None if hosted => Value::Null,
        None => json!("always"),
    };
    let invoice_creation = if mode == "payment" {
        json!({
            "enabled": p.pointer("/invoice_creation/enabled").cloned().unwrap_or(json!(false)),
            "invoice_data": {
                "account_tax_ids": null, "custom_fields": null, "description": null,
                "footer": null, "issuer": null, "metadata": {}, "rendering_options": null
            }
        })
    } else {
        Value::Null
    };
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": p.get("adaptive_pricing").cloned().unwrap_or(Value::Null),
        "after_expiration": null,
        "allow_promotion_codes": p.get("allow_promotion_codes").cloned().unwrap_or(Value::Null),
        "amount_subtotal": null,
        "amount_total": null,
        "automatic_tax": {
            "enabled": p.pointer("/automatic_tax/enabled").cloned().unwrap_or(json!(false)),
            "liability": null,
            "provider": null,
            "status": null
        },
        "billing_address_collection": str_or_null(p, "billing_address_collection"),
        "branding_settings": null,
        "cancel_url": str_or_null(p, "cancel_url"),
        "client_reference_id": str_or_null(p, "client_reference_id"),
        "client_secret": if hosted {
            Value::Null
        } else {
            json!(format!("{id}_secret_{}", objects::random_alnum(24)))
        },
        "collected_information": null,
        "consent": null,
        "consent_collection": consent_collection,
        "created": created,
        "currency": str_param(p, "currency").map_or(Value::Null, |c| json!(c.to_ascii_lowercase())),
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {
            "after_submit": message("after_submit"),
            "shipping_address": message("shipping_address"),
            "submit": message("submit"),
            "terms_of_service_acceptance": message("terms_of_service_acceptance")
        },
        "customer": customer,
        "customer_account": null,
        "customer_creation": str_or_null(p, "customer_creation"),
        "customer_details": null,
        "customer_email": str_or_null(p, "customer_email"),
        "discounts": null,
        "excluded_payment_method_types": p.get("excluded_payment_method_types").cloned().unwrap_or(Value::Null),
        "expires_at": p.get("expires_at").and_then(Value::as_i64).unwrap_or(created + 24 * 60 * 60),
        "integration_identifier": str_or_null(p, "integration_identifier"),
        "invoice": null,
        "invoice_creation": invoice_creation,
        "livemode": ctx.livemode,
        "locale": str_or_null(p, "locale"),
        "managed_payments": null,
        "metadata": metadata(p.get("metadata")),
        "mode": mode,
        "name_collection": null,
        "optional_items": null,
        "origin_context": str_or_null(p, "origin_context"),
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": str_param(p, "payment_method_collection").unwrap_or("always"),
        "payment_method_configuration_details": if pm_types_given {
            Value::Null
        } else {
            json!({"id": new_id("pmc_", 24), "parent": null})
        },
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
        "permissions": null,
        "phone_number_collection": {
            "enabled": p.pointer("/phone_number_collection/enabled").cloned().unwrap_or(json!(false))
        },
        "recovered_from": null,
        "redirect_on_completion": redirect_on_completion,
        "return_url": str_or_null(p, "return_url"),
        "saved_payment_method_options": null,
        "setup_intent": setup_intent_id,
        "shipping_address_collection": p.get("shipping_address_collection").cloned().unwrap_or(Value::Null),
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": str_or_null(p, "submit_type"),
        "subscription": null,
        "success_url": str_or_null(p, "success_url"),
        "tax_id_collection": tax_id_collection,
        "total_details": null,
        "ui_mode": ui_mode,
        "url": if hosted {
            json!(format!("https://checkout.stripe.com/c/pay/{id}"))
        } else {
            Value::Null
        },
        "wallet_options": null
    });
    if let Some(update) = p.get("customer_update") {
        scope
            .session_customer_update
            .insert(id.clone(), update.clone());
    }
    scope.checkout_sessions.push(session.clone());
    Ok(session)
}

fn checkout_expire(state: &mut State, ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    let Some(session) = find_mut(&mut scope.checkout_sessions, id) else {
        return Err(ApiError::no_such(404, "checkout.session", id, "session"));
    };
    let status = session.get("status").and_then(Value::as_str).unwrap_or("");
    if status != "open" {
        return Err(ApiError::invalid(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout \
             Session has a status of \"{status}\"."
        ))
        .executed());
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    let session = session.clone();
    let event = Event::new(
        &ctx.account,
        ctx.livemode,
        "checkout.session.expired",
        session.clone(),
        Some((&ctx.request_id, ctx.idempotency_key.as_deref())),
    );
    scope.events.push(event.json().clone());
    state.events.push(event);
    Ok(session)
}

/// Webhook endpoints one account may have per mode, as at Stripe.
const MAX_WEBHOOK_ENDPOINTS: usize = 16;

/// `POST /v1/billing_portal/sessions`: the customer must exist (and not be deleted), the
/// configuration must exist, or without one the account must have a default configuration
/// (Stripe's error otherwise, which a fresh account gets until its portal settings are saved).
fn portal_session_create(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    if str_param(p, "customer_account").is_some() {
        return Err(ApiError::param(
            None,
            "customer_account",
            "The fake does not model Accounts v2: pass customer instead.",
        ));
    }
    let Some(customer) = str_param(p, "customer") else {
        return Err(ApiError::missing_param("customer"));
    };
    if scope.customer(customer).is_none() {
        return Err(ApiError::no_such(400, "customer", customer, "customer"));
    }
    let configuration = match str_param(p, "configuration") {
        Some(id) => find(&scope.portal_configurations, id)
            .cloned()
            .ok_or_else(|| ApiError::no_such(400, "configuration", id, "configuration"))?,
        None => scope
            .portal_configurations
            .iter()
            .find(|c| c.get("is_default").and_then(Value::as_bool) == Some(true))
            .cloned()
            .ok_or_else(|| {
                let mode = if ctx.livemode { "live" } else { "test" };
                let dashboard = if ctx.livemode {
                    "https://dashboard.stripe.com/settings/billing/portal"
                } else {
                    "https://dashboard.stripe.com/test/settings/billing/portal"
                };
                ApiError::invalid(format!(
                    "No configuration provided and your {mode} mode default configuration has \
                     not been created. Provide a configuration or create your default by saving \
                     your customer portal settings in {mode} mode at {dashboard}."
                ))
            })?,
    };
    if configuration["active"] == false {
        return Err(ApiError::param(
            None,
            "configuration",
            "You can't create a portal session with an inactive configuration.",
        ));
    }
    if let Some(url) = str_param(p, "return_url")
        && !is_valid_url(url)
    {
        return Err(ApiError::param(
            Some("url_invalid"),
            "return_url",
            "Not a valid URL",
        ));
    }
    if let Some(on_behalf_of) = str_param(p, "on_behalf_of")
        && !on_behalf_of.starts_with("acct_")
    {
        return Err(ApiError::no_such(
            400,
            "account",
            on_behalf_of,
            "on_behalf_of",
        ));
    }
    let return_url = match str_param(p, "return_url") {
        Some(url) => json!(url),
        None => configuration
            .get("default_return_url")
            .cloned()
            .unwrap_or(Value::Null),
    };
    let secret = objects::random_alnum(24);
    let session = json!({
        "id": new_id("bps_", 24),
        "object": "billing_portal.session",
        "configuration": configuration.get("id").cloned().unwrap_or(Value::Null),
        "created": now(),
        "customer": customer,
        "customer_account": null,
        "flow": null,
        "livemode": ctx.livemode,
        "locale": str_or_null(p, "locale"),
        "on_behalf_of": str_or_null(p, "on_behalf_of"),
        "return_url": return_url,
        "url": format!(
            "https://billing.stripe.com/p/session/{}{secret}",
            if ctx.livemode { "live_" } else { "test_" }
        ),
    });
    scope.portal_sessions.push(session.clone());
    Ok(session)
}

fn check_webhook_url(url: &str, livemode: bool) -> Result<(), ApiError> {
    if !is_valid_url(url) {
        return Err(ApiError::param(
            Some("url_invalid"),
            "url",
            format!("Invalid URL: {url}"),
        ));
    }
    if livemode && !url.starts_with("https://") {
        return Err(ApiError::param(
            Some("url_invalid"),
            "url",
            format!("Invalid URL: {url}. Live mode webhook endpoints must use HTTPS."),
        ));
    }
    Ok(())
}

fn webhook_create(state: &mut State, ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    check_webhook_url(str_param(p, "url").unwrap_or(""), ctx.livemode)?;
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    if scope.webhook_endpoints.len() >= MAX_WEBHOOK_ENDPOINTS {
        return Err(ApiError::invalid(format!(
            "You have reached the maximum of {MAX_WEBHOOK_ENDPOINTS} {} webhook endpoints.",
            if ctx.livemode { "live" } else { "test" }
        )));
    }
    let endpoint = objects::webhook_endpoint(&new_id("we_", 24), ctx.livemode, now(), p);
    scope.webhook_endpoints.push(endpoint.clone());
    Ok(endpoint)
}

fn webhook_update(state: &mut State, ctx: &Ctx, id: &str, p: &Value) -> Result<Value, ApiError> {
    if let Some(url) = str_param(p, "url") {
        check_webhook_url(url, ctx.livemode)?;
    }
    let scope = state.scope_mut(&ctx.account, ctx.livemode);
    let Some(endpoint) = find_mut(&mut scope.webhook_endpoints, id) else {
        return Err(ApiError::no_such(
            404,
            "webhook endpoint",
            id,
            "webhook_endpoint",
        ));
    };
    for key in ["url", "enabled_events"] {
        if let Some(v) = p.get(key) {
            endpoint[key] = v.clone();
        }
    }
    if let Some(v) = p.get("description") {
        endpoint["description"] = if v.as_str() == Some("") {
            Value::Null
        } else {
            v.clone()
        };
    }
    if let Some(m) = p.get("metadata") {
        update_metadata(&mut endpoint["metadata"], m);
    }
    if let Some(disabled) = p.get("disabled").and_then(Value::as_bool) {
        endpoint["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    Ok(without_secret(endpoint))
}

fn expand_paths(p: &Value) -> Vec<String> {
    p.get("expand")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of each object type that `expand[]` accepts.
fn expandable(object_type: &str) -> &'static [&'static str] {
    match object_type {
        "checkout.session" => &[
            "customer",
            "setup_intent",
            "payment_intent",
            "invoice",
            "subscription",
            "payment_link",
            "line_items",
        ],
        "setup_intent" => &[
            "customer",
            "payment_method",
            "latest_attempt",
            "mandate",
            "single_use_mandate",
            "on_behalf_of",
            "application",
        ],
        "payment_method" => &["customer"],
        "billing_portal.session" => &["configuration"],
        "billing_portal.configuration" => &["application"],
        "customer" => &[
            "default_source",
            "invoice_settings.default_payment_method",
            "test_clock",
        ],
        _ => &[],
    }
}

fn cannot_expand(path: &str) -> ApiError {
    ApiError::invalid(format!("This property cannot be expanded ({path})."))
}

fn expand(scope: &Scope, result: &mut Value, paths: &[String]) -> Result<(), ApiError> {
    let is_list = matches!(
        result.get("object").and_then(Value::as_str),
        Some("list" | "search_result")
    );
    let is_search = result.get("object").and_then(Value::as_str) == Some("search_result");
    for path in paths {
        if is_search && path == "total_count" {
            continue;
        }
        if is_list {
            let Some(inner) = path.strip_prefix("data.") else {
                return Err(cannot_expand(path));
            };
            if let Some(Value::Array(items)) = result.get_mut("data") {
                for item in items {
                    expand_one(scope, item, inner, path, 1)?;
                }
            }
        } else {
            expand_one(scope, result, path, path, 1)?;
        }
    }
    Ok(())
}

fn expand_one(
    scope: &Scope,
    object: &mut Value,
    path: &str,
    full: &str,
    depth: usize,
) -> Result<(), ApiError> {
    if depth > 4 {
        return Err(ApiError::invalid(format!(
            "You cannot expand more than 4 levels of a property ({full})."
        )));
    }
    let object_type = object.get("object").and_then(Value::as_str).unwrap_or("");
    let Some(field) = expandable(object_type)
        .iter()
        .filter(|f| path == **f || path.starts_with(&format!("{f}.")))
        .max_by_key(|f| f.len())
    else {
        return Err(cannot_expand(full));
    };
    let rest = path[field.len()..].strip_prefix('.');
    if *field == "line_items" {
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        object["line_items"] = objects::list(
            &format!("/v1/checkout/sessions/{id}/line_items"),
            Vec::new(),
            false,
        );
        return Ok(());
    }
    let pointer = format!("/{}", field.replace('.', "/"));
    let Some(slot) = object.pointer_mut(&pointer) else {
        return Ok(());
    };
    if let Value::String(id) = slot
        && let Some(found) = scope.object(id)
    {
        *slot = found;
    }
    match rest {
        Some(rest) if slot.is_object() => expand_one(scope, slot, rest, full, depth + 1),
        _ => Ok(()),
    }
}

/// What the customer types into Checkout besides the card: the cardholder name and the billing
/// address (Checkout asks for all of it with `billing_address_collection=required`, else only
/// the country and postal code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnteredDetails {
    /// Name on the card.
    pub name: Option<String>,
    /// ISO country code.
    pub country: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// City.
    pub city: Option<String>,
    /// First line.
    pub line1: Option<String>,
    /// Second line.
    pub line2: Option<String>,
}

impl EnteredDetails {
    /// The address Checkout keeps: all of it when the session required a full billing address,
    /// else the country and postal code only.
    fn address(&self, full: bool) -> Value {
        let part = |v: &Option<String>, kept: bool| match v {
            Some(v) if kept => json!(v),
            _ => Value::Null,
        };
        json!({
            "city": part(&self.city, full),
            "country": part(&self.country, true),
            "line1": part(&self.line1, full),
            "line2": part(&self.line2, full),
            "postal_code": part(&self.postal_code, true),
            "state": part(&self.state, full),
        })
    }
}

/// What Checkout does with what the customer entered: the payment method's `billing_details`
/// (name, and the address per `billing_address_collection`), and with
/// `customer_update[address]=auto` / `customer_update[name]=auto` the same on the Stripe
/// customer, announced by `customer.updated` with `previous_attributes`.
fn collect_details(
    scope: &mut Scope,
    session: &Value,
    payment_method: &str,
    entered: &EnteredDetails,
    account: &str,
    livemode: bool,
) -> Option<Event> {
    let full = session["billing_address_collection"] == "required";
    let address = entered.address(full);
    if let Some(pm) = find_mut(&mut scope.payment_methods, payment_method) {
        pm["billing_details"]["address"] = address.clone();
        pm["billing_details"]["name"] = entered.name.as_deref().map_or(Value::Null, Value::from);
    }
    let session_id = session["id"].as_str().unwrap_or("");
    let update = scope.session_customer_update.get(session_id).cloned()?;
    let customer_id = session.get("customer").and_then(Value::as_str)?;
    let customer = find_mut(&mut scope.customers, customer_id)?;
    let mut previous = serde_json::Map::new();
    if update["address"] == "auto" && customer["address"] != address {
        previous.insert("address".into(), customer["address"].clone());
        customer["address"] = address;
    }
    if update["name"] == "auto"
        && let Some(name) = &entered.name
        && customer["name"] != json!(name)
    {
        previous.insert("name".into(), customer["name"].clone());
        customer["name"] = json!(name);
    }
    if previous.is_empty() {
        return None;
    }
    let after = customer.clone();
    Some(
        Event::new(account, livemode, "customer.updated", after, None)
            .map_json(|v| v["data"]["previous_attributes"] = Value::Object(previous)),
    )
}

/// Completes an open Checkout Session as the customer would, with a payment method: the
/// session `complete`, its SetupIntent `succeeded`, the payment method attached to the
/// session's customer, and what the customer `entered` (if given) collected as Checkout does
/// (see [`collect_details`]). Returns the events Stripe sends.
pub(crate) fn complete_session(
    state: &mut State,
    session_id: &str,
    payment_method: &str,
    entered: Option<&EnteredDetails>,
) -> Result<Vec<Event>, String> {
    let (account, livemode) = state
        .locate(session_id)
        .ok_or_else(|| format!("no Checkout Session {session_id}"))?;
    let scope = state.scope_mut(&account, livemode);
    let session = find(&scope.checkout_sessions, session_id)
        .cloned()
        .ok_or_else(|| format!("no Checkout Session {session_id}"))?;
    if session["status"] != "open" {
        return Err(format!(
            "Checkout Session {session_id} is {}, not open",
            session["status"]
        ));
    }
    let customer = session
        .get("customer")
        .and_then(Value::as_str)
        .map(str::to_string);
    let pm = find_mut(&mut scope.payment_methods, payment_method).ok_or_else(|| {
        format!("no payment method {payment_method} in the session's account and mode")
    })?;
    if let Some(c) = &customer {
        match pm.get("customer").and_then(Value::as_str) {
            Some(owner) if owner != c => {
                return Err(format!(
                    "payment method {payment_method} belongs to another customer ({owner})"
                ));
            }
            _ => pm["customer"] = json!(c),
        }
    }
    let customer_obj = customer
        .as_deref()
        .and_then(|c| find(&scope.customers, c))
        .cloned();
    let email = customer_obj
        .as_ref()
        .and_then(|c| c.get("email").cloned())
        .filter(|e| !e.is_null())
        .unwrap_or_else(|| {
            session
                .get("customer_email")
                .cloned()
                .unwrap_or(Value::Null)
        });
    let mut events = Vec::new();
    if let Some(entered) = entered {
        events.extend(collect_details(
            scope,
            &session,
            payment_method,
            entered,
            &account,
            livemode,
        ));
    }
    if let Some(si_id) = session.get("setup_intent").and_then(Value::as_str)
        && let Some(si) = find_mut(&mut scope.setup_intents, si_id)
    {
        si["status"] = json!("succeeded");
        si["payment_method"] = json!(payment_method);
        si["latest_attempt"] = json!(new_id("setatt_", 24));
        events.push(Event::new(
            &account,
            livemode,
            "setup_intent.succeeded",
            si.clone(),
            None,
        ));
    }
    let Some(stored) = find_mut(&mut scope.checkout_sessions, session_id) else {
        return Err(format!("no Checkout Session {session_id}"));
    };
    stored["status"] = json!("complete");
    stored["url"] = Value::Null;
    stored["customer_details"] = json!({
        "address": customer_obj.as_ref().and_then(|c| c.get("address").cloned()).filter(|a| !a.is_null())
            .unwrap_or_else(objects::empty_address),
        "business_name": null,
        "email": email,
        "individual_name": null,
        "name": customer_obj.as_ref().and_then(|c| c.get("name").cloned()).unwrap_or(Value::Null),
        "phone": customer_obj.as_ref().and_then(|c| c.get("phone").cloned()).unwrap_or(Value::Null),
        "tax_exempt": "none",
        "tax_ids": []
    });
    events.push(Event::new(
        &account,
        livemode,
        "checkout.session.completed",
        stored.clone(),
        None,
    ));
    for e in &events {
        scope.events.push(e.json().clone());
    }
    state.events.extend(events.iter().cloned());
    Ok(events)
}

/// The session id of the fake's own control URL `POST /_fake/checkout/sessions/{id}/complete`
/// (not a Stripe endpoint: the standalone binary's stand-in for a customer completing Checkout).
pub(crate) fn control_complete_path<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    let id = path
        .strip_prefix("/_fake/checkout/sessions/")?
        .strip_suffix("/complete")?;
    (method == "POST" && !id.is_empty() && !id.contains('/')).then_some(id)
}

/// `POST /_fake/checkout/sessions/{id}/complete` with the key of the session's account: a new
/// card (or `payment_method`, one of the account's) completes the session with what the
/// customer typed (`name`, `address[country]`, `address[postal_code]`, `address[state]`,
/// `address[city]`, `address[line1]`, `address[line2]`), as
/// [`crate::FakeStripe::complete_checkout_session_with`] does. Answers the payment method id
/// and the events emitted (the standalone binary delivers them to the webhook endpoints).
pub(crate) fn control_complete(
    state: &mut State,
    account: &str,
    livemode: bool,
    session_id: &str,
    p: &Value,
) -> Result<Value, ApiError> {
    let known = ["name", "address", "payment_method"];
    if let Some(unknown) = p
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        return Err(ApiError::unknown_param(unknown));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let address = |part: &str| text(p.pointer(&format!("/address/{part}")));
    let entered = EnteredDetails {
        name: text(p.get("name")),
        country: address("country"),
        postal_code: address("postal_code"),
        state: address("state"),
        city: address("city"),
        line1: address("line1"),
        line2: address("line2"),
    };
    let scope = state.scope_mut(account, livemode);
    let session = find(&scope.checkout_sessions, session_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such(404, "checkout.session", session_id, "session"))?;
    let customer = session.get("customer").and_then(Value::as_str);
    let payment_method = match text(p.get("payment_method")) {
        Some(pm) => pm,
        None => {
            let pm = new_id("pm_", 24);
            scope
                .payment_methods
                .push(objects::payment_method(&pm, livemode, now(), customer));
            pm
        }
    };
    let events = complete_session(state, session_id, &payment_method, Some(&entered))
        .map_err(ApiError::invalid)?;
    Ok(json!({
        "payment_method": payment_method,
        "events": events.iter().map(|e| e.json().clone()).collect::<Vec<_>>(),
    }))
}

/// Expires an open Checkout Session as Stripe does when `expires_at` passes; returns the
/// `checkout.session.expired` event.
pub(crate) fn expire_session(state: &mut State, session_id: &str) -> Result<Event, String> {
    let (account, livemode) = state
        .locate(session_id)
        .ok_or_else(|| format!("no Checkout Session {session_id}"))?;
    let scope = state.scope_mut(&account, livemode);
    let session = find_mut(&mut scope.checkout_sessions, session_id)
        .ok_or_else(|| format!("no Checkout Session {session_id}"))?;
    if session["status"] != "open" {
        return Err(format!(
            "Checkout Session {session_id} is {}, not open",
            session["status"]
        ));
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    let event = Event::new(
        &account,
        livemode,
        "checkout.session.expired",
        session.clone(),
        None,
    );
    scope.events.push(event.json().clone());
    state.events.push(event.clone());
    Ok(event)
}

/// A failed attempt on the SetupIntent of a Checkout Session (card declined): the intent goes
/// back to `requires_payment_method` with `last_setup_error`; returns
/// `setup_intent.setup_failed`.
pub(crate) fn fail_setup(state: &mut State, session_id: &str) -> Result<Event, String> {
    let (account, livemode) = state
        .locate(session_id)
        .ok_or_else(|| format!("no Checkout Session {session_id}"))?;
    let scope = state.scope_mut(&account, livemode);
    let si_id = find(&scope.checkout_sessions, session_id)
        .and_then(|s| s.get("setup_intent"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("Checkout Session {session_id} has no SetupIntent"))?;
    let si = find_mut(&mut scope.setup_intents, &si_id)
        .ok_or_else(|| format!("no SetupIntent {si_id}"))?;
    si["status"] = json!("requires_payment_method");
    si["last_setup_error"] = json!({
        "code": "card_declined",
        "decline_code": "generic_decline",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": "Your card was declined.",
        "type": "card_error"
    });
    let event = Event::new(
        &account,
        livemode,
        "setup_intent.setup_failed",
        si.clone(),
        None,
    );
    scope.events.push(event.json().clone());
    state.events.push(event.clone());
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("GET", "/v1/account"), Some(Route::Account));
        assert_eq!(
            Route::parse("POST", "/v1/checkout/sessions/cs_1/expire"),
            Some(Route::CheckoutExpire("cs_1".into()))
        );
        assert_eq!(
            Route::parse("POST", "/v1/billing_portal/sessions"),
            Some(Route::PortalSessionCreate)
        );
        assert_eq!(Route::parse("GET", "/v1/billing_portal/sessions"), None);
        assert_eq!(Route::parse("PUT", "/v1/customers"), None);
        assert_eq!(Route::parse("GET", "/v1/customers/"), None);
        assert_eq!(Route::parse("GET", "/v2/customers"), None);
        assert_eq!(Route::parse("GET", "/v1/xyz"), None);
    }

    #[test]
    fn versions() {
        assert!(is_endive(Some("2026-09-30.endive")));
        assert!(is_endive(None));
        assert!(!is_endive(Some("2026-06-24.dahlia")));
        assert!(!is_endive(Some("2026-02-25.clover")));
        assert!(!is_endive(Some("garbage")));
    }
}
