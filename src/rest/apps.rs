//! Apps: `GET /apps`, `GET/PUT/DELETE /apps/{id}`, `PUT /apps/{id}/stripe/api-key` and
//! `POST /marketplace/listings/stripe/install/apikey`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::customers::{metadata, put_opt, rfc3339};
use super::json::Object;
use super::problem::Problem;
use super::{
    JsonBody, QueryParams, RestResult, RestState, Tenant, deadline, invalid, numbered_json,
    unparsed,
};
use crate::domain::FieldViolation;
use crate::domain::app::{App, AppStatus, StripeApiKey};
use crate::domain::error::Violations;
use crate::domain::values::{Description, Metadata, Name, ResourceId};
use crate::service::apps::{AppPatch, InstallApp};

/// The capabilities the default app serves (OpenMeter's `defaultForCapabilityTypes`).
const DEFAULT_FOR: [&str; 1] = ["collectPayments"];

/// OpenMeter's `MarketplaceListing` of the one app type patron serves.
pub fn stripe_listing() -> Value {
    json!({
        "type": "stripe",
        "name": "Stripe",
        "description": "Collect payment methods with Stripe.",
        "capabilities": [{
            "type": "collectPayments",
            "key": "stripe_collect_payment",
            "name": "Collect Payments",
            "description": "Stripe Checkout collects and stores payment methods",
        }],
        "installMethods": ["with_api_key"],
    })
}

/// GET /api/v1/marketplace/listings: the Stripe listing.
pub async fn listings(Tenant(_): Tenant, q: QueryParams) -> RestResult {
    let mut v = Violations::new();
    let numbered = q.numbered(&mut v);
    v.finish()?;
    let numbered = numbered.ok_or_else(|| unparsed("page"))?;
    let items = if numbered.page == 1 {
        vec![stripe_listing()]
    } else {
        Vec::new()
    };
    Ok(numbered_json(1, &numbered, items))
}

/// GET /api/v1/marketplace/listings/{type}: the Stripe listing; 404 for another type.
pub async fn listing(Tenant(_): Tenant, Path(kind): Path<String>) -> RestResult {
    if kind != "stripe" {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no marketplace listing {kind:?}: patron serves stripe"),
        ));
    }
    Ok(super::json(StatusCode::OK, stripe_listing()))
}

/// OpenMeter's `StripeApp`.
pub fn app_json(app: App) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(app.id));
    out.insert("type".into(), json!("stripe"));
    out.insert("name".into(), json!(app.name.as_str()));
    put_opt(&mut out, "description", app.description);
    if !app.metadata.entries().is_empty() {
        out.insert("metadata".into(), json!(app.metadata.entries()));
    }
    out.insert("listing".into(), stripe_listing());
    out.insert(
        "status".into(),
        json!(match app.status {
            AppStatus::Ready => "ready",
            AppStatus::Unauthorized => "unauthorized",
        }),
    );
    out.insert("default".into(), json!(app.is_default));
    out.insert("stripeAccountId".into(), json!(app.stripe_account_id));
    out.insert("livemode".into(), json!(app.livemode));
    out.insert("maskedAPIKey".into(), json!(app.masked_api_key));
    out.insert("createdAt".into(), json!(rfc3339(app.created_at)));
    out.insert("updatedAt".into(), json!(rfc3339(app.updated_at)));
    if let Some(deleted) = app.deleted_at {
        out.insert("deletedAt".into(), json!(rfc3339(deleted)));
    }
    Value::Object(out)
}

/// An app id of a path.
pub fn app_id(field: &str, raw: &str) -> RestResult<String> {
    ResourceId::parse(field, raw)
        .map(ResourceId::into_string)
        .map_err(|v| invalid(vec![v]))
}

/// GET /api/v1/apps: `{totalCount, page, pageSize, items}`.
pub async fn list(State(s): State<RestState>, Tenant(ns): Tenant, q: QueryParams) -> RestResult {
    let mut v = Violations::new();
    let numbered = q.numbered(&mut v);
    v.finish()?;
    let numbered = numbered.ok_or_else(|| unparsed("page"))?;
    let page = s.services.apps.list_numbered(&ns, numbered).await?;
    let items: Vec<Value> = page.items.into_iter().map(app_json).collect();
    Ok(numbered_json(page.total_count, &page.page, items))
}

/// GET /api/v1/apps/{id}
pub async fn get(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
) -> RestResult {
    let id = app_id("id", &id)?;
    Ok(super::json(
        StatusCode::OK,
        app_json(s.services.apps.get(&ns, &id).await?),
    ))
}

/// PUT /api/v1/apps/{id}: replaces name, description and metadata (and the key when
/// `secretAPIKey` is given).
pub async fn update(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let id = app_id("id", &id)?;
    let o = Object::new("", &body).map_err(invalid)?;
    let mut v = Violations::new();
    if let Some(kind) = o.string(&mut v, "type")
        && kind != "stripe"
    {
        v.add("type", "patron serves stripe apps only");
    }
    let name = o.parse(&mut v, "name", Name::parse);
    let description = o.parse(&mut v, "description", Description::parse);
    let metadata = metadata(&mut v, &o, "metadata");
    let api_key = match o.string(&mut v, "secretAPIKey") {
        Some(raw) => v.check(StripeApiKey::parse("secretAPIKey", raw)),
        None => None,
    };
    v.finish()?;
    let patch = AppPatch {
        name,
        description,
        metadata: Some(metadata),
        default: None,
        api_key,
    };
    let app = s
        .services
        .apps
        .update(&ns, &id, patch, deadline())
        .await
        .map_err(secret_api_key)?;
    Ok(super::json(StatusCode::OK, app_json(app)))
}

/// PUT /api/v1/apps/{id}/stripe/api-key: 204.
pub async fn update_api_key(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let id = app_id("id", &id)?;
    let o = Object::new("", &body).map_err(invalid)?;
    let mut v = Violations::new();
    let api_key = o.parse(&mut v, "secretAPIKey", StripeApiKey::parse);
    v.finish()?;
    let patch = AppPatch {
        api_key,
        ..AppPatch::default()
    };
    s.services
        .apps
        .update(&ns, &id, patch, deadline())
        .await
        .map_err(secret_api_key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE /api/v1/apps/{id}: 204 (again for an uninstalled app).
pub async fn uninstall(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
) -> RestResult {
    let id = app_id("id", &id)?;
    s.services.apps.uninstall(&ns, &id, deadline()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /api/v1/marketplace/listings/{type}/install/apikey: installs a Stripe account;
/// `{app, defaultForCapabilityTypes}`.
pub async fn install(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let o = Object::new("", &body).map_err(invalid)?;
    let mut v = Violations::new();
    if kind != "stripe" {
        v.add(
            "type",
            format!("{kind:?} is not served: patron installs stripe apps"),
        );
    }
    let api_key = o.parse(&mut v, "apiKey", StripeApiKey::parse);
    let name = match o.text(&mut v, "name") {
        "" => Some(Name::from_stored("Stripe".to_owned())),
        raw => v.check(Name::parse("name", raw)),
    };
    // OpenMeter makes the app the default only where a sandbox was; patron's first app is the
    // default, and `createBillingProfile` asks for nothing more.
    let _ = o.boolean(&mut v, "createBillingProfile");
    v.finish()?;
    let (Some(api_key), Some(name)) = (api_key, name) else {
        return Err(invalid(vec![FieldViolation::new("apiKey", "is required")]));
    };
    let input = InstallApp {
        api_key,
        name,
        description: None,
        metadata: Metadata::default(),
        make_default: false,
    };
    let app = s
        .services
        .apps
        .install(&ns, input, None, deadline())
        .await?;
    let default_for: Vec<&str> = if app.is_default {
        DEFAULT_FOR.to_vec()
    } else {
        Vec::new()
    };
    Ok(super::json(
        StatusCode::OK,
        json!({"app": app_json(app), "defaultForCapabilityTypes": default_for}),
    ))
}

/// The update bodies spell the API key `secretAPIKey` (the install body `apiKey`).
fn secret_api_key(e: crate::domain::Error) -> Problem {
    Problem::from(e).spelled(|p| (p == "apiKey").then(|| "secretAPIKey".to_owned()))
}
