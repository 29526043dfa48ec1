//! Tenancy: webhooks.

use super::*;

#[allow(clippy::too_many_lines)]
async fn webhooks_touch_only_their_app(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    app.stripe.add_account(STRIPE_KEY_B, ACCOUNT_B);
    let app_a = a
        .install(STRIPE_KEY_A, "A's Stripe", "")
        .await
        .expect("A installs");
    let app_b = b
        .install(STRIPE_KEY_B, "B's Stripe", "")
        .await
        .expect("B installs");
    let (a_url, b_url) = (webhook_url(&app, &app_a), webhook_url(&app, &app_b));
    let endpoints = app.stripe.webhook_endpoints();
    let secret_of = |url: &str| {
        endpoints
            .iter()
            .find(|w| w.url == url)
            .unwrap_or_else(|| panic!("no endpoint {url} in {endpoints:?}"))
            .secret
            .clone()
    };
    let (a_secret, b_secret) = (secret_of(&a_url), secret_of(&b_url));
    assert_ne!(a_secret, b_secret);

    let session_a = a
        .checkout(seed_checkout("Acme of A", "acme", ""))
        .await
        .expect("A's checkout");
    let session_b = b
        .checkout(seed_checkout("Acme of B", "acme", ""))
        .await
        .expect("B's checkout");
    let pm_a = app
        .stripe
        .create_payment_method(ACCOUNT_A, Some(&session_a.stripe_customer_id));
    let pm_forged = app
        .stripe
        .create_payment_method(ACCOUNT_A, Some(&session_a.stripe_customer_id));
    let events = app
        .stripe
        .complete_checkout_session(&session_a.session_id, &pm_a);
    assert_eq!(events.len(), 2, "{events:?}");
    let a_before = Snapshot::of(&a).await;
    let b_before = Snapshot::of(&b).await;
    assert_eq!(
        default_pm(
            &a.list_customer_apps(&session_a.customer_id)
                .await
                .expect("A's data")
        ),
        ""
    );

    // A's events signed with A's secret, delivered to B's endpoint: B's signature check fails.
    for event in &events {
        let (status, body) = app.stripe.deliver(&b_url, &a_secret, event).await;
        assert_eq!(
            status,
            400,
            "{} signed for A, delivered to B: {body}",
            event.event_type()
        );
    }
    assert_unchanged(&a, &a_before, "A's events at B's endpoint").await;
    assert_unchanged(&b, &b_before, "A's events at B's endpoint (B's state)").await;
    // ... and B's secret does not open A's endpoint either.
    for event in &events {
        let (status, body) = app.stripe.deliver(&a_url, &b_secret, event).await;
        assert_eq!(
            status,
            400,
            "{} signed with B's secret at A's endpoint: {body}",
            event.event_type()
        );
    }
    assert_unchanged(&a, &a_before, "B's signature at A's endpoint").await;

    // B (who can read its own endpoint's secret at Stripe) signs A's events, and forgeries
    // naming B's app but A's customer, session and payment method, for its own endpoint: ignored
    // (events of other apps: 200) or refused, never applied to A.
    let forged: Vec<fake_stripe::Event> = events
        .iter()
        .map(|e| {
            let app_b_id = app_b.id.clone();
            let pm = pm_forged.clone();
            e.clone()
                .with_id(&format!("{}_forged", e.id()))
                .with_created(e.created() + 5)
                .map_json(move |v| {
                    let object = &mut v["data"]["object"];
                    object["metadata"]["patron_app_id"] = serde_json::Value::String(app_b_id);
                    if object.get("payment_method").is_some() {
                        object["payment_method"] = serde_json::Value::String(pm);
                    }
                })
        })
        .collect();
    for event in events.iter().chain(&forged) {
        let (status, body) = app.stripe.deliver(&b_url, &b_secret, event).await;
        assert!(
            status == 200 || (400..500).contains(&status),
            "{} {} signed by B at B's endpoint: {status} {body}",
            event.event_type(),
            event.id()
        );
        assert_unchanged(
            &a,
            &a_before,
            &format!("{} {} at B's endpoint", event.event_type(), event.id()),
        )
        .await;
    }
    assert_unchanged(&b, &b_before, "A's events at B's endpoint (B's state)").await;

    // Delivered to A's endpoint with A's secret: applied to A, even though B's endpoint saw the
    // same event ids first, and even though a "newer" forgery went to B.
    for event in &events {
        let (status, body) = app.stripe.deliver(&a_url, &a_secret, event).await;
        assert_eq!(
            status,
            200,
            "{} at A's endpoint: {body}",
            event.event_type()
        );
        assert!(
            !body.contains("duplicate"),
            "{} at A's endpoint was taken for a replay of B's delivery: {body}",
            event.event_type()
        );
    }
    assert_eq!(
        default_pm(
            &a.list_customer_apps(&session_a.customer_id)
                .await
                .expect("A's data")
        ),
        pm_a,
        "A's default payment method is set by A's event"
    );
    assert_eq!(
        a.get_session(&session_a.session_id)
            .await
            .expect("A's session")
            .status,
        pb::StripeCheckoutSessionStatus::Complete as i32
    );
    assert_unchanged(&b, &b_before, "A's events at A's endpoint (B's state)").await;
    assert_eq!(
        default_pm(
            &b.list_customer_apps(&session_b.customer_id)
                .await
                .expect("B's data")
        ),
        ""
    );
    assert_eq!(
        b.get_session(&session_b.session_id)
            .await
            .expect("B's session")
            .status,
        pb::StripeCheckoutSessionStatus::Open as i32
    );
}

crate::on_both_databases!(with_api_keys(KEYS): webhooks_touch_only_their_app);
