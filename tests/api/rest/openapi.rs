//! The OpenAPI document lists exactly the routes served.

use std::collections::BTreeSet;

use crate::helpers::{Backend, TestApp};

use super::{concrete, open};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_in_the_document_and_every_documented_route_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rest = open(&app);
    let doc = rest.get("/api/v1/openapi.json").await.json();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = patron::rest::routes(1, 1)
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
    // Every documented operation reaches a handler: a served route answers anything but the
    // unknown-path 404 with "no such endpoint" or 405.
    for (method, path) in &documented {
        let answer = rest
            .send(method, &concrete(path), Some("application/json"), b"{}")
            .await;
        assert_ne!(answer.status, 405, "{method} {path}");
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path}: {body}"
        );
    }
    // And a path the document does not list is not served.
    let unknown = rest.get("/api/v1/meters").await;
    assert!(String::from_utf8_lossy(&unknown.body).contains("no such endpoint"));
}
