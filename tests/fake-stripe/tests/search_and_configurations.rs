//! `GET /v1/customers/search` (Stripe's query language subset, `search_result` pages) and the
//! Billing portal configuration endpoints, as strict as Stripe's parameter tables.

mod common;

use common::{KEY, call, error, fake};
use fake_stripe::FakeStripe;
use fake_stripe::http::HttpResponse;
use serde_json::{Value, json};

async fn search(fake: &FakeStripe, query: &str) -> HttpResponse {
    call(fake, "GET", &format!("/v1/customers/search?{query}"), "").await
}

fn ids(r: &HttpResponse) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_finds_customers_by_field_and_metadata() {
    let fake = fake().await;
    let ann = fake.create_customer(KEY, Some("Ann Lee"), Some("ann@example.com"));
    let bob = fake.create_customer(KEY, Some("Bob Stone"), Some("bob@example.com"));
    let tagged = call(
        &fake,
        "POST",
        "/v1/customers",
        "name=Cy&metadata[patron_customer_id]=01ABC",
    )
    .await;
    assert_eq!(tagged.status, 200, "{}", tagged.body);
    let cy = tagged.json()["id"].as_str().unwrap().to_owned();

    let r = search(&fake, "query=email%3A%27ann%40example.com%27").await;
    assert_eq!(ids(&r), std::slice::from_ref(&ann));
    let page = r.json();
    assert_eq!(page["object"], "search_result");
    assert_eq!(page["url"], "/v1/customers/search");
    assert_eq!(page["has_more"], false);
    assert_eq!(page["next_page"], Value::Null);
    assert!(page.get("total_count").is_none());

    let r = search(
        &fake,
        "query=metadata%5B%27patron_customer_id%27%5D%3A%2701ABC%27",
    )
    .await;
    assert_eq!(ids(&r), std::slice::from_ref(&cy));
    let r = search(
        &fake,
        "query=name%7E%27ston%27%20OR%20email%3A%27ann%40example.com%27",
    )
    .await;
    assert_eq!(ids(&r), [bob.clone(), ann.clone()], "newest first");
    let r = search(
        &fake,
        "query=name%7E%27ston%27%20AND%20email%3A%27ann%40example.com%27",
    )
    .await;
    assert!(ids(&r).is_empty());

    // Pages: limit and the opaque next_page token; total_count only when expanded.
    let everyone = "query=-name%3A%27nobody%27";
    let r = search(&fake, &format!("{everyone}&limit=2&expand[]=total_count")).await;
    assert_eq!(ids(&r), [cy.clone(), bob.clone()]);
    assert_eq!(r.json()["has_more"], true);
    assert_eq!(r.json()["total_count"], 3);
    let next = r.json()["next_page"].as_str().unwrap().to_owned();
    let r = search(&fake, &format!("{everyone}&limit=2&page={next}")).await;
    assert_eq!(ids(&r), std::slice::from_ref(&ann));
    assert_eq!(r.json()["has_more"], false);

    // Deleted customers are not found.
    fake.delete_customer(&ann);
    let r = search(&fake, "query=email%3A%27ann%40example.com%27").await;
    assert!(ids(&r).is_empty());
}

#[tokio::test]
async fn search_is_strict() {
    let fake = fake().await;
    error(
        &search(&fake, "limit=3").await,
        400,
        Some("parameter_missing"),
        Some("query"),
    );
    error(
        &search(&fake, "query=name%3A%27a%27&starting_after=cus_1").await,
        400,
        Some("parameter_unknown"),
        Some("starting_after"),
    );
    error(
        &search(&fake, "query=name%3A%27a%27&limit=0").await,
        400,
        None,
        Some("limit"),
    );
    error(
        &search(&fake, "query=name%3A%27a%27&limit=101").await,
        400,
        None,
        Some("limit"),
    );
    error(
        &search(&fake, "query=name%3A%27a%27&page=garbage").await,
        400,
        None,
        Some("page"),
    );
    for bad in [
        "name",                                                          // no operator
        "name%3Aann",                                                    // unquoted value
        "address%3A%27x%27",                                             // not searchable
        "name%3A%27a%27%20AND%20email%3A%27b%27%20OR%20phone%3A%27c%27", // AND with OR
        "name%3A%27a%27%20email%3A%27b%27",                              // no joiner
    ] {
        let r = search(&fake, &format!("query={bad}")).await;
        let err = error(&r, 400, None, Some("query"));
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid search query"),
            "{bad}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn portal_configurations_are_created_listed_read_and_updated() {
    let fake = fake().await;
    let default = fake.create_portal_configuration(KEY, true, None);
    let r = call(
        &fake,
        "POST",
        "/v1/billing_portal/configurations",
        "features[payment_method_update][enabled]=true\
         &features[customer_update][enabled]=true\
         &features[customer_update][allowed_updates][0]=address\
         &default_return_url=https://example.com/account\
         &business_profile[headline]=Acme&metadata[team]=billing&name=Main",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("bpc_"));
    assert_eq!(created["object"], "billing_portal.configuration");
    assert_eq!(created["is_default"], false);
    assert_eq!(
        created["features"]["payment_method_update"]["enabled"],
        true
    );
    assert_eq!(
        created["features"]["customer_update"]["allowed_updates"],
        json!(["address"])
    );
    assert_eq!(created["features"]["invoice_history"]["enabled"], false);
    assert_eq!(created["business_profile"]["headline"], "Acme");
    assert_eq!(created["metadata"]["team"], "billing");

    let r = call(
        &fake,
        "GET",
        &format!("/v1/billing_portal/configurations/{id}"),
        "",
    )
    .await;
    assert_eq!(r.json(), created);
    let r = call(
        &fake,
        "GET",
        "/v1/billing_portal/configurations?is_default=true",
        "",
    )
    .await;
    assert_eq!(ids(&r), std::slice::from_ref(&default));
    let r = call(
        &fake,
        "GET",
        "/v1/billing_portal/configurations?limit=1",
        "",
    )
    .await;
    assert_eq!(ids(&r), std::slice::from_ref(&id));
    assert_eq!(r.json()["has_more"], true);

    let r = call(
        &fake,
        "POST",
        &format!("/v1/billing_portal/configurations/{id}"),
        "active=false&default_return_url=&login_page[enabled]=true",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated = r.json();
    assert_eq!(updated["active"], false);
    assert_eq!(updated["default_return_url"], Value::Null);
    assert_eq!(updated["login_page"]["enabled"], true);
    assert!(updated["login_page"]["url"].is_string());
    let r = call(
        &fake,
        "GET",
        "/v1/billing_portal/configurations?active=true",
        "",
    )
    .await;
    assert_eq!(ids(&r), std::slice::from_ref(&default));
    // An inactive configuration serves no portal session.
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let session = format!("customer={customer}&configuration={id}");
    let r = call(&fake, "POST", "/v1/billing_portal/sessions", &session).await;
    error(&r, 400, None, Some("configuration"));
    // The default configuration cannot be deactivated.
    let r = call(
        &fake,
        "POST",
        &format!("/v1/billing_portal/configurations/{default}"),
        "active=false",
    )
    .await;
    error(&r, 400, None, Some("active"));
}

#[tokio::test]
async fn portal_configuration_parameters_are_strict() {
    let fake = fake().await;
    let path = "/v1/billing_portal/configurations";
    // features is required on create, and each feature's `enabled`.
    error(
        &call(&fake, "POST", path, "name=x").await,
        400,
        Some("parameter_missing"),
        Some("features"),
    );
    error(
        &call(&fake, "POST", path, "features[invoice_history][shown]=true").await,
        400,
        Some("parameter_unknown"),
        Some("features[invoice_history][shown]"),
    );
    let r = call(
        &fake,
        "POST",
        path,
        "features[customer_update][enabled]=true&features[customer_update][allowed_updates][0]=birthday",
    )
    .await;
    error(
        &r,
        400,
        Some("parameter_invalid_string"),
        Some("features[customer_update][allowed_updates][0]"),
    );
    let r = call(
        &fake,
        "POST",
        path,
        "features[invoice_history][enabled]=true&default_return_url=not-a-url",
    )
    .await;
    error(&r, 400, Some("url_invalid"), Some("default_return_url"));
    error(
        &call(&fake, "GET", &format!("{path}?color=red"), "").await,
        400,
        Some("parameter_unknown"),
        Some("color"),
    );
    let r = call(&fake, "GET", &format!("{path}/bpc_missing"), "").await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = call(&fake, "POST", &format!("{path}/bpc_missing"), "name=x").await;
    assert_eq!(r.status, 404, "{}", r.body);
    // `active` is for updates only.
    error(
        &call(
            &fake,
            "POST",
            path,
            "features[invoice_history][enabled]=true&active=true",
        )
        .await,
        400,
        Some("parameter_unknown"),
        Some("active"),
    );
}

fn typed() -> fake_stripe::EnteredDetails {
    fake_stripe::EnteredDetails {
        name: Some("Ada Buyer".into()),
        country: Some("DE".into()),
        postal_code: Some("10115".into()),
        city: Some("Berlin".into()),
        line1: Some("Invalidenstr. 1".into()),
        ..Default::default()
    }
}

async fn setup_session(fake: &FakeStripe, customer: &str, extra: &str) -> String {
    let r = call(
        fake,
        "POST",
        "/v1/checkout/sessions",
        &format!(
            "mode=setup&currency=eur&customer={customer}&success_url=https://example.com/ok{extra}"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn checkout_collects_the_billing_details_as_asked() {
    let fake = fake().await;
    // A full address with billing_address_collection=required; the customer stays as it was.
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let session = setup_session(&fake, &customer, "&billing_address_collection=required").await;
    let card = fake.create_payment_method(KEY, Some(&customer));
    let events = fake.complete_checkout_session_with(&session, &card, &typed());
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        ["setup_intent.succeeded", "checkout.session.completed"]
    );
    let details = &fake.payment_method(&card).unwrap()["billing_details"];
    assert_eq!(details["name"], "Ada Buyer");
    assert_eq!(details["address"]["line1"], "Invalidenstr. 1");
    assert_eq!(details["address"]["country"], "DE");
    assert_eq!(fake.customer(&customer).unwrap()["address"], Value::Null);

    // Otherwise country and postal code only; customer_update auto saves them (and the name) on
    // the customer, announced by customer.updated with the previous values.
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let session = setup_session(
        &fake,
        &customer,
        "&customer_update[address]=auto&customer_update[name]=auto",
    )
    .await;
    let card = fake.create_payment_method(KEY, Some(&customer));
    let events = fake.complete_checkout_session_with(&session, &card, &typed());
    let address = &fake.payment_method(&card).unwrap()["billing_details"]["address"];
    assert_eq!(
        *address,
        json!({"city": null, "country": "DE", "line1": null, "line2": null,
               "postal_code": "10115", "state": null})
    );
    assert_eq!(events[0].event_type(), "customer.updated");
    assert_eq!(events[0].object()["address"], *address);
    assert_eq!(events[0].object()["name"], "Ada Buyer");
    assert_eq!(
        events[0].json()["data"]["previous_attributes"],
        json!({"address": null, "name": "Jane"})
    );
    assert_eq!(fake.customer(&customer).unwrap()["address"], *address);
}

#[tokio::test]
async fn the_control_url_completes_a_session_as_a_customer_would() {
    let fake = fake().await;
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let session = setup_session(
        &fake,
        &customer,
        "&billing_address_collection=required&customer_update[address]=auto",
    )
    .await;
    let path = format!("/_fake/checkout/sessions/{session}/complete");
    let r = call(&fake, "POST", &path, "colour=red").await;
    error(&r, 400, Some("parameter_unknown"), Some("colour"));
    let r = call(
        &fake,
        "POST",
        &path,
        "name=Ada&address[country]=DE&address[postal_code]=10115&address[line1]=Main%201",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    let card = answer["payment_method"].as_str().unwrap();
    let types: Vec<&str> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "customer.updated",
            "setup_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let pm = fake.payment_method(card).unwrap();
    assert_eq!(pm["customer"], json!(customer));
    assert_eq!(pm["billing_details"]["address"]["line1"], "Main 1");
    assert_eq!(
        fake.checkout_session(&session).unwrap()["status"],
        "complete"
    );
    // Completed sessions cannot be completed again.
    let r = call(&fake, "POST", &path, "").await;
    assert_eq!(r.status, 400, "{}", r.body);
}
