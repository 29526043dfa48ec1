//! The OpenAPI 3.0 document of exactly what the REST API serves, generated from the route table
//! ([`super::routes`]) that also builds the router: every path, method, operationId, path
//! parameter and status code comes from there.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{RestResult, Route, routes};

/// The path parameters of an axum path (`{customerIdOrKey}`).
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn has_body(route: &Route) -> bool {
    route.method == Method::POST || route.method == Method::PUT
}

fn string() -> Value {
    json!({"type": "string"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn paginated(item: &str) -> Value {
    object(
        &["totalCount", "page", "pageSize", "items"],
        json!({
            "totalCount": {"type": "integer"},
            "page": {"type": "integer"},
            "pageSize": {"type": "integer"},
            "items": {"type": "array", "items": reference(item)},
        }),
    )
}

/// The JSON shapes the handlers encode (`customers::customer_json`, `apps::app_json`, ...) and
/// decode; a test compares answers with them.
pub fn schemas() -> Value {
    let metadata = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let address = object(
        &[],
        json!({"country": string(), "postalCode": string(), "state": string(), "city": string(),
            "line1": string(), "line2": string(), "phoneNumber": string()}),
    );
    let customer_fields = json!({
        "name": string(), "description": string(), "key": string(), "metadata": metadata,
        "usageAttribution": object(&["subjectKeys"], json!({"subjectKeys": {"type": "array", "items": string()}})),
        "primaryEmail": string(), "currency": string(), "billingAddress": address,
    });
    let mut customer = customer_fields.clone();
    for (name, schema) in [
        ("id", string()),
        ("createdAt", time()),
        ("updatedAt", time()),
        ("deletedAt", time()),
    ] {
        customer[name] = schema;
    }
    json!({
        "Customer": object(&["id", "name", "usageAttribution", "createdAt", "updatedAt"], customer),
        "CustomerCreate": object(&["name"], customer_fields),
        "CustomerPaginatedResponse": paginated("Customer"),
        "MarketplaceListing": object(&["type", "name", "description", "capabilities", "installMethods"], json!({
            "type": string(), "name": string(), "description": string(),
            "capabilities": {"type": "array", "items": object(&[], json!({
                "type": string(), "key": string(), "name": string(), "description": string()}))},
            "installMethods": {"type": "array", "items": string()},
        })),
        "MarketplaceListingPaginatedResponse": paginated("MarketplaceListing"),
        "App": object(&["id", "type", "name", "listing", "status", "stripeAccountId", "livemode", "maskedAPIKey", "createdAt", "updatedAt"], json!({
            "id": string(), "type": string(), "name": string(), "description": string(),
            "metadata": metadata, "listing": reference("MarketplaceListing"),
            "status": {"type": "string", "enum": ["ready", "unauthorized"]},
            "default": {"type": "boolean"}, "stripeAccountId": string(),
            "livemode": {"type": "boolean"}, "maskedAPIKey": string(),
            "createdAt": time(), "updatedAt": time(), "deletedAt": time(),
        })),
        "AppPaginatedResponse": paginated("App"),
        "MarketplaceInstallResponse": object(&["app", "defaultForCapabilityTypes"], json!({
            "app": reference("App"),
            "defaultForCapabilityTypes": {"type": "array", "items": string()},
        })),
        "StripeCustomerAppData": object(&["type", "stripeCustomerId"], json!({
            "id": string(), "type": {"type": "string", "enum": ["stripe"]},
            "stripeCustomerId": string(), "stripeDefaultPaymentMethodId": string(),
            "app": reference("App"),
        })),
        "CustomerAppDataPaginatedResponse": paginated("StripeCustomerAppData"),
        "StripeCustomerPortalSession": object(&["id", "stripeCustomerId", "configurationId", "livemode", "createdAt", "returnUrl", "locale", "url"], json!({
            "id": string(), "stripeCustomerId": string(), "configurationId": string(),
            "livemode": {"type": "boolean"}, "createdAt": time(), "returnUrl": string(),
            "locale": string(), "url": string(),
        })),
        "CreateStripeCheckoutSessionResult": object(&["customerId", "stripeCustomerId", "sessionId", "setupIntentId", "createdAt", "mode"], json!({
            "customerId": string(), "stripeCustomerId": string(), "sessionId": string(),
            "setupIntentId": string(), "clientSecret": string(), "clientReferenceId": string(),
            "customerEmail": string(), "currency": string(), "createdAt": time(),
            "expiresAt": time(), "metadata": metadata,
            "status": {"type": "string", "enum": ["open", "complete", "expired"]},
            "url": string(), "mode": {"type": "string", "enum": ["setup"]},
            "cancelURL": string(), "successURL": string(), "returnURL": string(),
        })),
        "Subject": object(&["id", "key", "createdAt", "updatedAt"], json!({
            "id": string(), "key": string(), "displayName": string(),
            "metadata": {"type": "object"}, "stripeCustomerId": string(),
            "createdAt": time(), "updatedAt": time(), "deletedAt": time(),
        })),
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "instance"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "extensions": {"type": "object", "properties": {"validationErrors": {
                    "type": "array",
                    "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}}},
                }}},
            },
        },
    })
}

/// The schema of an operation's success answer, by operationId.
fn response_schema(operation_id: &str) -> Value {
    let array = |item: &str| json!({"type": "array", "items": reference(item)});
    match operation_id {
        "createCustomer" | "getCustomer" | "updateCustomer" => reference("Customer"),
        "listCustomers" => reference("CustomerPaginatedResponse"),
        "listCustomerAppData" => reference("CustomerAppDataPaginatedResponse"),
        "upsertCustomerAppData" => array("StripeCustomerAppData"),
        "getCustomerStripeAppData" | "upsertCustomerStripeAppData" => {
            reference("StripeCustomerAppData")
        }
        "createCustomerStripePortalSession" => reference("StripeCustomerPortalSession"),
        "createStripeCheckoutSession" => reference("CreateStripeCheckoutSessionResult"),
        "upsertSubject" | "listSubjects" => array("Subject"),
        "getSubject" => reference("Subject"),
        "listApps" => reference("AppPaginatedResponse"),
        "getApp" | "updateApp" => reference("App"),
        "listMarketplaceListings" => reference("MarketplaceListingPaginatedResponse"),
        "getMarketplaceListing" => reference("MarketplaceListing"),
        "marketplaceAppAPIKeyInstall" => reference("MarketplaceInstallResponse"),
        _ => json!({"type": "object"}),
    }
}

/// The schema of an operation's request body, by operationId.
fn request_schema(operation_id: &str) -> Value {
    match operation_id {
        "createCustomer" | "updateCustomer" => reference("CustomerCreate"),
        "upsertCustomerAppData" | "upsertSubject" => {
            json!({"type": "array", "items": {"type": "object"}})
        }
        _ => json!({"type": "object"}),
    }
}

fn operation(route: &Route) -> Value {
    let parameters: Vec<Value> = path_parameters(route.path)
        .into_iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let success = if route.status == 204 {
        json!({"description": "Done."})
    } else {
        json!({
            "description": "Done.",
            "content": {"application/json": {"schema": response_schema(route.operation_id)}},
        })
    };
    let problem = json!({"$ref": "#/components/responses/Problem"});
    let mut responses = Map::new();
    responses.insert(route.status.to_string(), success);
    for status in ["400", "401", "404", "409", "412", "500", "503", "504"] {
        responses.insert(status.to_owned(), problem.clone());
    }
    let mut op = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if has_body(route) {
        let mut content = Map::new();
        content.insert(
            "application/json".into(),
            json!({"schema": request_schema(route.operation_id)}),
        );
        if route.operation_id == "ingestEvents" {
            content.insert(
                "application/cloudevents+json".into(),
                json!({"schema": {"type": "object"}}),
            );
            content.insert(
                "application/cloudevents-batch+json".into(),
                json!({"schema": {"type": "array", "items": {"type": "object"}}}),
            );
        }
        op["requestBody"] = json!({"required": route.operation_id != "createCustomerStripePortalSession", "content": content});
    }
    if route.path != "/api/v1/openapi.json" {
        op["security"] = json!([{"bearerAuth": []}]);
    }
    op
}

/// The document.
pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in routes(0, 0) {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = operation(&route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "patron: OpenMeter v1 compatible REST API",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "responses": {"Problem": {
                "description": "An RFC 7807 problem.",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }},
            "schemas": schemas(),
        },
    })
}

/// GET /api/v1/openapi.json (no API key needed: it holds nothing of a tenant's).
pub async fn document() -> RestResult {
    Ok(super::json(StatusCode::OK, build()))
}
