//! Customers over REST, as OpenMeter's docs and SDK use them.

use serde_json::json;

use super::{assert_documented, open};
use crate::helpers::TestApp;
use crate::on_both_databases;

async fn the_docs_curl_body_creates_a_customer_once_it_has_a_name(app: TestApp) {
    let rest = open(&app);
    let mut body = json!({
        "name": "", "description": "",
        "metadata": {"externalId": "019142cc-a016-796a-8113-1a942fecd26d"},
        "key": "", "usageAttribution": {"subjectKeys": ["$YOUR-SUBJECT"]},
        "primaryEmail": "", "currency": "USD",
        "billingAddress": {"country": "US", "postalCode": "", "state": "", "city": "",
            "line1": "", "line2": "", "phoneNumber": ""}
    });
    let refused = rest.post("/api/v1/customers", &body).await;
    assert_eq!(refused.bad_fields(), ["name"]);
    assert_eq!(refused.problem(400)["instance"], "/api/v1/customers");
    let listed = rest.get("/api/v1/customers").await.json();
    assert_eq!(listed["totalCount"], 0, "a refused create stores nothing");

    body["name"] = json!("ACME, Inc.");
    let created = rest.post("/api/v1/customers", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let c = created.json();
    assert_documented(&rest, "createCustomer", &c).await;
    assert_eq!(c["name"], "ACME, Inc.");
    assert_eq!(c["currency"], "USD");
    assert_eq!(c["billingAddress"], json!({"country": "US"}));
    assert_eq!(
        c["usageAttribution"]["subjectKeys"],
        json!(["$YOUR-SUBJECT"])
    );
    assert_eq!(
        c["metadata"]["externalId"],
        "019142cc-a016-796a-8113-1a942fecd26d"
    );
    for absent in ["key", "primaryEmail", "description", "deletedAt"] {
        assert!(c.get(absent).is_none(), "{absent} should be omitted: {c}");
    }
    assert!(c["createdAt"].as_str().unwrap().ends_with('Z'));
}

async fn customers_are_found_by_id_then_key_and_listed_by_exact_key(app: TestApp) {
    let rest = open(&app);
    let created = rest
        .post(
            "/api/v1/customers",
            &json!({"name": "ACME, Inc.", "key": "my-database-id",
                "usageAttribution": {"subjects": ["my-identifier"]}}),
        )
        .await;
    assert_eq!(created.status, 201);
    let c = created.json();
    assert_eq!(
        c["usageAttribution"]["subjectKeys"],
        json!(["my-identifier"])
    );
    let id = c["id"].as_str().unwrap();
    assert_eq!(rest.get(&format!("/api/v1/customers/{id}")).await.json(), c);
    assert_eq!(rest.get("/api/v1/customers/my-database-id").await.json(), c);
    rest.get("/api/v1/customers/nobody").await.problem(404);

    let listed = rest
        .get("/api/v1/customers?key=my-database-id")
        .await
        .json();
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(listed["items"][0]["id"], id);
    let other_case = rest
        .get("/api/v1/customers?key=MY-DATABASE-ID")
        .await
        .json();
    assert_eq!(other_case["totalCount"], 0, "keys match exactly");
    let by_subject = rest
        .get("/api/v1/customers?subject=my-identifier")
        .await
        .json();
    assert_eq!(by_subject["items"][0]["id"], id);

    let taken = rest
        .post(
            "/api/v1/customers",
            &json!({"name": "Other", "key": "my-database-id"}),
        )
        .await;
    taken.problem(409);
}

async fn field_names_match_case_insensitively(app: TestApp) {
    let rest = open(&app);
    let created = rest
        .post(
            "/api/v1/customers",
            &json!({"NAME": "Loud", "Key": "loud", "PRIMARYEMAIL": "a@example.com",
                "billingaddress": {"Country": "de"}}),
        )
        .await;
    assert_eq!(created.status, 201);
    let c = created.json();
    assert_eq!(c["primaryEmail"], "a@example.com");
    assert_eq!(c["billingAddress"]["country"], "DE");
    let bad = rest
        .post(
            "/api/v1/customers",
            &json!({"name": "Bad", "key": "bad", "billingAddress": {"country": "Narnia"}}),
        )
        .await;
    assert_eq!(bad.bad_fields(), ["billingAddress.country"]);
}

async fn put_replaces_the_whole_customer_and_delete_is_idempotent(app: TestApp) {
    let rest = open(&app);
    let c = rest
        .post(
            "/api/v1/customers",
            &json!({"name": "Before", "key": "k1", "primaryEmail": "x@example.com",
                "currency": "EUR"}),
        )
        .await
        .json();
    let id = c["id"].as_str().unwrap();
    let replaced = rest
        .put(
            "/api/v1/customers/k1",
            &json!({"name": "After", "key": "k1"}),
        )
        .await;
    assert_eq!(replaced.status, 200);
    let r = replaced.json();
    assert_eq!(r["name"], "After");
    assert!(
        r.get("primaryEmail").is_none() && r.get("currency").is_none(),
        "{r}"
    );
    let empty = rest
        .put(&format!("/api/v1/customers/{id}"), &json!({"name": ""}))
        .await;
    assert_eq!(empty.bad_fields(), ["name"]);

    assert_eq!(
        rest.delete(&format!("/api/v1/customers/{id}")).await.status,
        204
    );
    assert_eq!(
        rest.delete(&format!("/api/v1/customers/{id}")).await.status,
        204
    );
    rest.get("/api/v1/customers/k1").await.problem(404);
    let deleted = rest.get(&format!("/api/v1/customers/{id}")).await.json();
    assert!(deleted["deletedAt"].is_string());
    let listed = rest.get("/api/v1/customers").await.json();
    assert_eq!(listed["totalCount"], 0);
    let with_deleted = rest
        .get("/api/v1/customers?includeDeleted=true")
        .await
        .json();
    assert_eq!(with_deleted["totalCount"], 1);
}

async fn lists_are_paged_by_number_and_ordered(app: TestApp) {
    let rest = open(&app);
    for name in ["Cedar", "alder", "Birch"] {
        let key = name.to_lowercase();
        let r = rest
            .post("/api/v1/customers", &json!({"name": name, "key": key}))
            .await;
        assert_eq!(r.status, 201);
    }
    let first = rest.get("/api/v1/customers?pageSize=2").await.json();
    assert_documented(&rest, "listCustomers", &first).await;
    assert_eq!(
        (
            first["totalCount"].clone(),
            first["page"].clone(),
            first["pageSize"].clone()
        ),
        (json!(3), json!(1), json!(2))
    );
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let second = rest.get("/api/v1/customers?pageSize=2&page=2").await.json();
    assert_eq!(names(&second).len(), 1);
    let desc = rest
        .get("/api/v1/customers?orderBy=createdAt&order=DESC")
        .await
        .json();
    assert_eq!(names(&desc)[0], "Birch");
    let bad = rest.get("/api/v1/customers?pageSize=0&orderBy=email").await;
    let mut fields = bad.bad_fields();
    fields.sort();
    assert_eq!(fields, ["orderBy", "pageSize"]);
}

on_both_databases!(
    the_docs_curl_body_creates_a_customer_once_it_has_a_name,
    customers_are_found_by_id_then_key_and_listed_by_exact_key,
    field_names_match_case_insensitively,
    put_replaces_the_whole_customer_and_delete_is_idempotent,
    lists_are_paged_by_number_and_ordered,
);
