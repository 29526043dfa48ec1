//! Tenancy: Stripe apps, customer app data and Checkout.

use super::*;

#[allow(clippy::too_many_lines)]
async fn stripe_apps_customer_apps_and_checkout_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let forbidden = forbidden_for_b(&[STRIPE_KEY_A, "A's Stripe", "Acme of A"]);
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    app.stripe.add_account(STRIPE_KEY_B, ACCOUNT_B);

    let app_a = a
        .install(STRIPE_KEY_A, "A's Stripe", "install-1")
        .await
        .expect("A installs");
    assert!(app_a.default);
    let session_a = a
        .checkout(seed_checkout("Acme of A", "acme", "checkout-1"))
        .await
        .expect("A's checkout");
    let a_url = webhook_url(&app, &app_a);
    assert!(endpoint_exists(&app, &a_url));
    let before = Snapshot::of(&a).await;

    // B installs its own account with A's request_id: its own app, its namespace's default.
    let app_b = b
        .install(STRIPE_KEY_B, "B's Stripe", "install-1")
        .await
        .expect("B installs with A's request_id (idempotency is per namespace)");
    assert_ne!(app_b.id, app_a.id);
    assert!(
        app_b.default,
        "the first app of B's namespace is B's default"
    );
    assert_eq!(
        app_b.stripe.as_ref().map(|s| s.account_id.as_str()),
        Some(ACCOUNT_B)
    );
    assert_unchanged(&a, &before, "B's InstallStripeApp").await;

    // A's app is invisible and untouchable for B.
    let a_key_calls = stripe_calls_with(&app, STRIPE_KEY_A);
    let unknown = unknown_id();
    assert_hidden(
        "GetApp(A's app)",
        b.get_app(&app_a.id).await,
        &app_a.id,
        b.get_app(&unknown).await,
        &unknown,
        &forbidden,
    );
    for (paths, api_key, what) in [
        (&["name"][..], "", "UpdateApp(A's app, name)"),
        (&["default"][..], "", "UpdateApp(A's app, default)"),
        (&["metadata"][..], "", "UpdateApp(A's app, metadata)"),
        (
            &["api_key"][..],
            STRIPE_KEY_B,
            "UpdateApp(A's app, api_key)",
        ),
    ] {
        let change = |id: &str| pb::App {
            id: id.to_owned(),
            name: "Hijacked".into(),
            default: true,
            metadata: [("owner".to_owned(), "b".to_owned())].into(),
            ..Default::default()
        };
        assert_hidden(
            what,
            b.update_app(change(&app_a.id), api_key, paths).await,
            &app_a.id,
            b.update_app(change(&unknown), api_key, paths).await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, what).await;
    }
    assert_hidden(
        "UninstallApp(A's app)",
        b.uninstall_app(&app_a.id).await,
        &app_a.id,
        b.uninstall_app(&unknown).await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UninstallApp(A's app)").await;
    assert!(
        endpoint_exists(&app, &a_url),
        "A's webhook endpoint is still registered"
    );
    assert_eq!(
        b.list_apps()
            .await
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        [app_b.id.as_str()],
        "B lists its own app only"
    );

    // Checkout from B naming A's customer, A's app or A's session: NOT_FOUND, nothing at Stripe.
    let stripe_customers_a = app.stripe.customers(ACCOUNT_A).len();
    let stripe_sessions_a = app.stripe.checkout_sessions(ACCOUNT_A).len();
    assert_hidden(
        "CreateStripeCheckoutSession(A's customer id)",
        b.checkout(checkout_request(
            "",
            pb::checkout_customer::Customer::Id(session_a.customer_id.clone()),
            "",
        ))
        .await,
        &session_a.customer_id,
        b.checkout(checkout_request(
            "",
            pb::checkout_customer::Customer::Id(unknown.clone()),
            "",
        ))
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's customer id)").await;
    assert_hidden(
        "CreateStripeCheckoutSession(key only A has)",
        b.checkout(checkout_request(
            "",
            pb::checkout_customer::Customer::Key("acme".into()),
            "",
        ))
        .await,
        "acme",
        b.checkout(checkout_request(
            "",
            pb::checkout_customer::Customer::Key("no-such-key".into()),
            "",
        ))
        .await,
        "no-such-key",
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's customer key)").await;
    let mut on_a_app = seed_checkout("Acme of B", "b-customer", "");
    on_a_app.app_id = app_a.id.clone();
    let mut on_unknown_app = on_a_app.clone();
    on_unknown_app.app_id = unknown.clone();
    assert_hidden(
        "CreateStripeCheckoutSession(A's app)",
        b.checkout(on_a_app).await,
        &app_a.id,
        b.checkout(on_unknown_app).await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's app)").await;
    assert_hidden(
        "GetStripeCheckoutSession(A's session)",
        b.get_session(&session_a.session_id).await,
        &session_a.session_id,
        b.get_session("cs_test_doesNotExist0000").await,
        "cs_test_doesNotExist0000",
        &forbidden,
    );
    assert_hidden(
        "ExpireStripeCheckoutSession(A's session)",
        b.expire_session(&session_a.session_id).await,
        &session_a.session_id,
        b.expire_session("cs_test_doesNotExist0000").await,
        "cs_test_doesNotExist0000",
        &forbidden,
    );
    assert_unchanged(&a, &before, "ExpireStripeCheckoutSession(A's session)").await;
    assert_eq!(
        app.stripe
            .checkout_session(&session_a.session_id)
            .expect("A's session at Stripe")["status"],
        "open",
        "A's session is still open at Stripe"
    );
    assert_eq!(app.stripe.customers(ACCOUNT_A).len(), stripe_customers_a);
    assert_eq!(
        app.stripe.checkout_sessions(ACCOUNT_A).len(),
        stripe_sessions_a
    );
    assert_eq!(
        stripe_calls_with(&app, STRIPE_KEY_A),
        a_key_calls,
        "B's attempts never made a Stripe call with A's key"
    );

    // Create-or-use by a key A also has creates B's own customer, on B's app, with A's
    // request_id.
    let session_b = b
        .checkout(seed_checkout("Acme of B", "acme", "checkout-1"))
        .await
        .expect("B's checkout for its own acme");
    assert_ne!(session_b.customer_id, session_a.customer_id);
    assert_ne!(session_b.session_id, session_a.session_id);
    assert_ne!(session_b.stripe_customer_id, session_a.stripe_customer_id);
    assert_eq!(session_b.app_id, app_b.id);
    assert!(
        app.stripe
            .customers(ACCOUNT_B)
            .iter()
            .any(|c| c["id"] == session_b.stripe_customer_id.as_str()),
        "B's Stripe customer is in B's account"
    );
    assert_unchanged(&a, &before, "B's checkout for a key A also has").await;
    let listed = b
        .list_sessions(pb::ListStripeCheckoutSessionsRequest::default())
        .await
        .expect("B lists sessions");
    assert_eq!(
        listed
            .iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
        [session_b.session_id.as_str()],
        "B lists its own session only"
    );
    assert_empty_or_not_found(
        "ListStripeCheckoutSessions(A's customer)",
        b.list_sessions(pb::ListStripeCheckoutSessionsRequest {
            customer_id: session_a.customer_id.clone(),
            ..Default::default()
        })
        .await,
        &forbidden,
    );

    // Customer app data of A's customer, or on A's app, is out of B's reach.
    let b_stripe_customer = app.stripe.create_customer(ACCOUNT_B, Some("B's"), None);
    assert_hidden(
        "UpsertCustomerApps(A's customer)",
        b.upsert_customer_apps(
            &session_a.customer_id,
            vec![stripe_entry(&app_b.id, &b_stripe_customer, "")],
        )
        .await,
        &session_a.customer_id,
        b.upsert_customer_apps(
            &unknown,
            vec![stripe_entry(&app_b.id, &b_stripe_customer, "")],
        )
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UpsertCustomerApps(A's customer)").await;
    assert_hidden(
        "UpsertCustomerApps(A's app)",
        b.upsert_customer_apps(
            &session_b.customer_id,
            vec![stripe_entry(&app_a.id, &session_a.stripe_customer_id, "")],
        )
        .await,
        &app_a.id,
        b.upsert_customer_apps(
            &session_b.customer_id,
            vec![stripe_entry(&unknown, &session_a.stripe_customer_id, "")],
        )
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UpsertCustomerApps(A's app)").await;
    assert_hidden(
        "ListCustomerApps(A's customer)",
        b.list_customer_apps(&session_a.customer_id).await,
        &session_a.customer_id,
        b.list_customer_apps(&unknown).await,
        &unknown,
        &forbidden,
    );
    assert_hidden(
        "DeleteCustomerApp(A's customer, A's app)",
        b.delete_customer_app(&session_a.customer_id, &app_a.id)
            .await,
        &session_a.customer_id,
        b.delete_customer_app(&unknown, &app_a.id).await,
        &unknown,
        &forbidden,
    );
    let delete_on_a_app = b
        .delete_customer_app(&session_b.customer_id, &app_a.id)
        .await;
    let delete_on_unknown_app = b
        .delete_customer_app(&session_b.customer_id, &unknown)
        .await;
    assert_hidden(
        "DeleteCustomerApp(B's customer, A's app)",
        delete_on_a_app,
        &app_a.id,
        delete_on_unknown_app,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "DeleteCustomerApp").await;
    assert_eq!(
        stripe_calls_with(&app, STRIPE_KEY_A),
        a_key_calls,
        "B's attempts never made a Stripe call with A's key"
    );

    // B installs the Stripe account A installed (B holds its key too): uniqueness is per
    // namespace, so it is B's own app, and nothing B does with it touches A's.
    let app_b2 = b
        .install(STRIPE_KEY_A, "B's copy of A's account", "")
        .await
        .unwrap_or_else(|s| {
            let mut forbidden = forbidden.clone();
            forbidden.push(app_a.id.clone());
            assert_no_leak(&s, &forbidden, "B's InstallStripeApp of A's account");
            panic!(
                "the same Stripe account is \"installed twice\" only within a namespace; B may \
                 install an account A has installed: {s:?}"
            )
        });
    assert_ne!(app_b2.id, app_a.id);
    assert!(!app_b2.default, "B already has a default app");
    assert_unchanged(&a, &before, "B's InstallStripeApp of A's account").await;
    assert!(endpoint_exists(&app, &a_url));
    // A's Stripe customer in B's app of the same account: allowed (one live patron customer per
    // Stripe customer per app), and the answer names no customer of A.
    let linked = b.upsert_customer_apps(&session_b.customer_id,
        vec![stripe_entry(&app_b2.id, &session_a.stripe_customer_id, "")],
    )
    .await
    .unwrap_or_else(|s| {
        let mut forbidden = forbidden.clone();
        forbidden.push(session_a.customer_id.clone());
        assert_no_leak(&s, &forbidden, "UpsertCustomerApps(A's Stripe customer)");
        panic!(
            "a Stripe customer maps to one patron customer per app, not across namespaces: {s:?}"
        )
    });
    assert_eq!(linked.len(), 1);
    assert_unchanged(
        &a,
        &before,
        "UpsertCustomerApps(A's Stripe customer on B's app)",
    )
    .await;
    // Making B's second app B's default leaves A's default alone.
    let b2_default = b
        .update_app(
            pb::App {
                id: app_b2.id.clone(),
                default: true,
                ..Default::default()
            },
            "",
            &["default"],
        )
        .await
        .expect("B makes its second app the default");
    assert!(b2_default.default);
    assert_unchanged(&a, &before, "B's UpdateApp(default)").await;
    b.update_app(
        pb::App {
            id: app_b.id.clone(),
            default: true,
            ..Default::default()
        },
        "",
        &["default"],
    )
    .await
    .expect("B makes its first app the default again");
    assert_unchanged(&a, &before, "B's UpdateApp(default)").await;
    // Uninstalling B's copy deletes B's endpoint and B's customer app data only.
    let uninstalled = b
        .uninstall_app(&app_b2.id)
        .await
        .expect("B uninstalls its copy");
    assert!(uninstalled.deleted_at.is_some());
    assert_unchanged(&a, &before, "B's UninstallApp of its copy of A's account").await;
    assert!(
        endpoint_exists(&app, &a_url),
        "A's webhook endpoint survives B's uninstall of the same account"
    );
}

crate::on_both_databases!(with_api_keys(KEYS): stripe_apps_customer_apps_and_checkout_are_isolated);
