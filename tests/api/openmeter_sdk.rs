//! OpenMeter's own Node client, unchanged: `@openmeter/sdk` 1.0.0-beta.232 from the npm registry
//! (pinned by tests/openmeter-sdk/package-lock.json, installed with
//! `npm ci --prefix tests/openmeter-sdk`) runs its suite (Node's test runner) against patron's
//! REST API with the Stripe double behind it, on both databases, with and without API keys; the
//! docs' curl bodies are replayed by the same suite. Afterwards, what the suite wrote is read back
//! over gRPC (one set of use cases behind both transports), and the Checkout Session the docs'
//! example opened is completed at Stripe, its signed events delivered to the webhook path
//! OpenMeter gives Stripe (`/api/v1/apps/{id}/stripe/webhook`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use patron::grpc::pb;

use crate::helpers::TestApp;
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, KEY};

/// The SDK release the issue names; the lockfile pins it.
const SDK_VERSION: &str = "1.0.0-beta.232";
/// The suite's files, run one at a time (they share one server; each leaves the identifiers the
/// docs use free for the next). Node 20's `--test` does not discover files the way later
/// releases do: they are named.
const SUITE: &[&str] = &[
    "docs-examples.test.js",
    "customers.test.js",
    "subjects-events.test.js",
    "apps.test.js",
    "curl-replay.test.js",
    "openapi.test.js",
];
/// Field paths in problems, each in its endpoint's spelling: a suite of its own, so that a
/// misnamed field shows as exactly that.
const PROBLEM_FIELDS: &[&str] = &["problem-fields.test.js"];
/// The whole suite's bound; a single test's is `--test-timeout`.
const SUITE_TIMEOUT: Duration = Duration::from_secs(240);

/// The API key the suite sends when patron runs with keys.
const SDK_API_KEY: &str = "patron_sdk_test_key_0123456789abcdef";
/// Another tenant's key: it must see nothing of the first.
const OTHER_TENANT_KEY: &str = "patron_sdk_other_tenant_fedcba9876543210";
const SDK_KEYS: &[(&str, &str)] = &[
    ("openmeter-sdk", SDK_API_KEY),
    ("openmeter-sdk-other", OTHER_TENANT_KEY),
];

/// A second Stripe account for the app lifecycle (install, update, key rotation, uninstall).
const OTHER_KEY: &str = "sk_test_51PatronOtherAccountKey456";
const ROTATED_KEY: &str = "sk_test_51PatronOtherAccountKey789";
const OTHER_ACCOUNT: &str = "acct_1PatronOtherAcct";
/// Stripe customers (each with a card) the suite connects to its customers.
const FIXTURES: usize = 4;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openmeter-sdk")
}

/// Fails (never skips) unless the pinned SDK is installed.
fn installed_sdk(dir: &Path) {
    let manifest = dir.join("node_modules/@openmeter/sdk/package.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "the OpenMeter SDK is not installed ({}: {e}): run `npm ci --prefix tests/openmeter-sdk` \
             (Node 20+ and npm; .ci/run does it)",
            manifest.display()
        )
    });
    let json: serde_json::Value = serde_json::from_str(&text).expect("the SDK's package.json");
    assert_eq!(
        json["version"], SDK_VERSION,
        "node_modules holds another @openmeter/sdk: run `npm ci --prefix tests/openmeter-sdk`"
    );
}

/// The Stripe side a new user would have: the account of the app the suite installs (with a
/// default portal configuration and customers with cards), and a second account.
fn stripe_accounts(app: &TestApp) -> String {
    app.stripe.add_account(KEY, ACCOUNT);
    app.stripe.add_account(OTHER_KEY, OTHER_ACCOUNT);
    app.stripe.add_account(ROTATED_KEY, OTHER_ACCOUNT);
    app.stripe
        .create_portal_configuration(ACCOUNT, true, Some("https://example.com/account"));
    let fixtures: Vec<serde_json::Value> = (0..FIXTURES)
        .map(|i| {
            let customer = app.stripe.create_customer(
                ACCOUNT,
                Some(&format!("Stripe customer {i}")),
                Some(&format!("stripe-{i}@example.com")),
            );
            let payment_method = app.stripe.create_payment_method(ACCOUNT, Some(&customer));
            serde_json::json!({"customer": customer, "paymentMethod": payment_method})
        })
        .collect();
    serde_json::Value::from(fixtures).to_string()
}

/// Runs `node <args>` in the suite's directory against `app` (sending `api_key` if given, with
/// the Stripe accounts of [`stripe_accounts`]); returns its output, or panics with it if node
/// fails, is missing, or outlives [`SUITE_TIMEOUT`].
async fn node(app: &TestApp, api_key: Option<&str>, args: &[&str]) -> String {
    let dir = suite_dir();
    installed_sdk(&dir);
    let fixtures = stripe_accounts(app);
    let mut node = tokio::process::Command::new("node");
    node.current_dir(&dir)
        .args(args)
        .env("PATRON_URL", format!("http://{}", app.http_addr))
        .env("PATRON_API_KEY", api_key.unwrap_or_default())
        .env(
            "PATRON_OTHER_API_KEY",
            api_key.map_or("", |_| OTHER_TENANT_KEY),
        )
        .env("STRIPE_API_KEY", KEY)
        .env("STRIPE_ACCOUNT_ID", ACCOUNT)
        .env("STRIPE_OTHER_API_KEY", OTHER_KEY)
        .env("STRIPE_ROTATED_API_KEY", ROTATED_KEY)
        .env("STRIPE_FIXTURES", fixtures)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = node
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node 20+ must be on PATH): {e}"));
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("node {args:?} ran longer than {SUITE_TIMEOUT:?}"))
        .expect("wait for node");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "node {args:?} failed ({}):\n{report}",
        output.status
    );
    report
}

/// Runs the suite's `files` against `app`; panics with node's report if a test fails.
async fn run_suite(app: &TestApp, api_key: Option<&str>, files: &[&str]) {
    let mut args = vec![
        "--test",
        "--test-reporter=spec",
        "--test-concurrency=1",
        "--test-timeout=60000",
    ];
    args.extend_from_slice(files);
    let report = node(app, api_key, &args).await;
    // The spec reporter's summary: every test ran and passed, none was skipped.
    let count = |what: &str| -> usize {
        report
            .lines()
            .find_map(|line| line.strip_prefix(&format!("ℹ {what} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` count in node's report:\n{report}"))
    };
    assert!(count("tests") > 0, "no test ran:\n{report}");
    assert_eq!(count("pass"), count("tests"), "{report}");
    for none in ["fail", "cancelled", "skipped", "todo"] {
        assert_eq!(count(none), 0, "{none}:\n{report}");
    }
}

/// What the suite wrote over REST, read back over gRPC by the same tenant.
async fn written_through_the_same_use_cases(app: &TestApp, api_key: Option<&str>) {
    // Without configured keys the header is ignored and every call is the default namespace.
    let mut tenant = app.tenant(api_key.unwrap_or("no-keys-configured")).await;
    // The docs' curl customer, with its empty optional strings stored as absent.
    let listed = tenant
        .customers
        .list_customers(pb::ListCustomersRequest {
            subject_key: "$YOUR-SUBJECT".into(),
            ..Default::default()
        })
        .await
        .expect("list customers")
        .into_inner()
        .customers;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let curl = &listed[0];
    assert_eq!(curl.name, "ACME, Inc.");
    assert_eq!(curl.key, "");
    assert_eq!(curl.primary_email, "");
    assert_eq!(curl.currency, "USD");
    assert_eq!(
        curl.metadata.get("externalId").map(String::as_str),
        Some("019142cc-a016-796a-8113-1a942fecd26d")
    );
    let address = curl.billing_address.clone().expect("billing address");
    assert_eq!(address.country, "US");
    assert_eq!(address.city, "");

    // The docs' event, stored once however often it was sent.
    let events = tenant
        .events
        .list_events(pb::ListEventsRequest {
            owner: Some(pb::list_events_request::Owner::SubjectKey(
                "customer-1".into(),
            )),
            ..Default::default()
        })
        .await
        .expect("list events")
        .into_inner()
        .events;
    let docs: Vec<&pb::CloudEvent> = events
        .iter()
        .filter_map(|e| e.event.as_ref())
        .filter(|e| e.id == "00002" && e.source == "service-0")
        .collect();
    assert_eq!(docs.len(), 1, "{events:?}");
    assert_eq!(docs[0].r#type, "api-calls");
    let data = match &docs[0].data {
        Some(pb::cloud_event::Data::TextData(text)) => text.clone(),
        Some(pb::cloud_event::Data::BinaryData(bytes)) => {
            String::from_utf8(bytes.clone()).expect("UTF-8 data")
        }
        other => panic!("unexpected data {other:?}"),
    };
    let data: serde_json::Value = serde_json::from_str(&data).expect("JSON data");
    assert_eq!(
        data,
        serde_json::json!({"duration": "20", "path": "/hello"})
    );

    // The app the suite installed through the marketplace listing is the default one.
    let apps = tenant
        .apps
        .list_apps(pb::ListAppsRequest::default())
        .await
        .expect("list apps")
        .into_inner()
        .apps;
    assert_eq!(apps.len(), 1, "the second app was uninstalled: {apps:?}");
    assert_eq!(
        apps[0].stripe.as_ref().map(|s| s.account_id.as_str()),
        Some(ACCOUNT)
    );
    assert!(apps[0].default);
}

/// The Checkout Session the docs' SDK example opened, completed at Stripe: its signed events,
/// delivered to the webhook path OpenMeter gives Stripe, set the customer's default payment
/// method.
async fn completed_through_openmeters_webhook_path(app: &TestApp, api_key: Option<&str>) {
    let mut tenant = app.tenant(api_key.unwrap_or("no-keys-configured")).await;
    let customer = tenant
        .customers
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key(
                "my-database-id".into(),
            )),
        })
        .await
        .expect("the docs' customer")
        .into_inner();
    let sessions = tenant
        .checkout
        .list_stripe_checkout_sessions(pb::ListStripeCheckoutSessionsRequest {
            customer_id: customer.id.clone(),
            status: pb::StripeCheckoutSessionStatus::Open as i32,
            ..Default::default()
        })
        .await
        .expect("list checkout sessions")
        .into_inner()
        .sessions;
    let session = sessions.first().expect("the docs' Checkout Session");
    let endpoint = app
        .stripe
        .webhook_endpoints()
        .into_iter()
        .find(|e| e.account_id == ACCOUNT)
        .expect("the app's webhook endpoint");
    let url = format!(
        "{}/api/v1/apps/{}/stripe/webhook",
        app.public_url, session.app_id
    );
    let pm = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    for event in app
        .stripe
        .complete_checkout_session(&session.session_id, &pm)
    {
        // Stripe's `created` is whole seconds, and a tie with the suite's own upsert of this
        // customer's default payment method (made earlier within the same second) keeps that
        // one: the customer completes Checkout after it, so the event is dated a second on.
        let created = event.created() + 1;
        let event = event.with_created(created);
        let (status, body) = app.stripe.deliver(&url, &endpoint.secret, &event).await;
        assert_eq!(status, 200, "{}: {body}", event.event_type());
    }
    let entries = tenant
        .customer_apps
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer.id.clone(),
            )),
        })
        .await
        .expect("list customer apps")
        .into_inner()
        .data;
    match entries.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(stripe)) => {
            assert_eq!(stripe.stripe_default_payment_method_id, pm);
        }
        other => panic!("no Stripe entry: {other:?}"),
    }
}

async fn openmeter_sdk_without_api_keys(app: TestApp) {
    run_suite(&app, None, SUITE).await;
    written_through_the_same_use_cases(&app, None).await;
    completed_through_openmeters_webhook_path(&app, None).await;
}

async fn openmeter_sdk_with_api_keys(app: TestApp) {
    run_suite(&app, Some(SDK_API_KEY), SUITE).await;
    written_through_the_same_use_cases(&app, Some(SDK_API_KEY)).await;
    completed_through_openmeters_webhook_path(&app, Some(SDK_API_KEY)).await;
}

/// The README's example (tests/openmeter-sdk/example.js) runs as printed there.
async fn readme_example_runs(app: TestApp) {
    let output = node(&app, Some(SDK_API_KEY), &["example.js"]).await;
    assert!(
        output.contains("customers with key my-database-id: 1"),
        "{output}"
    );
    assert!(output.contains("event ingested"), "{output}");
    assert!(output.contains("subject deleted"), "{output}");
    let checkout = output
        .lines()
        .find_map(|line| line.strip_prefix("checkout "))
        .unwrap_or_else(|| panic!("no checkout line in {output}"));
    let customer = app
        .tenant(SDK_API_KEY)
        .await
        .customers
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key(
                "my-database-id".into(),
            )),
        })
        .await
        .expect("the example's customer")
        .into_inner();
    assert!(
        checkout.starts_with(&format!("setup {} cus_", customer.id)),
        "{checkout}"
    );
}

async fn openmeter_sdk_problem_field_names(app: TestApp) {
    run_suite(&app, None, PROBLEM_FIELDS).await;
}

on_both_databases!(
    openmeter_sdk_without_api_keys,
    openmeter_sdk_problem_field_names
);
on_both_databases!(with_api_keys(SDK_KEYS): readme_example_runs);
on_both_databases!(with_api_keys(SDK_KEYS): openmeter_sdk_with_api_keys);
