//! The REST transport: OpenMeter's v1 API (paths, methods, status codes and JSON shapes) for the
//! part of the product patron serves, under `/api/v1` on the HTTP listener, so that OpenMeter's
//! own clients (its SDK, the curl examples of its docs) work unchanged but for the base URL.
//!
//! Handlers are thin, like the gRPC ones: decode JSON (field names case-insensitive, see
//! [`json`]), parse into the same domain types gRPC parses into (the rules live in `domain`),
//! call one use case, encode. Errors become problems in one place, [`problem`]. Same API keys
//! and namespaces as gRPC (`Authorization: Bearer <key>`, checked by `crate::auth`).
//!
//! [`routes`] is the one table of what is served: the router and the OpenAPI document
//! (`GET /api/v1/openapi.json`, [`openapi`]) are both built from it.

pub mod apps;
pub mod checkout;
pub mod customer_apps;
pub mod customers;
pub mod events;
pub mod json;
pub mod openapi;
pub mod problem;
pub mod subjects;

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde_json::Value;
use tokio::time::Instant;

use crate::auth::Auth;
use crate::domain::error::Violations;
use crate::domain::page::Numbered;
use crate::domain::{Error, FieldViolation, Namespace};
use crate::service::Services;
use problem::Problem;

/// What every handler gets.
#[derive(Clone, Debug)]
pub struct RestState {
    /// The use cases.
    pub services: Services,
    /// The API keys.
    pub auth: Auth,
}

/// How long a call may wait on Stripe: below the HTTP listener's 30 s request timeout, so the
/// caller gets the use case's own answer (504) rather than the listener's.
const DEADLINE: Duration = Duration::from_secs(25);

/// When the use case must give up waiting on Stripe.
pub fn deadline() -> Instant {
    Instant::now() + DEADLINE
}

/// The caller's namespace (from its API key); 401 without a valid one when keys are required.
#[derive(Clone, Debug)]
pub struct Tenant(pub Namespace);

impl FromRequestParts<RestState> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, Problem> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state
            .auth
            .authenticate(header)
            .map(Tenant)
            .ok_or_else(Problem::unauthenticated)
    }
}

/// A JSON request body (any JSON media type, or none given); bad JSON is 400, an oversized body
/// 413, both as problems.
#[derive(Clone, Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::too_large()
            } else {
                Problem::malformed(e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(Problem::malformed)
    }
}

/// The query string's parameters, in order (names compared case-insensitively).
#[derive(Clone, Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryParams {
    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, FieldViolation> {
        self.get(name)
            .map(|raw| {
                raw.parse()
                    .map_err(|_| FieldViolation::new(name, "must be an integer"))
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, FieldViolation> {
        self.get(name)
            .map(|raw| match raw.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(FieldViolation::new(name, "must be true or false")),
            })
            .transpose()
    }
}

impl QueryParams {
    /// OpenMeter's `page` and `pageSize` (violations recorded in `v`).
    pub fn numbered(&self, v: &mut Violations) -> Option<Numbered> {
        let page = v.check(self.integer("page")).flatten();
        let page_size = v.check(self.integer("pageSize")).flatten();
        match Numbered::parse("page", page, "pageSize", page_size) {
            Ok(n) => Some(n),
            Err(errors) => {
                v.extend(errors);
                None
            }
        }
    }
}

/// 200 with OpenMeter's paginated response: `{totalCount, page, pageSize, items}`.
pub fn numbered_json(total_count: u64, page: &Numbered, items: Vec<Value>) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "totalCount": total_count,
            "page": page.page,
            "pageSize": page.page_size,
            "items": items,
        }),
    )
}

/// 500 for a part of a query that parsed to nothing without a violation (a bug).
pub fn unparsed(field: &str) -> Problem {
    Problem::from(Error::Internal(format!("{field} parsed to nothing")))
}

/// The handlers' result.
pub type RestResult<T = Response> = Result<T, Problem>;

/// 400 for violations collected by a handler's decoding.
pub fn invalid(violations: Vec<FieldViolation>) -> Problem {
    Problem::from(Error::InvalidArgument(violations))
}

/// `status` with a JSON body.
pub fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// One served route: the router and the OpenAPI document are built from the same table.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path as axum spells it (`/api/v1/customers/{customerIdOrKey}`).
    pub path: &'static str,
    /// OpenMeter's operationId.
    pub operation_id: &'static str,
    /// For people.
    pub summary: &'static str,
    /// The success status.
    pub status: u16,
    /// The handler; `None` for a route another part of the listener serves (the webhook alias
    /// is answered by `http`, like patron's own webhook path).
    pub handler: Option<MethodRouter<RestState>>,
}

fn route(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    status: u16,
    handler: MethodRouter<RestState>,
) -> Route {
    Route {
        method,
        path,
        operation_id,
        summary,
        status,
        handler: Some(handler),
    }
}

/// Path of OpenMeter's Stripe webhook (served by `http` as an alias of `/webhooks/stripe/{id}`).
pub const WEBHOOK_ALIAS: &str = "/api/v1/apps/{id}/stripe/webhook";

/// Every route of the REST API. `small` bounds a request body, `large` an event batch's.
pub fn routes(small: usize, large: usize) -> Vec<Route> {
    use axum::routing::{delete, get, post, put};
    let limit = |m: MethodRouter<RestState>| m.layer(DefaultBodyLimit::max(small));
    vec![
        route(
            Method::POST,
            "/api/v1/customers",
            "createCustomer",
            "Create customer",
            201,
            limit(post(customers::create)),
        ),
        route(
            Method::GET,
            "/api/v1/customers",
            "listCustomers",
            "List customers",
            200,
            get(customers::list),
        ),
        route(
            Method::GET,
            "/api/v1/customers/{customerIdOrKey}",
            "getCustomer",
            "Get customer",
            200,
            get(customers::get),
        ),
        route(
            Method::PUT,
            "/api/v1/customers/{customerIdOrKey}",
            "updateCustomer",
            "Update customer (full replace)",
            200,
            limit(put(customers::replace)),
        ),
        route(
            Method::DELETE,
            "/api/v1/customers/{customerIdOrKey}",
            "deleteCustomer",
            "Delete customer",
            204,
            delete(customers::delete),
        ),
        route(
            Method::GET,
            "/api/v1/customers/{customerIdOrKey}/apps",
            "listCustomerAppData",
            "List customer app data",
            200,
            get(customer_apps::list),
        ),
        route(
            Method::PUT,
            "/api/v1/customers/{customerIdOrKey}/apps",
            "upsertCustomerAppData",
            "Upsert customer app data",
            200,
            limit(put(customer_apps::upsert)),
        ),
        route(
            Method::DELETE,
            "/api/v1/customers/{customerIdOrKey}/apps/{appId}",
            "deleteCustomerAppData",
            "Delete customer app data",
            204,
            delete(customer_apps::delete),
        ),
        route(
            Method::GET,
            "/api/v1/customers/{customerIdOrKey}/stripe",
            "getCustomerStripeAppData",
            "Get the customer's Stripe app data",
            200,
            get(customer_apps::get_stripe),
        ),
        route(
            Method::PUT,
            "/api/v1/customers/{customerIdOrKey}/stripe",
            "upsertCustomerStripeAppData",
            "Upsert the customer's Stripe app data",
            200,
            limit(put(customer_apps::upsert_stripe)),
        ),
        route(
            Method::POST,
            "/api/v1/customers/{customerIdOrKey}/stripe/portal",
            "createCustomerStripePortalSession",
            "Create a Stripe customer portal session",
            201,
            limit(post(customer_apps::portal)),
        ),
        route(
            Method::POST,
            "/api/v1/stripe/checkout/sessions",
            "createStripeCheckoutSession",
            "Create a Stripe Checkout Session",
            201,
            limit(post(checkout::create)),
        ),
        route(
            Method::POST,
            "/api/v1/subjects",
            "upsertSubject",
            "Upsert subjects",
            200,
            limit(post(subjects::upsert)),
        ),
        route(
            Method::GET,
            "/api/v1/subjects",
            "listSubjects",
            "List subjects",
            200,
            get(subjects::list),
        ),
        route(
            Method::GET,
            "/api/v1/subjects/{subjectIdOrKey}",
            "getSubject",
            "Get subject",
            200,
            get(subjects::get),
        ),
        route(
            Method::DELETE,
            "/api/v1/subjects/{subjectIdOrKey}",
            "deleteSubject",
            "Delete subject",
            204,
            delete(subjects::delete),
        ),
        route(
            Method::GET,
            "/api/v1/apps",
            "listApps",
            "List apps",
            200,
            get(apps::list),
        ),
        route(
            Method::GET,
            "/api/v1/apps/{id}",
            "getApp",
            "Get app",
            200,
            get(apps::get),
        ),
        route(
            Method::PUT,
            "/api/v1/apps/{id}",
            "updateApp",
            "Update app",
            200,
            limit(put(apps::update)),
        ),
        route(
            Method::DELETE,
            "/api/v1/apps/{id}",
            "uninstallApp",
            "Uninstall app",
            204,
            delete(apps::uninstall),
        ),
        route(
            Method::PUT,
            "/api/v1/apps/{id}/stripe/api-key",
            "updateStripeAPIKey",
            "Update Stripe API key",
            204,
            limit(put(apps::update_api_key)),
        ),
        route(
            Method::GET,
            "/api/v1/marketplace/listings",
            "listMarketplaceListings",
            "List marketplace listings",
            200,
            get(apps::listings),
        ),
        route(
            Method::GET,
            "/api/v1/marketplace/listings/{type}",
            "getMarketplaceListing",
            "Get a marketplace listing",
            200,
            get(apps::listing),
        ),
        route(
            Method::POST,
            "/api/v1/marketplace/listings/{type}/install/apikey",
            "marketplaceAppAPIKeyInstall",
            "Install an app with an API key",
            200,
            limit(post(apps::install)),
        ),
        route(
            Method::POST,
            "/api/v1/events",
            "ingestEvents",
            "Ingest events (CloudEvents)",
            204,
            post(events::ingest).layer(DefaultBodyLimit::max(large)),
        ),
        route(
            Method::GET,
            "/api/v1/openapi.json",
            "getOpenAPI",
            "This document",
            200,
            get(openapi::document),
        ),
        Route {
            method: Method::POST,
            path: WEBHOOK_ALIAS,
            operation_id: "appStripeWebhook",
            summary: "Stripe webhook (alias of /webhooks/stripe/{id})",
            status: 200,
            handler: None,
        },
    ]
}

/// The REST API's router (merged into the HTTP listener's): every route of [`routes`], problems
/// with their `instance`, and a problem for every unknown path.
pub fn router(state: RestState, small: usize, large: usize) -> Router {
    let mut router = Router::new();
    for r in routes(small, large) {
        if let Some(handler) = r.handler {
            router = router.route(r.path, handler);
        }
    }
    router
        .fallback(|| async { Problem::no_route() })
        .with_state(state)
        .layer(axum::middleware::from_fn(problem::with_instance))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use crate::domain::Timestamp;

    /// Names the decoders look for, in several cases, and some they do not.
    const NAMES: &[&str] = &[
        "name",
        "NAME",
        "key",
        "Key",
        "usageAttribution",
        "subjectKeys",
        "subjects",
        "primaryEmail",
        "currency",
        "billingAddress",
        "country",
        "postalCode",
        "metadata",
        "customer",
        "options",
        "successURL",
        "successUrl",
        "cancelURL",
        "returnURL",
        "uiMode",
        "expiresAt",
        "taxIdCollection",
        "enabled",
        "customText",
        "afterSubmit",
        "message",
        "consentCollection",
        "paymentMethodTypes",
        "id",
        "source",
        "specversion",
        "type",
        "subject",
        "time",
        "data",
        "data_base64",
        "datacontenttype",
        "appId",
        "x",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("1.0".to_owned()),
                Just("USD".to_owned()),
                Just("https://example.com/ok".to_owned()),
                Just("2023-01-01T00:00:00.001Z".to_owned()),
                ".{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(NAMES), inner), 0..6).prop_map(
                    |entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k.to_owned(), v))
                                .collect::<Map<_, _>>(),
                        )
                    }
                ),
            ]
        })
    }

    proptest! {
        /// Whatever JSON arrives, decoding never panics and refuses it with a 400, never a 500.
        #[test]
        fn arbitrary_json_is_decoded_or_refused_with_400(body in json()) {
            let now = Timestamp(1_700_000_000_000_000);
            let statuses = [
                super::customers::body_fields(&body).err().map(|p| p.status()),
                super::checkout::decode(&body, now).err().map(|p| p.status()),
                super::events::decode(Some("application/json"), &body, now)
                    .err()
                    .map(|p| p.status()),
            ];
            for status in statuses.into_iter().flatten() {
                prop_assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
            }
        }
    }
}
