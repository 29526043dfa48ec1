//! Subjects and event ingestion over REST, with the docs' bodies.

use serde_json::json;

use super::{assert_documented, open};
use crate::helpers::TestApp;
use crate::on_both_databases;

async fn subjects_are_upserted_listed_found_and_deleted(app: TestApp) {
    let rest = open(&app);
    let upserted = rest
        .post(
            "/api/v1/subjects",
            &json!([{"key": "customer-1", "displayName": "ACME",
            "metadata": {}, "stripeCustomerId": "cus_xxx"}]),
        )
        .await;
    assert_eq!(upserted.status, 200, "{:?}", upserted.json());
    assert_documented(&rest, "upsertSubject", &upserted.json()).await;
    let s = &upserted.json()[0];
    assert_eq!(
        (s["key"].clone(), s["displayName"].clone()),
        (json!("customer-1"), json!("ACME"))
    );
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rest.get("/api/v1/subjects/customer-1").await.json()["id"],
        id.as_str()
    );
    assert_eq!(
        rest.get(&format!("/api/v1/subjects/{id}")).await.json()["key"],
        "customer-1"
    );
    assert_eq!(
        rest.get("/api/v1/subjects")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bad = rest
        .post(
            "/api/v1/subjects",
            &json!([{"key": ""}, {"key": "ok", "stripeCustomerId": "nope"}]),
        )
        .await;
    let mut fields = bad.bad_fields();
    fields.sort();
    assert_eq!(fields, ["[0].key", "[1].stripeCustomerId"]);
    assert_eq!(rest.delete("/api/v1/subjects/customer-1").await.status, 204);
    rest.get("/api/v1/subjects/customer-1").await.problem(404);
    assert_eq!(rest.get("/api/v1/subjects").await.json(), json!([]));
}

async fn the_docs_event_is_ingested_single_and_in_a_batch(app: TestApp) {
    let rest = open(&app);
    let event = json!({"specversion": "1.0", "type": "api-calls", "id": "00002",
        "time": "2023-01-01T00:00:00.001Z", "source": "service-0", "subject": "customer-1",
        "data": {"method": "GET", "route": "/hello", "duration_ms": 12}});
    let single = rest
        .send(
            "POST",
            "/api/v1/events",
            Some("application/cloudevents+json"),
            event.to_string().as_bytes(),
        )
        .await;
    assert_eq!(
        single.status,
        204,
        "{}",
        String::from_utf8_lossy(&single.body)
    );
    let mut second = event.clone();
    second["id"] = json!("00003");
    let batch = json!([event, second]);
    let answered = rest
        .send(
            "POST",
            "/api/v1/events",
            Some("application/cloudevents-batch+json"),
            batch.to_string().as_bytes(),
        )
        .await;
    assert_eq!(answered.status, 204);
    // The event's subject now exists.
    assert_eq!(rest.get("/api/v1/subjects/customer-1").await.status, 200);

    let mut bad = event.clone();
    bad["specversion"] = json!("0.3");
    bad["time"] = json!("yesterday");
    bad.as_object_mut().unwrap().remove("subject");
    let refused = rest
        .send(
            "POST",
            "/api/v1/events",
            Some("application/cloudevents+json"),
            bad.to_string().as_bytes(),
        )
        .await;
    let mut fields = refused.bad_fields();
    fields.sort();
    assert_eq!(fields, ["specversion", "subject", "time"]);
    let wrong_shape = rest
        .send(
            "POST",
            "/api/v1/events",
            Some("application/cloudevents-batch+json"),
            event.to_string().as_bytes(),
        )
        .await;
    assert_eq!(wrong_shape.bad_fields(), ["body"]);
}

on_both_databases!(
    subjects_are_upserted_listed_found_and_deleted,
    the_docs_event_is_ingested_single_and_in_a_batch,
);
