//! StripeCheckoutService and the webhook endpoint against the Stripe double, with failures
//! injected at Stripe and in our own database.

use std::time::Duration;

use fake_stripe::Fault;
use patron::grpc::pb;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, bad_fields, customer, customer_with_subjects};
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, install};

fn hosted() -> pb::StripeCheckoutSessionOptions {
    pb::StripeCheckoutSessionOptions {
        success_url: "https://example.com/success".into(),
        cancel_url: "https://example.com/cancel".into(),
        ..Default::default()
    }
}

/// The seed's request: create-or-use the customer by key, hosted Checkout in USD.
fn seed_request(key: &str) -> pb::CreateStripeCheckoutSessionRequest {
    pb::CreateStripeCheckoutSessionRequest {
        customer: Some(pb::CheckoutCustomer {
            customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
                primary_email: format!("{key}@example.com"),
                ..customer_with_subjects("ACME, Inc.", key, &[&format!("{key}-subject")])
            })),
        }),
        options: Some(pb::StripeCheckoutSessionOptions {
            currency: "USD".into(),
            ..hosted()
        }),
        ..Default::default()
    }
}

fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// The POST /v1/customers requests Stripe received (creates, not updates of one customer).
fn customer_creates(app: &TestApp) -> Vec<fake_stripe::RecordedRequest> {
    app.stripe
        .requests_to("POST", "/v1/customers")
        .into_iter()
        .filter(|r| r.path == "/v1/customers")
        .collect()
}

async fn list_apps_of(app: &TestApp, customer_id: &str) -> Vec<pb::CustomerAppData> {
    app.customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer_id.into(),
            )),
        })
        .await
        .expect("list customer apps")
        .into_inner()
        .data
}

fn default_pm(entries: &[pb::CustomerAppData]) -> String {
    match entries.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.stripe_default_payment_method_id.clone(),
        None => String::new(),
    }
}

async fn checkout_to_webhook_sets_the_default_payment_method(app: TestApp) {
    let installed = install(&app).await;
    let session = app
        .checkout
        .clone()
        .create_stripe_checkout_session(seed_request("acme"))
        .await
        .expect("checkout")
        .into_inner();
    assert!(
        session.session_id.starts_with("cs_test_"),
        "{}",
        session.session_id
    );
    assert!(session.setup_intent_id.starts_with("seti_"));
    assert!(session.stripe_customer_id.starts_with("cus_"));
    assert!(session.url.starts_with("https://"));
    assert_eq!(session.mode, pb::StripeCheckoutSessionMode::Setup as i32);
    assert_eq!(session.status, pb::StripeCheckoutSessionStatus::Open as i32);
    assert_eq!(session.currency, "USD");
    assert_eq!(session.success_url, "https://example.com/success");
    assert_eq!(session.cancel_url, "https://example.com/cancel");
    assert_eq!(session.app_id, installed.id);
    assert_eq!(session.metadata["patron_customer_id"], session.customer_id);

    // What Stripe received, in Stripe's own parameter names.
    let customers = customer_creates(&app);
    assert_eq!(customers.len(), 1);
    assert!(
        customers[0]
            .idempotency_key
            .as_deref()
            .is_some_and(|k| k.starts_with("patron-customer-"))
    );
    assert_eq!(
        customers[0].param("metadata[patron_customer_id]"),
        Some(session.customer_id.as_str())
    );
    // The create carries only what never changes; the details follow in an update.
    assert_eq!(customers[0].param("email"), None);
    assert_eq!(customers[0].param("name"), None);
    let updates = app.stripe.requests_to(
        "POST",
        &format!("/v1/customers/{}", session.stripe_customer_id),
    );
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].param("email"), Some("acme@example.com"));
    assert_eq!(updates[0].param("name"), Some("ACME, Inc."));
    let at_stripe = app.stripe.customers(ACCOUNT);
    assert_eq!(at_stripe.len(), 1);
    assert_eq!(at_stripe[0]["email"], "acme@example.com");
    assert_eq!(at_stripe[0]["name"], "ACME, Inc.");
    let sessions = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(sessions.len(), 1);
    let sent = &sessions[0];
    assert_eq!(sent.param("mode"), Some("setup"));
    assert_eq!(sent.param("ui_mode"), Some("hosted_page"));
    assert_eq!(sent.param("currency"), Some("usd"));
    assert_eq!(
        sent.param("customer"),
        Some(session.stripe_customer_id.as_str())
    );
    assert_eq!(
        sent.param("setup_intent_data[metadata][patron_app_id]"),
        Some(installed.id.as_str())
    );
    assert_eq!(
        sent.param("metadata[patron_customer_id]"),
        Some(session.customer_id.as_str())
    );

    // The customer was created with its key and subject key.
    let created = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key("acme".into())),
        })
        .await
        .expect("customer")
        .into_inner();
    assert_eq!(created.id, session.customer_id);

    // The customer completes Checkout; Stripe delivers the signed events to our endpoint.
    let pm = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    let events = app
        .stripe
        .complete_checkout_session(&session.session_id, &pm);
    for event in &events {
        for delivery in app.stripe.deliver_to_endpoints(event).await {
            assert_eq!(
                delivery.status,
                200,
                "{}: {}",
                event.event_type(),
                delivery.body
            );
        }
    }
    assert_eq!(
        default_pm(&list_apps_of(&app, &session.customer_id).await),
        pm
    );
    let stored = app
        .checkout
        .clone()
        .get_stripe_checkout_session(pb::GetStripeCheckoutSessionRequest {
            id: session.session_id.clone(),
        })
        .await
        .expect("get session")
        .into_inner();
    assert_eq!(
        stored.status,
        pb::StripeCheckoutSessionStatus::Complete as i32
    );

    // Replays change nothing and still answer 200.
    for event in &events {
        for delivery in app.stripe.deliver_to_endpoints(event).await {
            assert_eq!(delivery.status, 200);
            assert!(delivery.body.contains("duplicate"), "{}", delivery.body);
        }
    }
}

async fn every_customer_branch_reuses_one_stripe_customer(app: TestApp) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    let first = checkout
        .create_stripe_checkout_session(seed_request("reuse"))
        .await
        .expect("create")
        .into_inner();
    // Create-or-use: the same key again uses the same customer.
    let again = checkout
        .create_stripe_checkout_session(seed_request("reuse"))
        .await
        .expect("reuse")
        .into_inner();
    assert_eq!(again.customer_id, first.customer_id);
    // By id and by key.
    let mut by_id = seed_request("reuse");
    by_id.customer = Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Id(
            first.customer_id.clone(),
        )),
    });
    let by_id = checkout
        .create_stripe_checkout_session(by_id)
        .await
        .expect("by id")
        .into_inner();
    let mut by_key = seed_request("reuse");
    by_key.customer = Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Key("reuse".into())),
    });
    let by_key = checkout
        .create_stripe_checkout_session(by_key)
        .await
        .expect("by key")
        .into_inner();
    for s in [&again, &by_id, &by_key] {
        assert_eq!(s.customer_id, first.customer_id);
        assert_eq!(s.stripe_customer_id, first.stripe_customer_id);
    }
    assert_eq!(customer_creates(&app).len(), 1, "one Stripe customer");
    assert_eq!(
        app.list_all(pb::ListCustomersRequest::default())
            .await
            .len(),
        1,
        "one patron customer"
    );

    // Create with a key that is free but a subject key another customer holds: conflict.
    app.create(customer_with_subjects("Holder", "holder", &["taken"]))
        .await;
    let mut conflict = seed_request("fresh");
    if let Some(pb::checkout_customer::Customer::Create(c)) =
        conflict.customer.as_mut().and_then(|c| c.customer.as_mut())
    {
        c.usage_attribution = Some(pb::CustomerUsageAttribution {
            subject_keys: vec!["taken".into()],
        });
    }
    let status = checkout
        .create_stripe_checkout_session(conflict)
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "SUBJECT_KEY_ALREADY_EXISTS");
    // Create-or-use with the existing key but another customer's subject key: conflict too.
    let mut reuse_conflict = seed_request("reuse");
    if let Some(pb::checkout_customer::Customer::Create(c)) = reuse_conflict
        .customer
        .as_mut()
        .and_then(|c| c.customer.as_mut())
    {
        c.usage_attribution = Some(pb::CustomerUsageAttribution {
            subject_keys: vec!["taken".into()],
        });
    }
    let status = checkout
        .create_stripe_checkout_session(reuse_conflict)
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "SUBJECT_KEY_ALREADY_EXISTS");

    // A given stripe_customer_id that differs from the stored one is refused.
    let mut mismatch = seed_request("reuse");
    mismatch.stripe_customer_id = app.stripe.create_customer(ACCOUNT, Some("other"), None);
    let status = checkout
        .create_stripe_checkout_session(mismatch)
        .await
        .unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "STRIPE_CUSTOMER_MISMATCH",
    );

    // A new customer with a given Stripe customer: verified and stored, none created.
    let existing = app.stripe.create_customer(ACCOUNT, Some("Existing"), None);
    let mut given = seed_request("given");
    given.stripe_customer_id = existing.clone();
    let session = checkout
        .create_stripe_checkout_session(given)
        .await
        .expect("given")
        .into_inner();
    assert_eq!(session.stripe_customer_id, existing);
    let mut missing = seed_request("missing");
    missing.stripe_customer_id = "cus_doesNotExist".into();
    let status = checkout
        .create_stripe_checkout_session(missing)
        .await
        .unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "STRIPE_CUSTOMER_NOT_FOUND",
    );
    assert_eq!(customer_creates(&app).len(), 1);

    let listed = checkout
        .list_stripe_checkout_sessions(pb::ListStripeCheckoutSessionsRequest {
            customer_id: first.customer_id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<&str> = listed
        .sessions
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            by_key.session_id.as_str(),
            by_id.session_id.as_str(),
            again.session_id.as_str(),
            first.session_id.as_str()
        ],
        "newest first"
    );
}

async fn options_are_checked_before_any_stripe_call(app: TestApp) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    let cases: Vec<(pb::StripeCheckoutSessionOptions, Vec<&str>)> = vec![
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                ..Default::default()
            },
            vec!["options.success_url"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                ui_mode: pb::StripeCheckoutUiMode::Embedded as i32,
                ..hosted()
            },
            vec![
                "options.success_url",
                "options.cancel_url",
                "options.return_url",
            ],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                metadata: [("patron_customer_id".to_owned(), "x".to_owned())].into(),
                currency: "USD".into(),
                ..hosted()
            },
            vec!["options.metadata[\"patron_customer_id\"]"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "XYZ".into(),
                ..hosted()
            },
            vec!["options.currency"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                locale: "xx".into(),
                ..hosted()
            },
            vec!["options.locale"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                custom_text: Some(pb::CustomText {
                    submit: "x".repeat(1201),
                    ..Default::default()
                }),
                ..hosted()
            },
            vec!["options.custom_text.submit"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                expires_at: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0,
                }),
                ..hosted()
            },
            vec!["options.expires_at"],
        ),
        (
            pb::StripeCheckoutSessionOptions {
                currency: "USD".into(),
                success_url: "not a url".into(),
                ..Default::default()
            },
            vec!["options.success_url"],
        ),
    ];
    for (options, fields) in cases {
        let mut request = seed_request("opts");
        request.options = Some(options);
        let status = checkout
            .create_stripe_checkout_session(request)
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), fields);
    }
    let mut no_customer = seed_request("opts");
    no_customer.customer = None;
    assert_eq!(
        bad_fields(
            &checkout
                .create_stripe_checkout_session(no_customer)
                .await
                .unwrap_err()
        ),
        ["customer"]
    );
    // The customer has no currency and none is given.
    let mut no_currency = seed_request("opts");
    no_currency.options = Some(hosted());
    let status = checkout
        .create_stripe_checkout_session(no_currency)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["options.currency"]);
    assert!(
        app.stripe
            .requests_to("POST", "/v1/checkout/sessions")
            .is_empty(),
        "no session reached Stripe"
    );

    // Embedded, with every option mapped to Stripe's names.
    let mut embedded = seed_request("embedded");
    embedded.options = Some(pb::StripeCheckoutSessionOptions {
        currency: "eur".into(),
        ui_mode: pb::StripeCheckoutUiMode::Embedded as i32,
        return_url: "https://example.com/return".into(),
        client_reference_id: "ref-1".into(),
        locale: "fr-CA".into(),
        metadata: [("plan".to_owned(), "pro".to_owned())].into(),
        payment_method_types: vec!["card".into()],
        billing_address_collection: pb::BillingAddressCollection::Required as i32,
        tax_id_collection: Some(pb::TaxIdCollection {
            enabled: true,
            required: pb::TaxIdRequired::IfSupported as i32,
        }),
        customer_update: Some(pb::CustomerUpdate {
            address: pb::CustomerUpdateBehavior::Auto as i32,
            name: pb::CustomerUpdateBehavior::Never as i32,
            shipping: 0,
        }),
        consent_collection: Some(pb::ConsentCollection {
            payment_method_reuse_agreement_position: pb::PaymentMethodReuseAgreementPosition::Hidden
                as i32,
            promotions: pb::PromotionsConsent::Auto as i32,
            terms_of_service: pb::TermsOfServiceConsent::Required as i32,
        }),
        custom_text: Some(pb::CustomText {
            submit: "Save card".into(),
            ..Default::default()
        }),
        redirect_on_completion: pb::RedirectOnCompletion::IfRequired as i32,
        expires_at: Some(prost_types::Timestamp {
            seconds: chrono_now() + 3600,
            nanos: 0,
        }),
        ..Default::default()
    });
    let session = checkout
        .create_stripe_checkout_session(embedded)
        .await
        .expect("embedded")
        .into_inner();
    assert!(!session.client_secret.is_empty());
    assert!(session.url.is_empty());
    assert_eq!(session.return_url, "https://example.com/return");
    let sent = app
        .stripe
        .requests_to("POST", "/v1/checkout/sessions")
        .pop()
        .expect("sent");
    for (param, value) in [
        ("ui_mode", "embedded_page"),
        ("currency", "eur"),
        ("locale", "fr-CA"),
        ("client_reference_id", "ref-1"),
        ("allowed_payment_method_types[0]", "card"),
        ("billing_address_collection", "required"),
        ("tax_id_collection[enabled]", "true"),
        ("tax_id_collection[required]", "if_supported"),
        ("customer_update[address]", "auto"),
        ("customer_update[name]", "never"),
        (
            "consent_collection[payment_method_reuse_agreement][position]",
            "hidden",
        ),
        ("consent_collection[promotions]", "auto"),
        ("consent_collection[terms_of_service]", "required"),
        ("custom_text[submit][message]", "Save card"),
        ("redirect_on_completion", "if_required"),
        ("metadata[plan]", "pro"),
        ("setup_intent_data[metadata][plan]", "pro"),
    ] {
        assert_eq!(sent.param(param), Some(value), "{param}");
    }
    // The stored session returns its client secret, which is encrypted at rest.
    let stored = checkout
        .get_stripe_checkout_session(pb::GetStripeCheckoutSessionRequest {
            id: session.session_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(stored.client_secret, session.client_secret);
    let rows = app
        .query("SELECT client_secret_ciphertext FROM checkout_sessions")
        .await;
    assert!(!format!("{rows:?}").contains(&session.client_secret));
}

/// Makes every INSERT into `table` fail (a commit that fails after Stripe succeeded).
async fn inject_insert_failure(app: &TestApp, table: &str) {
    if app.database_url.starts_with("postgres") {
        app.execute(
            "CREATE FUNCTION patron_test_fail() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
        )
        .await;
        app.execute(&format!(
            "CREATE TRIGGER patron_test_fail BEFORE INSERT ON {table} \
             FOR EACH ROW EXECUTE FUNCTION patron_test_fail()"
        ))
        .await;
    } else {
        app.execute(&format!(
            "CREATE TRIGGER patron_test_fail BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        ))
        .await;
    }
}

async fn remove_insert_failure(app: &TestApp, table: &str) {
    if app.database_url.starts_with("postgres") {
        app.execute(&format!("DROP TRIGGER patron_test_fail ON {table}"))
            .await;
        app.execute("DROP FUNCTION patron_test_fail()").await;
    } else {
        app.execute("DROP TRIGGER patron_test_fail").await;
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

async fn stripe_errors_map_to_grpc_codes(app: TestApp) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    // Stripe's 400, with its message and parameter.
    let mut bad_type = seed_request("bad-type");
    bad_type
        .options
        .as_mut()
        .expect("options")
        .payment_method_types = vec!["carrier_pigeon".into()];
    let status = checkout
        .create_stripe_checkout_session(bad_type)
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::InvalidArgument, "STRIPE_INVALID_REQUEST");
    assert!(
        info["stripe_param"].starts_with("allowed_payment_method_types"),
        "{info:?}"
    );
    assert!(!info["stripe_message"].is_empty());

    // 500 then 429: retried with the same Idempotency-Key; one customer, one session.
    app.stripe.clear_requests();
    let customers_before = app.stripe.customers(ACCOUNT).len();
    let sessions_before = app.stripe.checkout_sessions(ACCOUNT).len();
    app.stripe
        .fail_next("POST", "/v1/customers", Fault::Status(500));
    app.stripe.fail_next(
        "POST",
        "/v1/customers",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    app.stripe
        .fail_next("POST", "/v1/checkout/sessions", Fault::Status(503));
    let session = checkout
        .create_stripe_checkout_session(seed_request("retry"))
        .await
        .expect("retried")
        .into_inner();
    let attempts = customer_creates(&app);
    let keys: std::collections::BTreeSet<_> = attempts
        .iter()
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same Idempotency-Key"
    );
    assert_eq!(app.stripe.customers(ACCOUNT).len(), customers_before + 1);
    assert_eq!(
        app.stripe.checkout_sessions(ACCOUNT).len(),
        sessions_before + 1
    );
    assert!(session.session_id.starts_with("cs_"));

    // Stripe keeps failing: UNAVAILABLE with RetryInfo within our deadline.
    for _ in 0..50 {
        app.stripe
            .fail_next("POST", "/v1/checkout/sessions", Fault::Status(500));
    }
    let status = checkout
        .create_stripe_checkout_session(with_timeout(seed_request("retry"), Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unavailable, "STRIPE_UNAVAILABLE");
    assert!(
        tonic_types::StatusExt::get_error_details(&status)
            .retry_info()
            .is_some()
    );
    app.stripe.clear_faults();

    // Stripe is merely slow: our deadline runs out first.
    app.stripe.fail_next(
        "POST",
        "/v1/checkout/sessions",
        Fault::Delay(Duration::from_secs(5)),
    );
    let status = checkout
        .create_stripe_checkout_session(with_timeout(seed_request("retry"), Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        app.stripe
            .customers(ACCOUNT)
            .iter()
            .filter(|c| c["metadata"]["patron_customer_id"].is_string())
            .count(),
        app.stripe.customers(ACCOUNT).len()
    );
}

async fn lost_responses_and_failed_commits_never_duplicate_the_stripe_customer(app: TestApp) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    // The response of POST /v1/customers is lost after Stripe created the customer.
    app.stripe
        .fail_next("POST", "/v1/customers", Fault::SucceedThenDrop);
    app.stripe.fail_next(
        "POST",
        "/v1/checkout/sessions",
        Fault::SucceedThenStatus(500),
    );
    let session = checkout
        .create_stripe_checkout_session(seed_request("lost"))
        .await
        .expect("recovered")
        .into_inner();
    assert!(session.session_id.starts_with("cs_test_"));
    assert_eq!(
        app.stripe.customers(ACCOUNT).len(),
        1,
        "the retry replayed the first customer"
    );
    assert_eq!(
        app.stripe.checkout_sessions(ACCOUNT).len(),
        1,
        "and the first session"
    );
    assert!(
        app.stripe
            .requests_to("POST", "/v1/customers")
            .iter()
            .filter(|r| r.path == "/v1/customers")
            .any(|r| r.replayed)
    );

    // Our commit fails after Stripe created the customer (the mapping table refuses writes).
    let created = app.create(customer("Crash", "crash")).await;
    inject_insert_failure(&app, "customer_apps").await;
    let mut request = seed_request("crash");
    request.customer = Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Id(created.id.clone())),
    });
    request.request_id = "crash-1".into();
    let status = checkout
        .create_stripe_checkout_session(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        !status.message().contains("injected"),
        "no database error leaks: {}",
        status.message()
    );
    remove_insert_failure(&app, "customer_apps").await;
    assert_eq!(app.stripe.customers(ACCOUNT).len(), 2);
    let retried = checkout
        .create_stripe_checkout_session(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(
        app.stripe.customers(ACCOUNT).len(),
        2,
        "the retry reused the customer Stripe already made"
    );
    let replay = checkout
        .create_stripe_checkout_session(request.clone())
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replay, retried, "request_id returns the stored session");
    assert_eq!(app.stripe.checkout_sessions(ACCOUNT).len(), 2);
    let mut changed = request;
    changed
        .options
        .as_mut()
        .expect("options")
        .client_reference_id = "other".into();
    let status = checkout
        .create_stripe_checkout_session(changed)
        .await
        .unwrap_err();
    assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
}

/// The whole call fails at Stripe (5xx until the deadline) after `fault` hit the first request
/// to `path`.
fn fail_stripe_until_deadline(app: &TestApp, path: &str, first: Fault) {
    app.stripe.fail_next("POST", path, first);
    for _ in 0..50 {
        app.stripe.fail_next("POST", path, Fault::Status(500));
    }
}

fn create_without_key(request_id: &str) -> pb::CreateStripeCheckoutSessionRequest {
    let mut request = seed_request("unused");
    request.customer = Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
            primary_email: "keyless@example.com".into(),
            ..customer_with_subjects("Keyless", "", &["keyless-subject"])
        })),
    });
    request.request_id = request_id.into();
    request
}

async fn a_retry_after_a_stripe_failure_returns_the_customer_the_first_attempt_created(
    app: TestApp,
) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    // The create has subject keys but no key: nothing but the request_id finds it again.
    let request = create_without_key("keyless-1");
    fail_stripe_until_deadline(&app, "/v1/checkout/sessions", Fault::Status(500));
    let status = checkout
        .create_stripe_checkout_session(with_timeout(request.clone(), Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{status:?}"
    );
    app.stripe.clear_faults();
    let created = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(created.len(), 1, "the first attempt created the customer");

    let session = checkout
        .create_stripe_checkout_session(request.clone())
        .await
        .expect("the retry succeeds")
        .into_inner();
    assert_eq!(session.customer_id, created[0].id, "the same customer");
    assert_eq!(
        app.list_all(pb::ListCustomersRequest::default())
            .await
            .len(),
        1
    );
    assert_eq!(
        app.stripe.customers(ACCOUNT).len(),
        1,
        "one Stripe customer"
    );
    let replay = checkout
        .create_stripe_checkout_session(request.clone())
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replay, session);

    // The same request_id with another customer is still refused, naming the caller's id.
    let mut changed = request;
    if let Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Create(c)),
    }) = changed.customer.as_mut()
    {
        c.name = "Someone else".into();
    }
    let status = checkout
        .create_stripe_checkout_session(changed)
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(info["request_id"], "keyless-1");
}

async fn concurrent_creates_with_one_key_all_use_one_customer(app: TestApp) {
    install(&app).await;
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let mut checkout = app.checkout.clone();
            let mut request = seed_request("together");
            request.request_id = format!("together-{i}");
            tokio::spawn(async move {
                checkout
                    .create_stripe_checkout_session(with_timeout(request, Duration::from_secs(30)))
                    .await
            })
        })
        .collect();
    let mut sessions = Vec::new();
    for call in calls {
        let session = call
            .await
            .expect("task")
            .expect("every concurrent create succeeds")
            .into_inner();
        sessions.push(session);
    }
    let customers = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(customers.len(), 1, "one customer: {customers:?}");
    for session in &sessions {
        assert_eq!(session.customer_id, customers[0].id);
        assert_eq!(session.stripe_customer_id, sessions[0].stripe_customer_id);
    }
    assert_eq!(
        app.stripe.customers(ACCOUNT).len(),
        1,
        "one Stripe customer"
    );
    assert_eq!(list_apps_of(&app, &customers[0].id).await.len(), 1);
}

async fn a_renamed_customer_after_a_lost_stripe_response_keeps_its_one_stripe_customer(
    app: TestApp,
) {
    install(&app).await;
    let mut checkout = app.checkout.clone();
    let created = app
        .create(pb::Customer {
            primary_email: "before@example.com".into(),
            ..customer("Before", "renamed")
        })
        .await;
    let mut request = seed_request("unused");
    request.customer = Some(pb::CheckoutCustomer {
        customer: Some(pb::checkout_customer::Customer::Id(created.id.clone())),
    });
    // Stripe creates the customer but the answer is lost, and Stripe then stays down until the
    // call's deadline.
    fail_stripe_until_deadline(&app, "/v1/customers", Fault::SucceedThenDrop);
    let status = checkout
        .create_stripe_checkout_session(with_timeout(request.clone(), Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{status:?}"
    );
    app.stripe.clear_faults();
    assert_eq!(app.stripe.customers(ACCOUNT).len(), 1, "Stripe made one");

    // The customer's name and email change before the next checkout.
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: created.id.clone(),
                name: "After".into(),
                primary_email: "after@example.com".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into(), "primary_email".into()],
            }),
        })
        .await
        .expect("update");

    let session = checkout
        .create_stripe_checkout_session(request)
        .await
        .expect("the next checkout succeeds")
        .into_inner();
    let at_stripe = app.stripe.customers(ACCOUNT);
    assert_eq!(at_stripe.len(), 1, "no second Stripe customer");
    assert_eq!(at_stripe[0]["id"], session.stripe_customer_id.as_str());
    assert_eq!(at_stripe[0]["name"], "After");
    assert_eq!(at_stripe[0]["email"], "after@example.com");
    let creates = customer_creates(&app);
    assert!(
        creates.iter().all(|r| r.status != 400),
        "no idempotency_error: {:?}",
        creates.iter().map(|r| &r.response_body).collect::<Vec<_>>()
    );
    assert!(
        creates.iter().any(|r| r.replayed),
        "the retry replayed the first create"
    );
}

async fn webhooks_verify_signatures_and_the_newest_event_wins(app: TestApp) {
    let installed = install(&app).await;
    let session = app
        .checkout
        .clone()
        .create_stripe_checkout_session(seed_request("hook"))
        .await
        .expect("checkout")
        .into_inner();
    let endpoint = app.stripe.webhook_endpoints().pop().expect("endpoint");
    let pm_new = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    let pm_old = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    let events = app
        .stripe
        .complete_checkout_session(&session.session_id, &pm_new);
    let succeeded = events
        .iter()
        .find(|e| e.event_type() == "setup_intent.succeeded")
        .expect("event")
        .clone();
    let created = succeeded.created();

    // Tampered, unsigned, wrongly signed and stale deliveries change nothing.
    let body = succeeded.payload();
    let now = chrono_now();
    let good = app.stripe.sign(&body, &endpoint.secret, now);
    let stale = app.stripe.sign(&body, &endpoint.secret, now - 301);
    let wrong = app.stripe.sign(&body, "whsec_wrong", now);
    for (headers, why) in [
        (vec![("Stripe-Signature", stale.as_str())], "stale"),
        (vec![("Stripe-Signature", wrong.as_str())], "wrong secret"),
        (vec![], "unsigned"),
    ] {
        let mut all = headers.clone();
        all.push(("Content-Type", "application/json"));
        let (status, _) = app.stripe.deliver_raw(&endpoint.url, &all, &body).await;
        assert_eq!(status, 400, "{why}");
    }
    let tampered = body.replace(&pm_new, &pm_old);
    let (status, _) = app
        .stripe
        .deliver_raw(
            &endpoint.url,
            &[("Stripe-Signature", good.as_str())],
            &tampered,
        )
        .await;
    assert_eq!(status, 400, "tampered body");
    assert_eq!(
        default_pm(&list_apps_of(&app, &session.customer_id).await),
        ""
    );
    let unknown_app = format!(
        "{}/webhooks/stripe/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        app.public_url
    );
    // An unknown app is answered like a bad signature (existence is not told before it).
    let (status, answer) = app
        .stripe
        .deliver(&unknown_app, &endpoint.secret, &succeeded)
        .await;
    assert_eq!(
        (status, answer.as_str()),
        (400, r#"{"error":"invalid signature"}"#)
    );
    let huge = "x".repeat(600 * 1024);
    let (status, _) = app
        .stripe
        .deliver_raw(&endpoint.url, &[("Stripe-Signature", good.as_str())], &huge)
        .await;
    assert_eq!(status, 413, "bodies over 512 KiB are refused");

    // The newest event wins, whatever the delivery order.
    let newer = succeeded
        .clone()
        .with_id("evt_newer")
        .with_created(created + 10);
    let older = succeeded
        .clone()
        .with_id("evt_older")
        .with_created(created - 10)
        .map_json(|v| {
            v["data"]["object"]["payment_method"] = serde_json::Value::String(pm_old.clone());
        });
    assert_eq!(
        app.stripe
            .deliver(&endpoint.url, &endpoint.secret, &newer)
            .await
            .0,
        200
    );
    assert_eq!(
        app.stripe
            .deliver(&endpoint.url, &endpoint.secret, &older)
            .await
            .0,
        200
    );
    assert_eq!(
        default_pm(&list_apps_of(&app, &session.customer_id).await),
        pm_new
    );

    // Another app's setup intent and unknown event types: 200, ignored.
    let foreign = succeeded
        .clone()
        .with_id("evt_foreign")
        .with_created(created + 20)
        .map_json(|v| {
            v["data"]["object"]["metadata"]["patron_app_id"] =
                serde_json::Value::String("01ARZ3NDEKTSV4RRFFQ69G5FAV".into());
            v["data"]["object"]["payment_method"] = serde_json::Value::String(pm_old.clone());
        });
    assert_eq!(
        app.stripe
            .deliver(&endpoint.url, &endpoint.secret, &foreign)
            .await
            .0,
        200
    );
    let unknown = succeeded.clone().with_id("evt_unknown").map_json(|v| {
        v["type"] = serde_json::Value::String("customer.updated".into());
    });
    assert_eq!(
        app.stripe
            .deliver(&endpoint.url, &endpoint.secret, &unknown)
            .await
            .0,
        200
    );
    assert_eq!(
        default_pm(&list_apps_of(&app, &session.customer_id).await),
        pm_new
    );

    // Expire a second session through the API; the expired event is consistent with it.
    let second = app
        .checkout
        .clone()
        .create_stripe_checkout_session(seed_request("hook"))
        .await
        .expect("second")
        .into_inner();
    let expired = app
        .checkout
        .clone()
        .expire_stripe_checkout_session(pb::ExpireStripeCheckoutSessionRequest {
            id: second.session_id.clone(),
        })
        .await
        .expect("expire")
        .into_inner();
    assert_eq!(
        expired.status,
        pb::StripeCheckoutSessionStatus::Expired as i32
    );
    let status = app
        .checkout
        .clone()
        .expire_stripe_checkout_session(pb::ExpireStripeCheckoutSessionRequest {
            id: second.session_id.clone(),
        })
        .await
        .unwrap_err();
    assert_error(
        &status,
        Code::FailedPrecondition,
        "CHECKOUT_SESSION_NOT_OPEN",
    );
    let page = app
        .checkout
        .clone()
        .list_stripe_checkout_sessions(pb::ListStripeCheckoutSessionsRequest {
            status: pb::StripeCheckoutSessionStatus::Expired as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].app_id, installed.id);
}

on_both_databases!(
    checkout_to_webhook_sets_the_default_payment_method,
    every_customer_branch_reuses_one_stripe_customer,
    options_are_checked_before_any_stripe_call,
    stripe_errors_map_to_grpc_codes,
    lost_responses_and_failed_commits_never_duplicate_the_stripe_customer,
    webhooks_verify_signatures_and_the_newest_event_wins,
    a_retry_after_a_stripe_failure_returns_the_customer_the_first_attempt_created,
    concurrent_creates_with_one_key_all_use_one_customer,
    a_renamed_customer_after_a_lost_stripe_response_keeps_its_one_stripe_customer,
);
