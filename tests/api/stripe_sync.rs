//! Changes made in Stripe (the customer portal, the dashboard) reach patron through webhook
//! events: the customer's invoice default payment method and detached payment methods.

use fake_stripe::Event;
use patron::grpc::pb;
use serde_json::{Value, json};

use crate::helpers::{TestApp, customer_with_subjects};
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, KEY, install};

fn checkout_request(key: &str) -> pb::CreateStripeCheckoutSessionRequest {
    pb::CreateStripeCheckoutSessionRequest {
        customer: Some(pb::CheckoutCustomer {
            customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
                primary_email: format!("{key}@example.com"),
                ..customer_with_subjects("ACME, Inc.", key, &[&format!("{key}-subject")])
            })),
        }),
        options: Some(pb::StripeCheckoutSessionOptions {
            currency: "USD".into(),
            success_url: "https://example.com/success".into(),
            cancel_url: "https://example.com/cancel".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn default_pm_of(app: &TestApp, customer_id: &str) -> String {
    let entries = app
        .customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer_id.into(),
            )),
        })
        .await
        .expect("list customer apps")
        .into_inner()
        .data;
    match entries.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.stripe_default_payment_method_id.clone(),
        None => String::new(),
    }
}

/// A checkout for `key`, completed with a new card whose events are delivered: returns the
/// session and the card.
async fn completed_checkout(app: &TestApp, key: &str) -> (pb::StripeCheckoutSession, String) {
    let session = app
        .checkout
        .clone()
        .create_stripe_checkout_session(checkout_request(key))
        .await
        .expect("checkout")
        .into_inner();
    let pm = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    for event in app
        .stripe
        .complete_checkout_session(&session.session_id, &pm)
    {
        deliver(app, &event).await;
    }
    assert_eq!(default_pm_of(app, &session.customer_id).await, pm);
    (session, pm)
}

/// Delivers an event to the endpoints subscribed to its type; exactly one must take it.
async fn deliver(app: &TestApp, event: &Event) -> String {
    let deliveries = app.stripe.deliver_to_endpoints(event).await;
    assert_eq!(
        deliveries.len(),
        1,
        "{}: {deliveries:?}",
        event.event_type()
    );
    assert_eq!(deliveries[0].status, 200, "{}", deliveries[0].body);
    deliveries[0].body.clone()
}

/// An event as Stripe sends it, about `object`.
fn event(id: &str, event_type: &str, created: i64, object: Value, previous: Value) -> Event {
    Event::from_json(
        ACCOUNT,
        json!({
            "id": id,
            "object": "event",
            "api_version": fake_stripe::EVENT_API_VERSION,
            "created": created,
            "data": {"object": object, "previous_attributes": previous},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": event_type,
        }),
    )
}

/// `customer.updated` for the Stripe customer with a new invoice default payment method.
fn default_changed(
    app: &TestApp,
    id: &str,
    stripe_customer: &str,
    pm: Value,
    created: i64,
) -> Event {
    let mut customer = app
        .stripe
        .customer(stripe_customer)
        .expect("stripe customer");
    let previous = customer["invoice_settings"]["default_payment_method"].clone();
    customer["invoice_settings"]["default_payment_method"] = pm;
    event(
        id,
        "customer.updated",
        created,
        customer,
        json!({"invoice_settings": {"default_payment_method": previous}}),
    )
}

fn detached(app: &TestApp, id: &str, pm: &str, customer: &str, created: i64) -> Event {
    let mut object = app.stripe.payment_method(pm).expect("payment method");
    object["customer"] = Value::Null;
    event(
        id,
        "payment_method.detached",
        created,
        object,
        json!({"customer": customer}),
    )
}

async fn the_default_card_changed_at_stripe_is_reflected(app: TestApp) {
    install(&app).await;
    let (session, first) = completed_checkout(&app, "acme").await;
    let (other, other_pm) = completed_checkout(&app, "other").await;
    let customer = session.stripe_customer_id.as_str();
    let base = app.stripe.customer(customer).expect("customer")["created"]
        .as_i64()
        .expect("created")
        + 1_000;

    // Set in the portal: a new default (as a string, then as an expanded object).
    let second = app.stripe.create_payment_method(ACCOUNT, Some(customer));
    let body = deliver(
        &app,
        &default_changed(&app, "evt_sync_1", customer, json!(second), base + 10),
    )
    .await;
    assert!(body.contains("set"), "{body}");
    assert_eq!(default_pm_of(&app, &session.customer_id).await, second);
    let third = app.stripe.create_payment_method(ACCOUNT, Some(customer));
    let expanded = app.stripe.payment_method(&third).expect("pm");
    deliver(
        &app,
        &default_changed(&app, "evt_sync_2", customer, expanded, base + 20),
    )
    .await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);

    // An older event does not override a newer one, whatever the delivery order; a replay
    // changes nothing.
    deliver(
        &app,
        &default_changed(&app, "evt_sync_old", customer, json!(first), base + 15),
    )
    .await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);
    let replay = default_changed(&app, "evt_sync_1", customer, json!(second), base + 30);
    assert!(deliver(&app, &replay).await.contains("duplicate"));
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);

    // A customer of no entry of this app, or with no default, changes nothing.
    let mut stranger = default_changed(&app, "evt_sync_3", customer, json!(first), base + 40)
        .map_json(|v| v["data"]["object"]["id"] = json!("cus_NotPatrons"));
    deliver(&app, &stranger).await;
    stranger = default_changed(&app, "evt_sync_4", customer, Value::Null, base + 41);
    deliver(&app, &stranger).await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);

    // Detaching another card changes nothing; detaching the default clears it, unless older.
    deliver(
        &app,
        &detached(&app, "evt_sync_5", &second, customer, base + 50),
    )
    .await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);
    deliver(
        &app,
        &detached(&app, "evt_sync_6", &third, customer, base + 5),
    )
    .await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, third);
    let body = deliver(
        &app,
        &detached(&app, "evt_sync_7", &third, customer, base + 60),
    )
    .await;
    assert!(body.contains("cleared"), "{body}");
    assert_eq!(default_pm_of(&app, &session.customer_id).await, "");
    // A default set before the detach, delivered after it, stays cleared.
    deliver(
        &app,
        &default_changed(&app, "evt_sync_8", customer, json!(third), base + 55),
    )
    .await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, "");

    // The other customer of the app is unaffected throughout.
    assert_eq!(default_pm_of(&app, &other.customer_id).await, other_pm);
}

async fn another_apps_deliveries_change_nothing(app: TestApp) {
    install(&app).await;
    let (session, pm) = completed_checkout(&app, "mine").await;
    let customer = session.stripe_customer_id.as_str();
    let created = app.stripe.customer(customer).expect("customer")["created"]
        .as_i64()
        .expect("created")
        + 1_000;
    // An event signed for another app's endpoint does not reach this app's entries.
    let card = app.stripe.create_payment_method(ACCOUNT, Some(customer));
    let event = default_changed(&app, "evt_other_tenant", customer, json!(card), created);
    let unknown_app = format!(
        "{}/webhooks/stripe/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        app.public_url
    );
    let endpoint = app.stripe.webhook_endpoints().pop().expect("endpoint");
    let (status, _) = app
        .stripe
        .deliver(&unknown_app, &endpoint.secret, &event)
        .await;
    assert_eq!(status, 400);
    assert_eq!(default_pm_of(&app, &session.customer_id).await, pm);
    // The endpoint patron registered receives the new event types.
    for t in [
        "customer.updated",
        "customer.deleted",
        "payment_method.detached",
    ] {
        assert!(endpoint.receives(t), "{t}");
    }
}

async fn stripe_data_of(app: &TestApp, customer_id: &str) -> pb::StripeCustomerAppData {
    let entries = app
        .customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer_id.into(),
            )),
        })
        .await
        .expect("list customer apps")
        .into_inner()
        .data;
    match entries.first().and_then(|e| e.data.clone()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s,
        None => panic!("no Stripe data for {customer_id}"),
    }
}

async fn a_customer_deleted_at_stripe_gets_a_fresh_one_at_the_next_checkout(app: TestApp) {
    install(&app).await;
    let (session, _) = completed_checkout(&app, "gone").await;
    let (other, other_pm) = completed_checkout(&app, "stays").await;
    let old = session.stripe_customer_id.clone();
    let object = app.stripe.customer(&old).expect("customer");
    let created = object["created"].as_i64().expect("created") + 1_000;
    app.stripe.delete_customer(&old);
    let deleted = event(
        "evt_deleted",
        "customer.deleted",
        created,
        object,
        Value::Null,
    );
    let body = deliver(&app, &deleted).await;
    assert!(body.contains("marked deleted"), "{body}");
    let data = stripe_data_of(&app, &session.customer_id).await;
    assert!(data.stripe_customer_deleted);
    assert_eq!(data.stripe_customer_id, old);
    assert_eq!(data.stripe_default_payment_method_id, "");
    let untouched = stripe_data_of(&app, &other.customer_id).await;
    assert!(!untouched.stripe_customer_deleted);
    assert_eq!(untouched.stripe_default_payment_method_id, other_pm);

    // The next checkout creates a fresh Stripe customer instead of failing.
    let creates_before = app
        .stripe
        .requests_to("POST", "/v1/customers")
        .into_iter()
        .filter(|r| r.path == "/v1/customers")
        .count();
    let next = app
        .checkout
        .clone()
        .create_stripe_checkout_session(checkout_request("gone"))
        .await
        .expect("checkout after the Stripe customer was deleted")
        .into_inner();
    assert_eq!(next.customer_id, session.customer_id);
    assert_ne!(next.stripe_customer_id, old);
    let creates: Vec<_> = app
        .stripe
        .requests_to("POST", "/v1/customers")
        .into_iter()
        .filter(|r| r.path == "/v1/customers")
        .collect();
    assert_eq!(creates.len(), creates_before + 1);
    let fresh = app
        .stripe
        .customer(&next.stripe_customer_id)
        .expect("fresh");
    assert_eq!(fresh["metadata"]["patron_customer_id"], session.customer_id);
    let data = stripe_data_of(&app, &session.customer_id).await;
    assert!(!data.stripe_customer_deleted);
    assert_eq!(data.stripe_customer_id, next.stripe_customer_id);

    // A checkout again reuses the fresh customer; a late replay about the old one changes
    // nothing.
    let again = app
        .checkout
        .clone()
        .create_stripe_checkout_session(checkout_request("gone"))
        .await
        .expect("third checkout")
        .into_inner();
    assert_eq!(again.stripe_customer_id, next.stripe_customer_id);
    let late = deleted.clone().with_id("evt_deleted_again");
    deliver(&app, &late).await;
    let data = stripe_data_of(&app, &session.customer_id).await;
    assert!(!data.stripe_customer_deleted);
    assert_eq!(data.stripe_customer_id, next.stripe_customer_id);
}

async fn endpoints_registered_before_gain_the_new_event_types(app: TestApp) {
    let installed = install(&app).await;
    let endpoint = app.stripe.webhook_endpoints().pop().expect("endpoint");
    // As registered before patron subscribed to changes made in Stripe.
    let old = [
        "setup_intent.succeeded",
        "setup_intent.setup_failed",
        "checkout.session.completed",
        "checkout.session.expired",
    ];
    app.stripe.set_webhook_endpoint_events(&endpoint.id, &old);
    app.execute(&format!(
        "UPDATE apps SET webhook_events = NULL WHERE id = '{}'",
        installed.id
    ))
    .await;
    let updates = || {
        app.stripe
            .requests_to("POST", &format!("/v1/webhook_endpoints/{}", endpoint.id))
    };
    assert!(updates().is_empty(), "a new app's endpoint is current");

    // The next use of the app updates the endpoint at Stripe, without a manual step.
    completed_checkout(&app, "refresh").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app
        .stripe
        .webhook_endpoint(&endpoint.id)
        .expect("endpoint")
        .receives("payment_method.detached")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the endpoint was not updated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let current = app.stripe.webhook_endpoint(&endpoint.id).expect("endpoint");
    for t in old.iter().chain(&[
        "customer.updated",
        "customer.deleted",
        "payment_method.detached",
    ]) {
        assert!(current.receives(t), "{t}");
    }
    let sent = updates();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].param("url"), None);

    // Recorded: later uses do not update it again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .query(&format!(
            "SELECT webhook_events FROM apps WHERE id = '{}'",
            installed.id
        ))
        .await[0][0]
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    completed_checkout(&app, "again").await;
    assert_eq!(updates().len(), 1);
}

/// Calls the Stripe double's API as the dashboard or portal would; returns the status.
async fn stripe_api(app: &TestApp, method: &str, path: &str, form: &str) -> u16 {
    let url = format!("http://{}{path}", app.stripe.addr());
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    fake_stripe::http::send(method, &url, &headers, form)
        .await
        .expect("Stripe API")
        .status
}

/// The last event Stripe emitted, of `event_type`.
fn last_event(app: &TestApp, event_type: &str) -> Event {
    app.stripe
        .events()
        .into_iter()
        .rev()
        .find(|e| e.event_type() == event_type)
        .unwrap_or_else(|| panic!("no {event_type} event"))
}

async fn changes_through_stripes_api_emit_the_events_patron_applies(app: TestApp) {
    install(&app).await;
    let (session, _) = completed_checkout(&app, "api").await;
    let customer = session.stripe_customer_id.clone();
    let card = app.stripe.create_payment_method(ACCOUNT, Some(&customer));
    let path = format!("/v1/customers/{customer}");
    let form = format!("invoice_settings[default_payment_method]={card}");
    assert_eq!(stripe_api(&app, "POST", &path, &form).await, 200);
    let updated = last_event(&app, "customer.updated");
    assert_eq!(
        updated.object()["invoice_settings"]["default_payment_method"],
        json!(card)
    );
    assert!(updated.json()["data"]["previous_attributes"]["invoice_settings"].is_object());
    // Event times are whole seconds and ties keep the current default: this one must not
    // share the second of the checkout's setup_intent.succeeded.
    let updated = updated.clone().with_created(updated.created() + 1);
    deliver(&app, &updated).await;
    assert_eq!(default_pm_of(&app, &session.customer_id).await, card);
    // The double is strict about it.
    let bad = "invoice_settings[default_payment_method]=pm_NoSuchCard";
    assert_ne!(stripe_api(&app, "POST", &path, bad).await, 200);

    // Detaching the default through the API emits payment_method.detached, which clears it.
    let detach = format!("/v1/payment_methods/{card}/detach");
    assert_eq!(stripe_api(&app, "POST", &detach, "unknown=1").await, 400);
    assert_eq!(stripe_api(&app, "POST", &detach, "").await, 200);
    let detached = last_event(&app, "payment_method.detached");
    assert_eq!(
        detached.json()["data"]["previous_attributes"]["customer"],
        json!(customer)
    );
    let detached = detached.clone().with_created(updated.created() + 1);
    let body = deliver(&app, &detached).await;
    assert!(body.contains("cleared"), "{body}");
    assert_eq!(default_pm_of(&app, &session.customer_id).await, "");
    assert_ne!(stripe_api(&app, "POST", &detach, "").await, 200);

    assert_eq!(stripe_api(&app, "DELETE", &path, "").await, 200);
    let deleted = last_event(&app, "customer.deleted");
    assert_eq!(deleted.object()["id"], json!(customer));
    deliver(&app, &deleted).await;
    assert!(
        stripe_data_of(&app, &session.customer_id)
            .await
            .stripe_customer_deleted
    );
}

/// The key-encryption key both servers of the start-up test share (32 bytes, base64).
const SHARED_KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn shared_kek(settings: &mut patron::config::Settings) {
    settings.secret_key = patron::config::SecretKeySource::Inline(SHARED_KEK.into());
}

/// Whether `cond` holds within 10 s, checked every 20 ms.
async fn within_10s(mut cond: impl AsyncFnMut() -> bool) -> bool {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            tick.tick().await;
            if cond().await {
                return;
            }
        }
    })
    .await
    .is_ok()
}

async fn endpoints_registered_before_gain_the_new_event_types_at_start(mut app: TestApp) {
    let installed = install(&app).await;
    let endpoint = app.stripe.webhook_endpoints().pop().expect("endpoint");
    // A second app whose endpoint is gone at Stripe: its update fails, which is logged and
    // stops nothing.
    app.stripe
        .add_account("sk_test_51PatronOtherAcct0000", "acct_1PatronOther");
    let other = app
        .apps
        .clone()
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: "sk_test_51PatronOtherAcct0000".into(),
            make_default: false,
            ..Default::default()
        })
        .await
        .expect("install the other app")
        .into_inner();
    let gone = app
        .stripe
        .webhook_endpoints()
        .into_iter()
        .find(|w| w.account_id == "acct_1PatronOther")
        .expect("other endpoint");
    let path = format!("/v1/webhook_endpoints/{}", gone.id);
    let status = fake_stripe::http::send(
        "DELETE",
        &format!("http://{}{path}", app.stripe.addr()),
        &[("Authorization", "Bearer sk_test_51PatronOtherAcct0000")],
        "",
    )
    .await
    .expect("delete at Stripe")
    .status;
    assert_eq!(status, 200);
    // Both as registered by a patron that did not subscribe to changes made in Stripe.
    let old = ["setup_intent.succeeded", "checkout.session.completed"];
    app.stripe.set_webhook_endpoint_events(&endpoint.id, &old);
    app.execute("UPDATE apps SET webhook_events = NULL").await;
    app.stripe.clear_requests();

    // A new server on the same database (a restart after an upgrade), without any call.
    app.stop().await;
    let mut settings = patron::config::Settings::for_tests(app.database_url.clone());
    settings.stripe_api_base = app.stripe.base_url();
    shared_kek(&mut settings);
    settings.public_url = Some(app.public_url.clone());
    let listeners = patron::app::Listeners::bind(&settings).await.expect("bind");
    let restarted = patron::app::Application::start(
        settings,
        listeners,
        std::sync::Arc::new(patron::domain::clock::SystemClock),
    )
    .await
    .expect("the server starts although one endpoint cannot be updated");
    let stop = restarted.shutdown_handle();
    let running = tokio::spawn(restarted.run_until_stopped());

    let query = |id: String| {
        let app = &app;
        async move {
            app.query(&format!(
                "SELECT webhook_events FROM apps WHERE id = '{id}'"
            ))
            .await[0][0]
                .clone()
        }
    };
    assert!(
        within_10s(async || query(installed.id.clone()).await.is_some()).await,
        "the start-up job did not record the new event types"
    );
    let current = app.stripe.webhook_endpoint(&endpoint.id).expect("endpoint");
    for t in patron::payments::WEBHOOK_EVENTS {
        assert!(current.receives(t), "{t}");
    }
    assert_eq!(
        app.stripe
            .requests_to("POST", &format!("/v1/webhook_endpoints/{}", endpoint.id))
            .len(),
        1
    );
    assert!(
        within_10s(async || !app.stripe.requests_to("POST", &path).is_empty()).await,
        "the other endpoint was not tried"
    );
    assert_eq!(
        query(other.id.clone()).await,
        None,
        "a failed update records nothing"
    );
    stop.shutdown();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), running).await;
}

on_both_databases!(
    with_settings(shared_kek): endpoints_registered_before_gain_the_new_event_types_at_start
);

on_both_databases!(
    the_default_card_changed_at_stripe_is_reflected,
    another_apps_deliveries_change_nothing,
    a_customer_deleted_at_stripe_gets_a_fresh_one_at_the_next_checkout,
    endpoints_registered_before_gain_the_new_event_types,
    changes_through_stripes_api_emit_the_events_patron_applies,
);
