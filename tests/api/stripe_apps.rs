//! AppService and CustomerAppService against the Stripe double.

use std::time::Duration;

use fake_stripe::Fault;
use patron::grpc::pb;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, bad_fields, customer, customer_with_subjects};
use crate::on_both_databases;

pub const KEY: &str = "sk_test_51PatronTestKeyAbcXyz123";
pub const ACCOUNT: &str = "acct_1PatronTestAcct";

/// Registers the test key at the double and installs it as an app.
pub async fn install(app: &TestApp) -> pb::App {
    app.stripe.add_account(KEY, ACCOUNT);
    app.apps
        .clone()
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: KEY.into(),
            ..Default::default()
        })
        .await
        .expect("install")
        .into_inner()
}

fn stripe_entry(app_id: &str, customer: &str, pm: &str) -> pb::CustomerAppData {
    pb::CustomerAppData {
        app_id: app_id.into(),
        data: Some(pb::customer_app_data::Data::Stripe(
            pb::StripeCustomerAppData {
                stripe_customer_id: customer.into(),
                stripe_default_payment_method_id: pm.into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn by_id(id: &str) -> Option<pb::upsert_customer_apps_request::Customer> {
    Some(pb::upsert_customer_apps_request::Customer::CustomerId(
        id.into(),
    ))
}

async fn install_verifies_the_key_and_keeps_it_secret(app: TestApp) {
    let mut apps = app.apps.clone();
    let status = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "pk_test_abc".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["api_key"]);
    assert!(
        app.stripe.requests().is_empty(),
        "a bad prefix never reaches Stripe"
    );
    let status = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_unknownKey123456".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["api_key"], "Stripe refused the key");

    let installed = install(&app).await;
    assert_eq!(installed.name, "Stripe");
    assert!(installed.default, "the first app is the default");
    assert_eq!(installed.status, pb::AppStatus::Ready as i32);
    let stripe = installed.stripe.clone().expect("stripe data");
    assert_eq!(stripe.account_id, ACCOUNT);
    assert!(!stripe.livemode);
    assert_eq!(stripe.masked_api_key, "sk_test_***123");
    assert_eq!(
        stripe.webhook_url,
        format!("{}/webhooks/stripe/{}", app.public_url, installed.id)
    );
    let endpoints = app.stripe.webhook_endpoints();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].url, stripe.webhook_url);
    for event in [
        "setup_intent.succeeded",
        "setup_intent.setup_failed",
        "checkout.session.completed",
        "checkout.session.expired",
    ] {
        assert!(endpoints[0].receives(event), "{event}");
    }
    let account_calls = app.stripe.requests_to("GET", "/v1/account");
    assert!(
        account_calls
            .iter()
            .all(|r| r.stripe_version.as_deref() == Some("2026-09-30.endive"))
    );

    let rows = app
        .query("SELECT api_key_ciphertext, webhook_secret_ciphertext FROM apps")
        .await;
    let stored = format!("{rows:?}");
    assert!(!stored.contains(KEY), "the key is encrypted at rest");
    assert!(
        !stored.contains(&endpoints[0].secret),
        "the webhook secret is encrypted at rest"
    );
    assert!(rows[0].iter().all(Option::is_some));

    let status = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::AlreadyExists, "APP_ALREADY_INSTALLED");
    assert_eq!(info["app_id"], installed.id);
    assert_eq!(
        app.stripe.webhook_endpoints().len(),
        1,
        "the refused install left no endpoint behind"
    );
}

async fn a_second_app_becomes_default_only_when_asked(app: TestApp) {
    let first = install(&app).await;
    app.stripe
        .add_account("sk_test_otherAccountKey999", "acct_other");
    app.stripe
        .add_account("sk_test_thirdAccountKey777", "acct_third");
    let mut apps = app.apps.clone();
    let second = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_otherAccountKey999".into(),
            name: "EU".into(),
            ..Default::default()
        })
        .await
        .expect("second")
        .into_inner();
    assert!(!second.default);
    let third = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_thirdAccountKey777".into(),
            make_default: true,
            request_id: "install-third".into(),
            ..Default::default()
        })
        .await
        .expect("third")
        .into_inner();
    assert!(third.default);
    let replay = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_thirdAccountKey777".into(),
            make_default: true,
            request_id: "install-third".into(),
            ..Default::default()
        })
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(
        replay, third,
        "the same request_id returns the original app"
    );
    let status = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_thirdAccountKey777".into(),
            name: "renamed".into(),
            request_id: "install-third".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
    let first_now = apps
        .get_app(pb::GetAppRequest {
            id: first.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(!first_now.default, "the default moved");
    let listed = apps
        .list_apps(pb::ListAppsRequest::default())
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<String> = listed.apps.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, [first.id.clone(), second.id.clone(), third.id.clone()]);
    assert_eq!(listed.apps.iter().filter(|a| a.default).count(), 1);
    let page = apps
        .list_apps(pb::ListAppsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(page.apps.len(), 2);
    let rest = apps
        .list_apps(pb::ListAppsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .expect("rest")
        .into_inner();
    assert_eq!(rest.apps.len(), 1);
    assert!(rest.next_page_token.is_empty());
}

async fn rotation_keeps_the_account_and_a_refused_key_marks_the_app_unauthorized(app: TestApp) {
    let installed = install(&app).await;
    let mut apps = app.apps.clone();
    let rotate = |key: &str| pb::UpdateAppRequest {
        app: Some(pb::App {
            id: installed.id.clone(),
            ..Default::default()
        }),
        api_key: key.into(),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["api_key".into()],
        }),
    };
    app.stripe
        .add_account("sk_test_otherAccountKey999", "acct_other");
    let status = apps
        .update_app(rotate("sk_test_otherAccountKey999"))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["api_key"],
        "another account is refused"
    );

    // Stripe stops accepting the key: the next call marks the app UNAUTHORIZED.
    app.stripe.revoke_key(KEY);
    let created = app.create(customer("Paying", "paying")).await;
    let cus = app.stripe.create_customer(ACCOUNT, Some("x"), None);
    let status = app
        .customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&created.id),
            data: vec![stripe_entry("", &cus, "")],
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "APP_UNAUTHORIZED");
    let now = apps
        .get_app(pb::GetAppRequest {
            id: installed.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(now.status, pb::AppStatus::Unauthorized as i32);

    app.stripe
        .add_account("sk_test_rotatedKeySameAcct456", ACCOUNT);
    let rotated = apps
        .update_app(rotate("sk_test_rotatedKeySameAcct456"))
        .await
        .expect("rotate")
        .into_inner();
    assert_eq!(rotated.status, pb::AppStatus::Ready as i32);
    assert_eq!(
        rotated.stripe.expect("stripe").masked_api_key,
        "sk_test_***456"
    );

    let renamed = apps
        .update_app(pb::UpdateAppRequest {
            app: Some(pb::App {
                id: installed.id.clone(),
                name: "Stripe US".into(),
                ..Default::default()
            }),
            api_key: String::new(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(renamed.name, "Stripe US");
    assert_eq!(renamed.status, pb::AppStatus::Ready as i32);
}

async fn uninstall_wipes_secrets_and_deletes_the_endpoint(app: TestApp) {
    let installed = install(&app).await;
    let created = app.create(customer("Paying", "paying")).await;
    let cus = app.stripe.create_customer(ACCOUNT, Some("Paying"), None);
    app.customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&created.id),
            data: vec![stripe_entry("", &cus, "")],
        })
        .await
        .expect("upsert");
    let removed = app
        .apps
        .clone()
        .uninstall_app(pb::UninstallAppRequest {
            id: installed.id.clone(),
        })
        .await
        .expect("uninstall")
        .into_inner();
    assert!(removed.deleted_at.is_some());
    assert!(
        app.stripe.webhook_endpoints().is_empty(),
        "the endpoint is deleted at Stripe"
    );
    let rows = app
        .query("SELECT api_key_ciphertext, webhook_secret_ciphertext FROM apps")
        .await;
    assert!(
        rows[0].iter().all(Option::is_none),
        "secrets wiped: {rows:?}"
    );
    let listed = app
        .customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                created.id.clone(),
            )),
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.data.is_empty(), "customer app data soft-deleted");
    let status = app
        .customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&created.id),
            data: vec![stripe_entry("", &cus, "")],
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "NO_DEFAULT_APP");
}

async fn customer_app_data_is_verified_at_stripe_and_atomic(app: TestApp) {
    let installed = install(&app).await;
    let mut client = app.customer_apps.clone();
    let alice = app.create(customer("Alice", "alice")).await;
    let bob = app
        .create(customer_with_subjects("Bob", "bob", &["bob-1"]))
        .await;
    let cus_alice = app.stripe.create_customer(ACCOUNT, Some("Alice"), None);
    let pm_alice = app.stripe.create_payment_method(ACCOUNT, Some(&cus_alice));
    let cus_other = app.stripe.create_customer(ACCOUNT, Some("Other"), None);
    let pm_other = app.stripe.create_payment_method(ACCOUNT, Some(&cus_other));

    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![stripe_entry("", "cus_doesNotExist", "")],
        })
        .await
        .unwrap_err();
    let info = assert_error(
        &status,
        Code::FailedPrecondition,
        "STRIPE_CUSTOMER_NOT_FOUND",
    );
    assert_eq!(info["field"], "data[0].stripe.stripe_customer_id");
    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![stripe_entry("", &cus_alice, &pm_other)],
        })
        .await
        .unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "PAYMENT_METHOD_NOT_ATTACHED",
    );
    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![stripe_entry("", &cus_alice, "pm_missing")],
        })
        .await
        .unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "STRIPE_PAYMENT_METHOD_NOT_FOUND",
    );
    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![stripe_entry("", "not-a-customer", "")],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["data[0].stripe.stripe_customer_id"]);
    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![
                stripe_entry("", &cus_alice, ""),
                stripe_entry(&installed.id, &cus_alice, ""),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["data[1].app_id"], "one entry per app");
    let stored = app.query("SELECT COUNT(*) FROM customer_apps").await;
    assert_eq!(
        stored[0][0].as_deref(),
        Some("0"),
        "nothing stored by failed upserts"
    );

    let upserted = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&alice.id),
            data: vec![stripe_entry("", &cus_alice, &pm_alice)],
        })
        .await
        .expect("upsert")
        .into_inner();
    assert_eq!(upserted.data.len(), 1);
    assert_eq!(upserted.data[0].app_id, installed.id);
    assert_eq!(upserted.data[0].app.as_ref().expect("app").id, installed.id);

    let status = client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: Some(pb::upsert_customer_apps_request::Customer::CustomerKey(
                "bob".into(),
            )),
            data: vec![stripe_entry("", &cus_alice, "")],
        })
        .await
        .unwrap_err();
    let info = assert_error(
        &status,
        Code::AlreadyExists,
        "STRIPE_CUSTOMER_ALREADY_MAPPED",
    );
    assert_eq!(info["customer_id"], alice.id);

    let listed = client
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerKey(
                "alice".into(),
            )),
        })
        .await
        .expect("list")
        .into_inner();
    let Some(pb::customer_app_data::Data::Stripe(data)) = &listed.data[0].data else {
        panic!("stripe data")
    };
    assert_eq!(
        (
            data.stripe_customer_id.as_str(),
            data.stripe_default_payment_method_id.as_str()
        ),
        (cus_alice.as_str(), pm_alice.as_str())
    );

    let deleted = client
        .delete_customer_app(pb::DeleteCustomerAppRequest {
            customer: Some(pb::delete_customer_app_request::Customer::CustomerId(
                alice.id.clone(),
            )),
            app_id: installed.id.clone(),
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.app_id, installed.id);
    // Now Bob may use that Stripe customer.
    client
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: by_id(&bob.id),
            data: vec![stripe_entry("", &cus_alice, "")],
        })
        .await
        .expect("bob takes it");
    // Deleting Bob soft-deletes his app data.
    app.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(bob.id.clone())),
            etag: String::new(),
        })
        .await
        .expect("delete bob");
    let live = app
        .query("SELECT COUNT(*) FROM customer_apps WHERE deleted_at IS NULL")
        .await;
    assert_eq!(live[0][0].as_deref(), Some("0"));
}

fn rotate_request(app_id: &str, key: &str) -> pb::UpdateAppRequest {
    pb::UpdateAppRequest {
        app: Some(pb::App {
            id: app_id.into(),
            ..Default::default()
        }),
        api_key: key.into(),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["api_key".into()],
        }),
    }
}

/// Waits (bounded) until the fake has taken every injected fault: the delayed request is in
/// flight.
async fn until_faults_taken(app: &TestApp) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while app.stripe.pending_faults() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the delayed Stripe call never started");
}

async fn get_app(app: &TestApp, id: &str) -> pb::App {
    app.apps
        .clone()
        .get_app(pb::GetAppRequest { id: id.into() })
        .await
        .expect("get app")
        .into_inner()
}

async fn updates_racing_an_uninstall_or_another_update_lose(app: TestApp) {
    let installed = install(&app).await;
    const NEW_KEY: &str = "sk_test_rotatedWhileRacing789";
    app.stripe.add_account(NEW_KEY, ACCOUNT);

    // A rename lands while the rotation waits for Stripe: the rotation is ABORTED, the rename
    // stays.
    app.stripe
        .fail_next("GET", "/v1/account", Fault::Delay(Duration::from_secs(3)));
    let mut apps = app.apps.clone();
    let request = rotate_request(&installed.id, NEW_KEY);
    let rotation = tokio::spawn(async move { apps.update_app(request).await });
    until_faults_taken(&app).await;
    app.apps
        .clone()
        .update_app(pb::UpdateAppRequest {
            app: Some(pb::App {
                id: installed.id.clone(),
                name: "Renamed meanwhile".into(),
                ..Default::default()
            }),
            api_key: String::new(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("rename");
    assert!(
        !rotation.is_finished(),
        "the rename landed during the rotation"
    );
    let status = rotation.await.expect("task").unwrap_err();
    assert_error(&status, Code::Aborted, "CONCURRENT_MODIFICATION");
    let now = get_app(&app, &installed.id).await;
    assert_eq!(now.name, "Renamed meanwhile");
    assert_eq!(
        now.stripe.expect("stripe").masked_api_key,
        installed.stripe.clone().expect("stripe").masked_api_key,
        "the old key stays"
    );

    // An uninstall lands while the rotation waits for Stripe: the app stays uninstalled.
    app.stripe
        .fail_next("GET", "/v1/account", Fault::Delay(Duration::from_secs(3)));
    let mut apps = app.apps.clone();
    let request = rotate_request(&installed.id, NEW_KEY);
    let rotation = tokio::spawn(async move { apps.update_app(request).await });
    until_faults_taken(&app).await;
    let uninstalled = app
        .apps
        .clone()
        .uninstall_app(pb::UninstallAppRequest {
            id: installed.id.clone(),
        })
        .await
        .expect("uninstall")
        .into_inner();
    assert!(uninstalled.deleted_at.is_some());
    assert!(
        !rotation.is_finished(),
        "the uninstall landed during the rotation"
    );
    let status = rotation.await.expect("task").unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "APP_UNINSTALLED");
    let now = get_app(&app, &installed.id).await;
    assert!(now.deleted_at.is_some(), "not brought back: {now:?}");
    assert_eq!(now.status, uninstalled.status);
    let secrets = app
        .query(&format!(
            "SELECT COUNT(*) FROM apps WHERE id = '{}' AND api_key_ciphertext IS NULL",
            installed.id
        ))
        .await;
    assert_eq!(secrets[0][0].as_deref(), Some("1"), "no key written back");
}

async fn a_missing_permission_is_named_and_a_401_marks_only_the_current_key(app: TestApp) {
    let installed = install(&app).await;
    let created = app.create(customer("Paying", "paying")).await;
    let cus = app.stripe.create_customer(ACCOUNT, Some("Paying"), None);
    let upsert = pb::UpsertCustomerAppsRequest {
        customer: by_id(&created.id),
        data: vec![stripe_entry("", &cus, "")],
    };

    // 403: a restricted key without one permission. The app stays READY.
    app.stripe.fail_next(
        "GET",
        "/v1/customers",
        Fault::PermissionDenied("rak_customer_read".into()),
    );
    let status = app
        .customer_apps
        .clone()
        .upsert_customer_apps(upsert.clone())
        .await
        .unwrap_err();
    let info = assert_error(
        &status,
        Code::FailedPrecondition,
        "STRIPE_PERMISSION_DENIED",
    );
    assert!(status.message().contains("rak_customer_read"), "{status:?}");
    assert!(status.message().contains("permission"), "{status:?}");
    assert_eq!(info["app_id"], installed.id);
    assert!(!status.message().contains(KEY), "no key leaks: {status:?}");
    assert_eq!(
        get_app(&app, &installed.id).await.status,
        pb::AppStatus::Ready as i32
    );
    app.customer_apps
        .clone()
        .upsert_customer_apps(upsert.clone())
        .await
        .expect("the app still works");

    // A 401 for a key that was rotated away while the call waited: the app stays READY with its
    // new key, the call is ABORTED (retry).
    const NEW_KEY: &str = "sk_test_rotatedDuringTheCall321";
    app.stripe.add_account(NEW_KEY, ACCOUNT);
    app.stripe
        .fail_next("GET", "/v1/customers", Fault::Delay(Duration::from_secs(3)));
    let mut client = app.customer_apps.clone();
    let request = upsert.clone();
    let call = tokio::spawn(async move { client.upsert_customer_apps(request).await });
    until_faults_taken(&app).await;
    app.apps
        .clone()
        .update_app(rotate_request(&installed.id, NEW_KEY))
        .await
        .expect("rotate");
    app.stripe.revoke_key(KEY);
    assert!(!call.is_finished(), "the rotation landed during the call");
    let status = call.await.expect("task").unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let now = get_app(&app, &installed.id).await;
    assert_eq!(now.status, pb::AppStatus::Ready as i32, "{now:?}");
    assert_eq!(now.stripe.expect("stripe").masked_api_key, "sk_test_***321");
    app.customer_apps
        .clone()
        .upsert_customer_apps(upsert)
        .await
        .expect("the retry works with the new key");
}

on_both_databases!(
    install_verifies_the_key_and_keeps_it_secret,
    a_second_app_becomes_default_only_when_asked,
    rotation_keeps_the_account_and_a_refused_key_marks_the_app_unauthorized,
    uninstall_wipes_secrets_and_deletes_the_endpoint,
    customer_app_data_is_verified_at_stripe_and_atomic,
    updates_racing_an_uninstall_or_another_update_lose,
    a_missing_permission_is_named_and_a_401_marks_only_the_current_key,
);
