//! `POST /v1/billing_portal/sessions` over HTTP: strict parameters, the customer and the
//! configuration must exist, and Stripe's error when the account has no default configuration.

mod common;

use common::{KEY, error, fake, post};

#[tokio::test]
async fn without_a_default_configuration_stripe_says_so() {
    let fake = fake().await;
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let r = post(
        &fake,
        "/v1/billing_portal/sessions",
        &format!("customer={customer}"),
    )
    .await;
    let err = error(&r, 400, None, None);
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "No configuration provided and your test mode default configuration has not been created"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_session_uses_the_default_or_the_named_configuration() {
    let fake = fake().await;
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    let default = fake.create_portal_configuration(KEY, true, Some("https://example.com/home"));
    let other = fake.create_portal_configuration(KEY, false, None);

    let r = post(
        &fake,
        "/v1/billing_portal/sessions",
        &format!("customer={customer}&locale=fr-CA"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    assert!(s["id"].as_str().unwrap().starts_with("bps_"), "{s}");
    assert_eq!(s["object"], "billing_portal.session");
    assert_eq!(s["configuration"], default.as_str());
    assert_eq!(s["customer"], customer.as_str());
    assert_eq!(s["livemode"], false);
    assert_eq!(s["locale"], "fr-CA");
    assert_eq!(s["return_url"], "https://example.com/home");
    assert!(
        s["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.com/p/session/")
    );
    assert!(s["created"].as_i64().unwrap() > 0);

    let body =
        format!("customer={customer}&configuration={other}&return_url=https://example.com/back");
    let r = post(&fake, "/v1/billing_portal/sessions", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["configuration"], other.as_str());
    assert_eq!(r.json()["return_url"], "https://example.com/back");
}

#[tokio::test]
async fn strict_parameters_customer_and_configuration() {
    let fake = fake().await;
    let customer = fake.create_customer(KEY, Some("Jane"), None);
    fake.create_portal_configuration(KEY, true, None);
    let path = "/v1/billing_portal/sessions";

    let r = post(&fake, path, &format!("customer={customer}&colour=red")).await;
    error(&r, 400, Some("parameter_unknown"), Some("colour"));
    let r = post(&fake, path, &format!("customer={customer}&locale=xx")).await;
    error(&r, 400, Some("parameter_invalid_string"), Some("locale"));
    let r = post(&fake, path, "locale=en").await;
    error(&r, 400, Some("parameter_missing"), Some("customer"));
    let r = post(&fake, path, "customer=cus_nope").await;
    error(&r, 400, Some("resource_missing"), Some("customer"));
    let r = post(
        &fake,
        path,
        &format!("customer={customer}&configuration=bpc_nope"),
    )
    .await;
    error(&r, 400, Some("resource_missing"), Some("configuration"));
    let r = post(&fake, path, &format!("customer={customer}&return_url=nope")).await;
    error(&r, 400, Some("url_invalid"), Some("return_url"));

    fake.delete_customer(&customer);
    let r = post(&fake, path, &format!("customer={customer}")).await;
    error(&r, 400, Some("resource_missing"), Some("customer"));
}
