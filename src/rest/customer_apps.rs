//! Customer app data: `GET/PUT /customers/{idOrKey}/apps`, `DELETE .../apps/{appId}`, the
//! `/customers/{idOrKey}/stripe` shortcut and `POST .../stripe/portal`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::apps::{app_id, app_json};
use super::customers::{id_or_key, put_opt, rfc3339};
use super::json::{self, Object};
use super::problem::Problem;
use super::{
    JsonBody, QueryParams, RestResult, RestState, Tenant, deadline, invalid, numbered_json,
    unparsed,
};
use crate::domain::app::parse_stripe_id;
use crate::domain::error::Violations;
use crate::domain::portal::{PortalOptions, PortalSession};
use crate::domain::values::ResourceId;
use crate::domain::{Error, FieldViolation};
use crate::service::customer_apps::{CustomerAppInput, EntryWithApp};

/// OpenMeter's `StripeCustomerAppData`.
pub fn entry_json((entry, app): EntryWithApp) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(entry.app_id));
    out.insert("type".into(), json!("stripe"));
    out.insert("stripeCustomerId".into(), json!(entry.stripe_customer_id));
    put_opt(
        &mut out,
        "stripeDefaultPaymentMethodId",
        entry.stripe_default_payment_method_id,
    );
    out.insert("app".into(), app_json(app));
    Value::Object(out)
}

/// The Stripe fields of one item at `o`: (stripeCustomerId, stripeDefaultPaymentMethodId).
fn stripe_ids(v: &mut Violations, o: &Object) -> Option<(String, Option<String>)> {
    let customer = match o.string(v, "stripeCustomerId") {
        Some(raw) => v.check(parse_stripe_id(&o.path("stripeCustomerId"), raw, "cus_")),
        None => {
            v.add(o.path("stripeCustomerId"), "is required");
            None
        }
    };
    let pm = match o.text(v, "stripeDefaultPaymentMethodId") {
        "" => None,
        raw => v.check(parse_stripe_id(
            &o.path("stripeDefaultPaymentMethodId"),
            raw,
            "pm_",
        )),
    };
    Some((customer?, pm))
}

/// GET /api/v1/customers/{customerIdOrKey}/apps: `{totalCount, page, pageSize, items}`.
pub async fn list(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    q: QueryParams,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let mut v = Violations::new();
    let numbered = q.numbered(&mut v);
    if let Some(kind) = q.get("type")
        && kind != "stripe"
    {
        v.add("type", "patron serves stripe apps only");
    }
    v.finish()?;
    let numbered = numbered.ok_or_else(|| unparsed("page"))?;
    let entries = s.services.customer_apps.list(&ns, &lookup).await?;
    let total = entries.len();
    let items: Vec<Value> = entries
        .into_iter()
        .skip(usize::try_from(numbered.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(numbered.page_size).unwrap_or(usize::MAX))
        .map(entry_json)
        .collect();
    Ok(numbered_json(total as u64, &numbered, items))
}

/// PUT /api/v1/customers/{customerIdOrKey}/apps: stores every item (all or nothing) and answers
/// the stored items.
pub async fn upsert(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let items = json::array("", &body).map_err(|v| invalid(vec![v]))?;
    let mut v = Violations::new();
    if items.is_empty() {
        v.add("body", "name at least one app entry");
    }
    if items.len() > 1000 {
        v.add("body", "at most 1000 entries");
    }
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let o = match Object::new(&format!("[{i}]"), item) {
            Ok(o) => o,
            Err(errors) => {
                v.extend(errors);
                continue;
            }
        };
        match o.string(&mut v, "type") {
            Some("stripe") => {}
            Some(other) => v.add(
                o.path("type"),
                format!("{other:?} is not served: patron keeps stripe app data"),
            ),
            None => v.add(o.path("type"), "is required (stripe)"),
        }
        let app = match o.text(&mut v, "id") {
            "" => None,
            raw => v.check(ResourceId::parse(&o.path("id"), raw).map(ResourceId::into_string)),
        };
        if let Some((stripe_customer_id, pm)) = stripe_ids(&mut v, &o) {
            inputs.push(CustomerAppInput {
                app_id: app,
                stripe_customer_id,
                stripe_default_payment_method_id: pm,
            });
        }
    }
    v.finish()?;
    let stored = s
        .services
        .customer_apps
        .upsert(&ns, &lookup, inputs, deadline())
        .await
        .map_err(|e| Problem::from(e).spelled(item_path))?;
    let items: Vec<Value> = stored.into_iter().map(entry_json).collect();
    Ok(super::json(StatusCode::OK, Value::Array(items)))
}

/// DELETE /api/v1/customers/{customerIdOrKey}/apps/{appId}: 204.
pub async fn delete(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path((id, app)): Path<(String, String)>,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let app = app_id("appId", &app)?;
    s.services.customer_apps.delete(&ns, &lookup, &app).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /api/v1/customers/{customerIdOrKey}/stripe: the main entry (the default app's, else the
/// first).
pub async fn get_stripe(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let entry = s.services.customer_apps.main_entry(&ns, &lookup).await?;
    Ok(super::json(StatusCode::OK, entry_json(entry)))
}

/// PUT /api/v1/customers/{customerIdOrKey}/stripe: the entry of the default app.
pub async fn upsert_stripe(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let o = Object::new("", &body).map_err(invalid)?;
    let mut v = Violations::new();
    let ids = stripe_ids(&mut v, &o);
    v.finish()?;
    let Some((stripe_customer_id, pm)) = ids else {
        return Err(invalid(vec![FieldViolation::new(
            "stripeCustomerId",
            "is required",
        )]));
    };
    let input = CustomerAppInput {
        app_id: None,
        stripe_customer_id,
        stripe_default_payment_method_id: pm,
    };
    let stored = s
        .services
        .customer_apps
        .upsert(&ns, &lookup, vec![input], deadline())
        .await
        .map_err(|e| {
            Problem::from(e).spelled(|p| Some(item_path(p)?.split_once('.')?.1.to_owned()))
        })?;
    let entry = stored
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("upsert stored nothing".into()))?;
    Ok(super::json(StatusCode::OK, entry_json(entry)))
}

fn portal_json(p: PortalSession) -> Value {
    json!({
        "id": p.id,
        "stripeCustomerId": p.stripe_customer_id,
        "configurationId": p.configuration_id,
        "livemode": p.livemode,
        "createdAt": rfc3339(p.created_at),
        "returnUrl": p.return_url.unwrap_or_default(),
        "locale": p.locale.unwrap_or_default(),
        "url": p.url,
    })
}

/// POST /api/v1/customers/{customerIdOrKey}/stripe/portal: 201.
pub async fn portal(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let o = Object::new("", &body).map_err(invalid)?;
    let mut v = Violations::new();
    let (configuration, locale, return_url) = (
        o.text(&mut v, "configurationId"),
        o.text(&mut v, "locale"),
        o.text(&mut v, "returnUrl"),
    );
    v.finish()?;
    let spell = |p: &str| (p == "returnURL").then(|| "returnUrl".to_owned());
    let options = PortalOptions::parse(configuration, locale, return_url)
        .map_err(|e| Problem::from(e).spelled(spell))?;
    let session = s
        .services
        .customer_apps
        .portal_session(&ns, &lookup, None, options, deadline())
        .await
        .map_err(|e| Problem::from(e).spelled(spell))?;
    Ok(super::json(StatusCode::CREATED, portal_json(session)))
}

/// A path the use case names in its request (`data[0].stripe.stripeCustomerId`) as the body's
/// array spells it (`[0].stripeCustomerId`).
fn item_path(path: &str) -> Option<String> {
    Some(path.strip_prefix("data")?.replacen(".stripe.", ".", 1))
}
