//! Authentication, namespaces and the problem answers of the REST API.

use serde_json::json;

use super::{Rest, concrete, open};
use crate::helpers::TestApp;
use crate::on_both_databases;

const KEYS: &[(&str, &str)] = &[("tenant-a", "key-a-123"), ("tenant-b", "key-b-456")];

async fn calls_need_a_valid_key_and_see_only_their_namespace(app: TestApp) {
    let anonymous = open(&app);
    let body = json!({"name": "A", "key": "shared"});
    let p = anonymous
        .post("/api/v1/customers", &body)
        .await
        .problem(401);
    assert_eq!(p["instance"], "/api/v1/customers");
    let wrong = Rest::new(app.http_addr, Some("nope"));
    wrong.get("/api/v1/customers").await.problem(401);

    let a = Rest::new(app.http_addr, Some("key-a-123"));
    let b = Rest::new(app.http_addr, Some("key-b-456"));
    assert_eq!(a.post("/api/v1/customers", &body).await.status, 201);
    b.get("/api/v1/customers/shared").await.problem(404);
    assert_eq!(
        b.post("/api/v1/customers", &body).await.status,
        201,
        "keys are per namespace"
    );
    assert_eq!(a.get("/api/v1/customers").await.json()["totalCount"], 1);
    // The document of the API is public.
    assert_eq!(anonymous.get("/api/v1/openapi.json").await.status, 200);
}

async fn bad_json_is_400_and_an_oversized_body_413(app: TestApp) {
    let rest = open(&app);
    let broken = rest
        .send(
            "POST",
            "/api/v1/customers",
            Some("application/json"),
            b"{\"name\": ",
        )
        .await;
    let p = broken.problem(400);
    assert!(
        p["detail"].as_str().unwrap().contains("not valid JSON"),
        "{p}"
    );
    let not_object = rest.post("/api/v1/customers", &json!(["x"])).await;
    assert_eq!(not_object.bad_fields(), ["body"]);
    let wrong_type = rest
        .post("/api/v1/customers", &json!({"name": 5, "key": "k"}))
        .await;
    assert_eq!(wrong_type.bad_fields(), ["name"]);

    let huge = format!(
        "{{\"name\": \"big\", \"description\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let too_big = rest
        .send(
            "POST",
            "/api/v1/customers",
            Some("application/json"),
            huge.as_bytes(),
        )
        .await;
    too_big.problem(413);
    assert_eq!(rest.get("/api/v1/customers").await.json()["totalCount"], 0);

    rest.get("/api/v1/no-such-thing").await.problem(404);
    rest.send("PATCH", "/api/v1/customers", None, b"")
        .await
        .problem(405);
    let bad_id = rest.get("/api/v1/apps/not-an-id").await;
    assert_eq!(bad_id.bad_fields(), ["id"]);
}

async fn every_route_but_the_document_and_the_webhook_needs_a_key(app: TestApp) {
    let anonymous = open(&app);
    let keyed = Rest::new(app.http_addr, Some("key-a-123"));
    for route in patron::rest::routes(1, 1) {
        let path = concrete(route.path);
        let method = route.method.as_str();
        let without = anonymous
            .send(method, &path, Some("application/json"), b"{}")
            .await;
        let with = keyed
            .send(method, &path, Some("application/json"), b"{}")
            .await;
        let public =
            route.path == "/api/v1/openapi.json" || route.path == patron::rest::WEBHOOK_ALIAS;
        if public {
            assert_ne!(without.status, 401, "{method} {path}");
        } else {
            without.problem(401);
        }
        assert_ne!(with.status, 401, "{method} {path}");
    }
}

on_both_databases!(with_api_keys(KEYS):
    calls_need_a_valid_key_and_see_only_their_namespace,
    every_route_but_the_document_and_the_webhook_needs_a_key,
);
on_both_databases!(bad_json_is_400_and_an_oversized_body_413);
