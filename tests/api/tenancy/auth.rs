//! Tenancy: authentication of every service.

use super::*;

/// A request with this `authorization` header (none for `None`).
fn with_auth<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert(
            "authorization",
            value.parse().expect("an ASCII header value"),
        );
    }
    request
}

fn ok<T>(result: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    result.map(|_| ())
}

/// At least one call of every service (reads and writes, valid and invalid input), each naming
/// tenant A's existing resources, with this `authorization` header.
#[allow(clippy::too_many_lines)]
async fn every_service(
    app: &TestApp,
    auth: Option<&str>,
    acme: &pb::Customer,
) -> Vec<(&'static str, Result<(), Status>)> {
    let mut customers = app.customers.clone();
    let mut apps = app.apps.clone();
    let mut customer_apps = app.customer_apps.clone();
    let mut checkout = app.checkout.clone();
    let mut subjects = app.subjects.clone();
    let mut events = app.events.clone();
    let id = acme.id.clone();
    vec![
        (
            "CreateCustomer",
            ok(customers
                .create_customer(with_auth(
                    pb::CreateCustomerRequest {
                        customer: Some(customer_with_subjects("Intruder", "intruder", &["i-1"])),
                        request_id: "intruder-request".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "CreateCustomer (invalid input)",
            ok(customers
                .create_customer(with_auth(pb::CreateCustomerRequest::default(), auth))
                .await),
        ),
        (
            "GetCustomer by id",
            ok(customers
                .get_customer(with_auth(
                    pb::GetCustomerRequest {
                        lookup: Some(customer_id(&id)),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetCustomer by key",
            ok(customers
                .get_customer(with_auth(
                    pb::GetCustomerRequest {
                        lookup: Some(customer_key("acme")),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListCustomers",
            ok(customers
                .list_customers(with_auth(pb::ListCustomersRequest::default(), auth))
                .await),
        ),
        (
            "UpdateCustomer",
            ok(customers
                .update_customer(with_auth(
                    pb::UpdateCustomerRequest {
                        customer: Some(pb::Customer {
                            id: id.clone(),
                            name: "Hijacked".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["name".into()],
                        }),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "DeleteCustomer",
            ok(customers
                .delete_customer(with_auth(
                    pb::DeleteCustomerRequest {
                        lookup: Some(pb::delete_customer_request::Lookup::Id(id.clone())),
                        etag: String::new(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "InstallStripeApp",
            ok(apps
                .install_stripe_app(with_auth(
                    pb::InstallStripeAppRequest {
                        api_key: STRIPE_KEY_A.into(),
                        ..Default::default()
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetApp",
            ok(apps
                .get_app(with_auth(pb::GetAppRequest { id: unknown_id() }, auth))
                .await),
        ),
        (
            "ListApps",
            ok(apps
                .list_apps(with_auth(pb::ListAppsRequest::default(), auth))
                .await),
        ),
        (
            "UpdateApp",
            ok(apps
                .update_app(with_auth(
                    pb::UpdateAppRequest {
                        app: Some(pb::App {
                            id: unknown_id(),
                            name: "x".into(),
                            ..Default::default()
                        }),
                        api_key: String::new(),
                        update_mask: Some(FieldMask {
                            paths: vec!["name".into()],
                        }),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UninstallApp",
            ok(apps
                .uninstall_app(with_auth(
                    pb::UninstallAppRequest { id: unknown_id() },
                    auth,
                ))
                .await),
        ),
        (
            "ListCustomerApps",
            ok(customer_apps
                .list_customer_apps(with_auth(
                    pb::ListCustomerAppsRequest {
                        customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                            id.clone(),
                        )),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UpsertCustomerApps",
            ok(customer_apps
                .upsert_customer_apps(with_auth(
                    pb::UpsertCustomerAppsRequest {
                        customer: Some(pb::upsert_customer_apps_request::Customer::CustomerId(
                            id.clone(),
                        )),
                        data: vec![stripe_entry("", "cus_intruder", "")],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "DeleteCustomerApp",
            ok(customer_apps
                .delete_customer_app(with_auth(
                    pb::DeleteCustomerAppRequest {
                        customer: Some(pb::delete_customer_app_request::Customer::CustomerId(
                            id.clone(),
                        )),
                        app_id: unknown_id(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "CreateStripeCheckoutSession",
            ok(checkout
                .create_stripe_checkout_session(with_auth(
                    seed_checkout("Intruder", "intruder", ""),
                    auth,
                ))
                .await),
        ),
        (
            "GetStripeCheckoutSession",
            ok(checkout
                .get_stripe_checkout_session(with_auth(
                    pb::GetStripeCheckoutSessionRequest {
                        id: "cs_test_unknown".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListStripeCheckoutSessions",
            ok(checkout
                .list_stripe_checkout_sessions(with_auth(
                    pb::ListStripeCheckoutSessionsRequest::default(),
                    auth,
                ))
                .await),
        ),
        (
            "ExpireStripeCheckoutSession",
            ok(checkout
                .expire_stripe_checkout_session(with_auth(
                    pb::ExpireStripeCheckoutSessionRequest {
                        id: "cs_test_unknown".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UpsertSubjects",
            ok(subjects
                .upsert_subjects(with_auth(
                    pb::UpsertSubjectsRequest {
                        subjects: vec![named_subject("acme-subject", "Hijacked")],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetSubject",
            ok(subjects
                .get_subject(with_auth(
                    pb::GetSubjectRequest {
                        lookup: Some(subject_key("acme-subject")),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListSubjects",
            ok(subjects
                .list_subjects(with_auth(pb::ListSubjectsRequest::default(), auth))
                .await),
        ),
        (
            "DeleteSubject",
            ok(subjects
                .delete_subject(with_auth(
                    pb::DeleteSubjectRequest {
                        lookup: Some(pb::delete_subject_request::Lookup::Key(
                            "acme-subject".into(),
                        )),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "IngestEvents",
            ok(events
                .ingest_events(with_auth(
                    pb::IngestEventsRequest {
                        events: vec![usage_event(
                            "intruder-1",
                            "//intruder",
                            "acme-subject",
                            r#"{"calls":1}"#,
                        )],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListEvents",
            ok(events
                .list_events(with_auth(of_subject("acme-subject"), auth))
                .await),
        ),
    ]
}

async fn count(app: &TestApp, table: &str) -> String {
    app.query(&format!("SELECT COUNT(*) FROM {table}")).await[0][0]
        .clone()
        .expect("count")
}

async fn unauthenticated_calls_are_refused(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    // The right key works (and tenant A has something an intruder could aim at).
    let acme = a
        .create(
            customer_with_subjects("Acme of A", "acme", &["acme-subject"]),
            "",
        )
        .await
        .expect("tenant A creates a customer with its key");
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    let before = Snapshot::of(&a).await;

    let digest_a = digest_hex(KEY_A);
    let truncated = &KEY_A[..KEY_A.len() - 1];
    let headers: Vec<(Option<String>, &str)> = vec![
        (None, "no authorization header"),
        (Some("Bearer wrong".into()), "a wrong key"),
        (Some("Basic x".into()), "another scheme"),
        (Some("Bearer".into()), "a scheme without a key"),
        (
            Some(format!("Basic {KEY_A}")),
            "the right key under another scheme",
        ),
        (Some(KEY_A.to_owned()), "the right key without a scheme"),
        (
            Some(format!("Bearer {KEY_A}x")),
            "the right key plus a character",
        ),
        (
            Some(format!("Bearer {truncated}")),
            "the right key minus a character",
        ),
        (
            Some(format!("Bearer {digest_a}")),
            "the configured digest as the key",
        ),
        (
            Some(format!("Bearer {}", digest_a.to_uppercase())),
            "the configured digest (upper case) as the key",
        ),
        (
            Some(format!("Bearer {NS_A}")),
            "the namespace name as the key",
        ),
    ];
    let forbidden = credentials(false);
    for (header, why) in &headers {
        for (rpc, outcome) in every_service(&app, header.as_deref(), &acme).await {
            let what = format!("{rpc} with {why} ({header:?})");
            let status = match outcome {
                Ok(()) => panic!("{what}: answered without valid credentials"),
                Err(status) => status,
            };
            assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
            assert_no_leak(&status, &forbidden, &what);
        }
    }

    // Nothing was read from, written to or charged to any namespace.
    assert_unchanged(&a, &before, "unauthenticated calls").await;
    assert!(
        app.stripe.requests().is_empty(),
        "an unauthenticated call reached Stripe: {:?}",
        app.stripe.requests()
    );
    for (table, expected) in [
        ("customers", "1"),
        ("subjects", "1"),
        ("events", "0"),
        ("apps", "0"),
        ("checkout_sessions", "0"),
        ("customer_apps", "0"),
    ] {
        assert_eq!(
            count(&app, table).await,
            expected,
            "rows in {table} after unauthenticated calls"
        );
    }

    // Health and reflection need no key.
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "patron.v1.CustomerService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?} without a key: {s:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection without a key")
        .into_inner();
    let Some(Ok(first)) = responses.next().await else {
        panic!("no reflection response without a key")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("not a list of services: {:?}", first.message_response)
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "patron.v1.CustomerService",
        "patron.v1.AppService",
        "patron.v1.CustomerAppService",
        "patron.v1.StripeCheckoutService",
        "patron.v1.SubjectService",
        "patron.v1.EventService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    // Both keys still work after the refusals, each in its own namespace.
    let b = app.tenant(KEY_B).await;
    assert!(
        b.list_customers(pb::ListCustomersRequest::default())
            .await
            .is_empty(),
        "tenant B sees nothing of tenant A"
    );
    assert_eq!(
        customer_ids(&a.list_customers(pb::ListCustomersRequest::default()).await),
        [acme.id.as_str()]
    );
}

crate::on_both_databases!(with_api_keys(KEYS): unauthenticated_calls_are_refused);
