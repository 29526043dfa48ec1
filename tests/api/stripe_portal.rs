//! CustomerAppService's Stripe calls for one customer: Billing customer portal sessions and
//! re-syncing the Stripe customer, against the Stripe double.

use patron::grpc::pb;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, bad_fields, customer};
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, KEY, install};

const PORTAL: &str = "/v1/billing_portal/sessions";

fn by_key(key: &str) -> Option<pb::create_stripe_customer_portal_session_request::Customer> {
    Some(pb::create_stripe_customer_portal_session_request::Customer::CustomerKey(key.into()))
}

fn portal_request(key: &str) -> pb::CreateStripeCustomerPortalSessionRequest {
    pb::CreateStripeCustomerPortalSessionRequest {
        customer: by_key(key),
        ..Default::default()
    }
}

/// A customer `key` connected to a new Stripe customer in the default app; returns the cus_ id.
async fn connected_customer(app: &TestApp, key: &str) -> (pb::Customer, String) {
    let created = app.create(customer("ACME, Inc.", key)).await;
    let stripe_customer = app
        .stripe
        .create_customer(ACCOUNT, Some("ACME, Inc."), None);
    app.customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: Some(pb::upsert_customer_apps_request::Customer::CustomerKey(
                key.into(),
            )),
            data: vec![pb::CustomerAppData {
                data: Some(pb::customer_app_data::Data::Stripe(
                    pb::StripeCustomerAppData {
                        stripe_customer_id: stripe_customer.clone(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }],
        })
        .await
        .expect("upsert customer app");
    (created, stripe_customer)
}

async fn checkout_then_portal_session(app: TestApp) {
    let installed = install(&app).await;
    // A customer gets its Stripe customer through Checkout.
    let session = app
        .checkout
        .clone()
        .create_stripe_checkout_session(pb::CreateStripeCheckoutSessionRequest {
            customer: Some(pb::CheckoutCustomer {
                customer: Some(pb::checkout_customer::Customer::Create(customer(
                    "ACME, Inc.",
                    "acme",
                ))),
            }),
            options: Some(pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                success_url: "https://example.com/success".into(),
                cancel_url: "https://example.com/cancel".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("checkout")
        .into_inner();

    // A fresh Stripe account has no default portal configuration: a clear precondition.
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("acme"))
        .await
        .expect_err("no default configuration");
    assert_error(
        &err,
        Code::FailedPrecondition,
        "STRIPE_PORTAL_NOT_CONFIGURED",
    );
    assert!(err.message().contains("configuration_id"), "{err:?}");

    let default =
        app.stripe
            .create_portal_configuration(ACCOUNT, true, Some("https://example.com/account"));
    let portal = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            locale: "fr-CA".into(),
            ..portal_request("acme")
        })
        .await
        .expect("portal session")
        .into_inner();
    assert!(portal.id.starts_with("bps_"), "{}", portal.id);
    assert_eq!(portal.stripe_customer_id, session.stripe_customer_id);
    assert_eq!(portal.configuration_id, default);
    assert!(!portal.livemode);
    assert!(portal.created_at.is_some_and(|t| t.seconds > 0));
    assert_eq!(portal.locale, "fr-CA");
    assert_eq!(portal.return_url, "https://example.com/account");
    assert!(
        portal
            .url
            .starts_with("https://billing.stripe.com/p/session/")
    );

    // A named configuration, a return URL and the app by id, by customer id.
    let other = app.stripe.create_portal_configuration(ACCOUNT, false, None);
    let portal = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            customer: Some(
                pb::create_stripe_customer_portal_session_request::Customer::CustomerId(
                    session.customer_id.clone(),
                ),
            ),
            app_id: installed.id.clone(),
            configuration_id: other.clone(),
            return_url: "https://example.com/back".into(),
            ..Default::default()
        })
        .await
        .expect("portal session with options")
        .into_inner();
    assert_eq!(portal.configuration_id, other);
    assert_eq!(portal.return_url, "https://example.com/back");
    assert_eq!(portal.locale, "");
    let sent = app.stripe.requests_to("POST", PORTAL);
    let last = sent.last().expect("a portal request");
    assert_eq!(
        last.param("customer"),
        Some(session.stripe_customer_id.as_str())
    );
    assert_eq!(last.param("configuration"), Some(other.as_str()));
    assert_eq!(last.param("return_url"), Some("https://example.com/back"));
    assert_eq!(last.param("locale"), None);

    // Bad options name their fields and reach no one.
    let before = app.stripe.requests_to("POST", PORTAL).len();
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            configuration_id: "conf_1".into(),
            locale: "xx".into(),
            return_url: "javascript:alert(1)".into(),
            ..portal_request("acme")
        })
        .await
        .expect_err("bad options");
    assert_eq!(
        bad_fields(&err),
        ["configuration_id", "locale", "return_url"]
    );
    // A configuration Stripe does not know.
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            configuration_id: "bpc_unknown".into(),
            ..portal_request("acme")
        })
        .await
        .expect_err("unknown configuration");
    let meta = assert_error(
        &err,
        Code::FailedPrecondition,
        "STRIPE_PORTAL_CONFIGURATION_NOT_FOUND",
    );
    assert_eq!(meta["field"], "configuration_id");
    assert_eq!(app.stripe.requests_to("POST", PORTAL).len(), before + 1);
}

async fn portal_needs_a_stripe_customer_and_a_usable_app(app: TestApp) {
    // No app at all.
    app.create(customer("ACME, Inc.", "acme")).await;
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("acme"))
        .await
        .expect_err("no app");
    assert_error(&err, Code::FailedPrecondition, "NO_DEFAULT_APP");

    let installed = install(&app).await;
    app.stripe.create_portal_configuration(ACCOUNT, true, None);
    // A customer without a Stripe customer: no implicit creation.
    let customers_before = app.stripe.customers(ACCOUNT).len();
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("acme"))
        .await
        .expect_err("no Stripe customer");
    let meta = assert_error(&err, Code::FailedPrecondition, "STRIPE_CUSTOMER_MISSING");
    assert_eq!(meta["app_id"], installed.id);
    assert!(
        err.message().contains("has no Stripe customer yet"),
        "{err:?}"
    );
    assert_eq!(app.stripe.customers(ACCOUNT).len(), customers_before);
    assert!(app.stripe.requests_to("POST", PORTAL).is_empty());

    // Unknown app, unknown customer.
    let unknown = ulid::Ulid::new().to_string();
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            app_id: unknown.clone(),
            ..portal_request("acme")
        })
        .await
        .expect_err("unknown app");
    assert_error(&err, Code::NotFound, "APP_NOT_FOUND");
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("nobody"))
        .await
        .expect_err("unknown customer");
    assert_error(&err, Code::NotFound, "CUSTOMER_NOT_FOUND");
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
            customer: None,
            ..Default::default()
        })
        .await
        .expect_err("no customer");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(app.stripe.requests_to("POST", PORTAL).is_empty());
}

fn sync_request(key: &str) -> pb::SyncStripeCustomerRequest {
    pb::SyncStripeCustomerRequest {
        customer: Some(pb::sync_stripe_customer_request::Customer::CustomerKey(
            key.into(),
        )),
        app_id: String::new(),
    }
}

fn stripe_data(entry: &pb::CustomerAppData) -> pb::StripeCustomerAppData {
    match &entry.data {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.clone(),
        None => panic!("no Stripe data in {entry:?}"),
    }
}

async fn list(app: &TestApp, key: &str) -> Vec<pb::CustomerAppData> {
    app.customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerKey(
                key.into(),
            )),
        })
        .await
        .expect("list")
        .into_inner()
        .data
}

async fn sync_picks_up_what_webhooks_missed(app: TestApp) {
    let installed = install(&app).await;
    let err = app
        .customer_apps
        .clone()
        .sync_stripe_customer(sync_request("acme"))
        .await
        .expect_err("no customer yet");
    assert_error(&err, Code::NotFound, "CUSTOMER_NOT_FOUND");
    let (_, stripe_customer) = connected_customer(&app, "acme").await;

    // Nothing set at Stripe yet: nothing stored.
    let synced = app
        .customer_apps
        .clone()
        .sync_stripe_customer(sync_request("acme"))
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(synced.app_id, installed.id);
    assert_eq!(stripe_data(&synced).stripe_customer_id, stripe_customer);
    assert_eq!(stripe_data(&synced).stripe_default_payment_method_id, "");

    // Set directly at Stripe, no event: the sync stores it.
    let pm = app
        .stripe
        .create_payment_method(KEY, Some(&stripe_customer));
    app.stripe
        .set_customer_default_payment_method(&stripe_customer, Some(&pm));
    let synced = app
        .customer_apps
        .clone()
        .sync_stripe_customer(sync_request("acme"))
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(stripe_data(&synced).stripe_default_payment_method_id, pm);
    let stored = list(&app, "acme").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stripe_data(&stored[0]).stripe_default_payment_method_id, pm);

    // Cleared at Stripe: cleared here.
    app.stripe
        .set_customer_default_payment_method(&stripe_customer, None);
    let synced = app
        .customer_apps
        .clone()
        .sync_stripe_customer(sync_request("acme"))
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(stripe_data(&synced).stripe_default_payment_method_id, "");
    assert_eq!(
        stripe_data(&list(&app, "acme").await[0]).stripe_default_payment_method_id,
        ""
    );

    // Deleted at Stripe: marked as the customer.deleted webhook marks it, not removed.
    app.stripe.delete_customer(&stripe_customer);
    for _ in 0..2 {
        let synced = app
            .customer_apps
            .clone()
            .sync_stripe_customer(sync_request("acme"))
            .await
            .expect("sync of a deleted Stripe customer")
            .into_inner();
        assert!(stripe_data(&synced).stripe_customer_deleted);
        assert_eq!(stripe_data(&synced).stripe_customer_id, stripe_customer);
    }
    let stored = list(&app, "acme").await;
    assert_eq!(stored.len(), 1);
    assert!(stripe_data(&stored[0]).stripe_customer_deleted);
    assert_eq!(stripe_data(&stored[0]).stripe_default_payment_method_id, "");
    let err = app
        .customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("acme"))
        .await
        .expect_err("no portal for a deleted Stripe customer");
    assert_error(&err, Code::FailedPrecondition, "STRIPE_CUSTOMER_NOT_FOUND");

    // The next checkout connects a fresh Stripe customer.
    let session = app
        .checkout
        .clone()
        .create_stripe_checkout_session(pb::CreateStripeCheckoutSessionRequest {
            customer: Some(pb::CheckoutCustomer {
                customer: Some(pb::checkout_customer::Customer::Key("acme".into())),
            }),
            options: Some(pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                success_url: "https://example.com/ok".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("checkout after the deletion")
        .into_inner();
    assert_ne!(session.stripe_customer_id, stripe_customer);
    let stored = list(&app, "acme").await;
    assert_eq!(stored.len(), 1);
    assert!(!stripe_data(&stored[0]).stripe_customer_deleted);
    assert_eq!(
        stripe_data(&stored[0]).stripe_customer_id,
        session.stripe_customer_id
    );
}

const KEY_A: &str = "patron_test_key_a_portal_0123456789";
const KEY_B: &str = "patron_test_key_b_portal_9876543210";
const KEYS: &[(&str, &str)] = &[("portal-a", KEY_A), ("portal-b", KEY_B)];

async fn other_tenants_customer_is_not_found(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    app.stripe.add_account(KEY, ACCOUNT);
    app.stripe.create_portal_configuration(ACCOUNT, true, None);
    for t in [&a, &b] {
        t.apps
            .clone()
            .install_stripe_app(pb::InstallStripeAppRequest {
                api_key: KEY.into(),
                ..Default::default()
            })
            .await
            .expect("install");
    }
    let created = a
        .customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("Acme of A", "acme")),
            ..Default::default()
        })
        .await
        .expect("A's customer")
        .into_inner();
    let stripe_customer = app.stripe.create_customer(ACCOUNT, None, None);
    a.customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: Some(pb::upsert_customer_apps_request::Customer::CustomerId(
                created.id.clone(),
            )),
            data: vec![pb::CustomerAppData {
                data: Some(pb::customer_app_data::Data::Stripe(
                    pb::StripeCustomerAppData {
                        stripe_customer_id: stripe_customer,
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }],
        })
        .await
        .expect("A's customer app");
    a.customer_apps
        .clone()
        .create_stripe_customer_portal_session(portal_request("acme"))
        .await
        .expect("A's portal session");

    let by_id = || {
        Some(
            pb::create_stripe_customer_portal_session_request::Customer::CustomerId(
                created.id.clone(),
            ),
        )
    };
    for request in [
        portal_request("acme"),
        pb::CreateStripeCustomerPortalSessionRequest {
            customer: by_id(),
            ..Default::default()
        },
    ] {
        let err = b
            .customer_apps
            .clone()
            .create_stripe_customer_portal_session(request)
            .await
            .expect_err("A's customer for B");
        assert_error(&err, Code::NotFound, "CUSTOMER_NOT_FOUND");
    }
    let err = b
        .customer_apps
        .clone()
        .sync_stripe_customer(pb::SyncStripeCustomerRequest {
            customer: Some(pb::sync_stripe_customer_request::Customer::CustomerId(
                created.id.clone(),
            )),
            app_id: String::new(),
        })
        .await
        .expect_err("A's customer for B");
    assert_error(&err, Code::NotFound, "CUSTOMER_NOT_FOUND");
    assert_eq!(app.stripe.requests_to("POST", PORTAL).len(), 1);
}

on_both_databases!(
    checkout_then_portal_session,
    portal_needs_a_stripe_customer_and_a_usable_app,
    sync_picks_up_what_webhooks_missed,
);
on_both_databases!(with_api_keys(KEYS): other_tenants_customer_is_not_found);
