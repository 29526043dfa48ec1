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
            "content": {"application/json": {"schema": {}}},
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
        content.insert("application/json".into(), json!({"schema": {}}));
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
            "schemas": {"Problem": {
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
            }},
        },
    })
}

/// GET /api/v1/openapi.json (no API key needed: it holds nothing of a tenant's).
pub async fn document() -> RestResult {
    Ok(super::json(StatusCode::OK, build()))
}
