//! Apps, customer app data, checkout sessions and the portal over REST, against the Stripe double.

use serde_json::json;

use super::{assert_documented, open};
use crate::helpers::TestApp;
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, KEY};

async fn an_app_installed_by_api_key_is_listed_updated_and_uninstalled(app: TestApp) {
    let rest = open(&app);
    app.stripe.add_account(KEY, ACCOUNT);
    let listings = rest.get("/api/v1/marketplace/listings").await.json();
    assert_eq!(listings["items"][0]["type"], "stripe");
    let listing = rest.get("/api/v1/marketplace/listings/stripe").await.json();
    assert_eq!(listing["installMethods"], json!(["with_api_key"]));
    rest.get("/api/v1/marketplace/listings/sandbox")
        .await
        .problem(404);
    let path = "/api/v1/marketplace/listings/stripe/install/apikey";
    let bad = rest.post(path, &json!({"apiKey": "pk_test_nope"})).await;
    assert_eq!(bad.bad_fields(), ["apiKey"]);
    let installed = rest
        .post(path, &json!({"apiKey": KEY, "name": "Main"}))
        .await;
    assert_eq!(installed.status, 200, "{:?}", installed.json());
    let i = installed.json();
    assert_documented(&rest, "marketplaceAppAPIKeyInstall", &i).await;
    assert_documented(&rest, "listMarketplaceListings", &listings).await;
    assert_eq!(i["defaultForCapabilityTypes"], json!(["collectPayments"]));
    let a = &i["app"];
    assert_eq!(
        (a["type"].clone(), a["status"].clone()),
        (json!("stripe"), json!("ready"))
    );
    assert_eq!(a["stripeAccountId"], ACCOUNT);
    assert!(!a["maskedAPIKey"].as_str().unwrap().contains(&KEY[10..]));
    let id = a["id"].as_str().unwrap();

    let listed = rest.get("/api/v1/apps").await.json();
    assert_documented(&rest, "listApps", &listed).await;
    assert_eq!(
        (
            listed["totalCount"].clone(),
            listed["items"][0]["id"].clone()
        ),
        (json!(1), json!(id))
    );
    let renamed = rest
        .put(
            &format!("/api/v1/apps/{id}"),
            &json!({"type": "stripe", "name": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.json()["name"], "Renamed");
    let key = rest
        .put(
            &format!("/api/v1/apps/{id}/stripe/api-key"),
            &json!({"secretAPIKey": KEY}),
        )
        .await;
    assert_eq!(key.status, 204);
    assert_eq!(
        rest.get(&format!("/api/v1/apps/{id}")).await.json()["name"],
        "Renamed"
    );

    // OpenMeter's webhook path answers like patron's own: unsigned deliveries are refused.
    let unsigned = rest
        .send(
            "POST",
            &format!("/api/v1/apps/{id}/stripe/webhook"),
            Some("application/json"),
            b"{}",
        )
        .await;
    let own = rest
        .send(
            "POST",
            &format!("/webhooks/stripe/{id}"),
            Some("application/json"),
            b"{}",
        )
        .await;
    assert_eq!((unsigned.status, unsigned.body), (own.status, own.body));

    assert_eq!(rest.delete(&format!("/api/v1/apps/{id}")).await.status, 204);
    assert_eq!(rest.get("/api/v1/apps").await.json()["totalCount"], 0);
}

async fn customer_app_data_checkout_and_portal_work_as_the_docs_show(app: TestApp) {
    let rest = open(&app);
    app.stripe.add_account(KEY, ACCOUNT);
    let install = rest
        .post(
            "/api/v1/marketplace/listings/stripe/install/apikey",
            &json!({"apiKey": KEY}),
        )
        .await
        .json();
    let app_id = install["app"]["id"].as_str().unwrap().to_owned();
    let customer = rest
        .post(
            "/api/v1/customers",
            &json!({"name": "ACME, Inc.", "key": "acme"}),
        )
        .await
        .json();
    let id = customer["id"].as_str().unwrap();
    let cus = app.stripe.create_customer(ACCOUNT, Some("ACME"), None);

    let wrong = rest
        .put(
            "/api/v1/customers/acme/apps",
            &json!([{"type": "sandbox", "stripeCustomerId": "x"}]),
        )
        .await;
    let mut fields = wrong.bad_fields();
    fields.sort();
    assert_eq!(fields, ["[0].stripeCustomerId", "[0].type"]);
    let stored = rest
        .put(
            &format!("/api/v1/customers/{id}/apps"),
            &json!([{"type": "stripe", "stripeCustomerId": cus}]),
        )
        .await;
    assert_eq!(stored.status, 200, "{:?}", stored.json());
    let s = stored.json();
    assert_documented(&rest, "upsertCustomerAppData", &s).await;
    assert_eq!(s[0]["id"], app_id.as_str());
    assert_eq!(s[0]["stripeCustomerId"], cus.as_str());
    let listed = rest.get("/api/v1/customers/acme/apps").await.json();
    assert_documented(&rest, "listCustomerAppData", &listed).await;
    assert_eq!(listed["totalCount"], 1);
    let shortcut = rest.get("/api/v1/customers/acme/stripe").await.json();
    assert_eq!(shortcut["stripeCustomerId"], cus.as_str());
    let pm = app.stripe.create_payment_method(ACCOUNT, Some(&cus));
    let with_pm = rest
        .put(
            "/api/v1/customers/acme/stripe",
            &json!({"stripeCustomerId": cus, "stripeDefaultPaymentMethodId": pm}),
        )
        .await;
    assert_eq!(with_pm.json()["stripeDefaultPaymentMethodId"], pm.as_str());

    app.stripe.create_portal_configuration(ACCOUNT, true, None);
    let portal = rest
        .post(
            "/api/v1/customers/acme/stripe/portal",
            &json!({"returnUrl": "https://example.com/back"}),
        )
        .await;
    assert_eq!(portal.status, 201, "{:?}", portal.json());
    let p = portal.json();
    assert_documented(&rest, "createCustomerStripePortalSession", &p).await;
    assert_eq!(p["stripeCustomerId"], cus.as_str());
    assert_eq!(p["returnUrl"], "https://example.com/back");
    assert!(p["url"].as_str().unwrap().starts_with("https://"));

    let deleted = rest
        .delete(&format!("/api/v1/customers/acme/apps/{app_id}"))
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        rest.get("/api/v1/customers/acme/apps").await.json()["totalCount"],
        0
    );
    rest.get("/api/v1/customers/acme/stripe").await.problem(404);
}

async fn the_docs_checkout_creates_the_customer_and_reuses_the_holder_of_its_key(app: TestApp) {
    let rest = open(&app);
    app.stripe.add_account(KEY, ACCOUNT);
    rest.post(
        "/api/v1/marketplace/listings/stripe/install/apikey",
        &json!({"apiKey": KEY}),
    )
    .await;
    let docs = json!({"customer": {"name": "ACME, Inc.", "currency": "USD",
        "usageAttribution": {"subjectKeys": ["my-identifier"]}},
        "options": {"successUrl": "https://example.com/success"}});
    let created = rest.post("/api/v1/stripe/checkout/sessions", &docs).await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let s = created.json();
    assert_documented(&rest, "createStripeCheckoutSession", &s).await;
    assert_eq!(s["mode"], "setup");
    assert_eq!(s["successURL"], "https://example.com/success");
    for field in [
        "customerId",
        "sessionId",
        "setupIntentId",
        "stripeCustomerId",
        "url",
    ] {
        assert!(
            s[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {s}"
        );
    }
    let customer = rest
        .get(&format!(
            "/api/v1/customers/{}",
            s["customerId"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(
        customer["usageAttribution"]["subjectKeys"],
        json!(["my-identifier"])
    );

    let sdk = json!({"customer": {"name": "ACME, Inc.", "key": "acme",
        "usageAttribution": {"subjectKeys": ["acme-subject"]}},
        "options": {"successURL": "https://example.com/ok", "currency": "USD"}});
    let first = rest
        .post("/api/v1/stripe/checkout/sessions", &sdk)
        .await
        .json();
    let again = rest
        .post("/api/v1/stripe/checkout/sessions", &sdk)
        .await
        .json();
    assert_eq!(
        first["customerId"], again["customerId"],
        "the live holder of the key is reused"
    );
    let by_key = rest
        .post("/api/v1/stripe/checkout/sessions", &json!({"customer": {"key": "acme"}, "options": {"successURL": "https://example.com/ok", "currency": "EUR"}}))
        .await;
    assert_eq!(by_key.status, 201, "{:?}", by_key.json());
    let bad = rest
        .post(
            "/api/v1/stripe/checkout/sessions",
            &json!({"customer": {"key": "acme"}, "options": {"successURL": "not a url"}}),
        )
        .await;
    assert_eq!(bad.bad_fields(), ["options.successURL"]);
}

on_both_databases!(
    an_app_installed_by_api_key_is_listed_updated_and_uninstalled,
    customer_app_data_checkout_and_portal_work_as_the_docs_show,
    the_docs_checkout_creates_the_customer_and_reuses_the_holder_of_its_key,
);
