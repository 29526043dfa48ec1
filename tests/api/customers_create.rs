//! CreateCustomer and GetCustomer: validation, the attribution-identifier rule, idempotency and
//! races.

use std::collections::BTreeMap;

use patron::grpc::pb;
use patron::grpc::pb::customer_service_client::CustomerServiceClient;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, bad_fields, customer, customer_with_subjects};
use crate::on_both_databases;

fn get_by_key(key: &str) -> pb::GetCustomerRequest {
    pb::GetCustomerRequest {
        lookup: Some(pb::get_customer_request::Lookup::Key(key.to_owned())),
    }
}

fn subject_keys(customer: &pb::Customer) -> &[String] {
    customer
        .usage_attribution
        .as_ref()
        .map_or(&[], |a| a.subject_keys.as_slice())
}

fn get_by_id(id: &str) -> pb::GetCustomerRequest {
    pb::GetCustomerRequest {
        lookup: Some(pb::get_customer_request::Lookup::Id(id.to_owned())),
    }
}

async fn creates_the_seed_customer_and_finds_it_by_id_and_key(app: TestApp) {
    let created = app
        .create(pb::Customer {
            name: "ACME, Inc.".into(),
            key: "my-database-id".into(),
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: vec!["my-identifier".into(), "another".into()],
            }),
            primary_email: "billing@acme.example".into(),
            currency: "usd".into(),
            billing_address: Some(pb::Address {
                country: "us".into(),
                city: "Springfield".into(),
                ..Default::default()
            }),
            metadata: [("crm".to_owned(), "42".to_owned())].into(),
            ..Default::default()
        })
        .await;
    assert_eq!(created.id.len(), 26, "ULID id");
    assert_eq!(created.currency, "USD");
    let address = created.billing_address.clone().expect("address");
    assert_eq!(address.country, "US");
    assert_eq!(address.city, "Springfield");
    assert_eq!(
        created
            .usage_attribution
            .clone()
            .expect("attribution")
            .subject_keys,
        ["another", "my-identifier"],
        "subject keys are returned sorted"
    );
    assert!(created.created_at.is_some() && created.updated_at.is_some());
    assert!(created.deleted_at.is_none());
    assert!(!created.etag.is_empty());

    let mut client = app.customers.clone();
    let by_id = client
        .get_customer(get_by_id(&created.id))
        .await
        .expect("by id")
        .into_inner();
    assert_eq!(by_id, created);
    let by_key = client
        .get_customer(get_by_key("my-database-id"))
        .await
        .expect("by key")
        .into_inner();
    assert_eq!(by_key, created);
}

async fn a_customer_needs_a_key_or_a_subject_key(app: TestApp) {
    let status = app
        .try_create(customer("Nameless usage", ""))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.key"]);
    let ok = app
        .try_create(customer_with_subjects("Only subjects", "", &["s-1"]))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

async fn every_invalid_field_is_named_and_nothing_is_stored(app: TestApp) {
    let status = app
        .try_create(pb::Customer {
            name: String::new(),
            key: "k\u{7}".into(),
            description: "d".repeat(1025),
            currency: "XYZ".into(),
            primary_email: "not-an-email".into(),
            billing_address: Some(pb::Address {
                country: "XX".into(),
                line1: "l".repeat(257),
                ..Default::default()
            }),
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: vec!["a".into(), "   ".into(), "a".into()],
            }),
            metadata: [("k".repeat(65), "v".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&status);
    fields.sort();
    let expected_metadata_field = format!("customer.metadata[{:?}]", "k".repeat(65));
    let mut expected = vec![
        "customer.billing_address.country".to_owned(),
        "customer.billing_address.line1".to_owned(),
        "customer.currency".to_owned(),
        "customer.description".to_owned(),
        "customer.key".to_owned(),
        expected_metadata_field,
        "customer.name".to_owned(),
        "customer.primary_email".to_owned(),
        "customer.usage_attribution.subject_keys[1]".to_owned(),
        "customer.usage_attribution.subject_keys[2]".to_owned(),
    ];
    expected.sort();
    assert_eq!(fields, expected);
    let info = assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(info["fields"].contains("customer.currency"));
    assert!(
        app.list_all(pb::ListCustomersRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .is_empty()
    );
    let rows = app
        .query("SELECT COUNT(*) FROM attribution_identifiers")
        .await;
    assert_eq!(rows[0][0].as_deref(), Some("0"));
}

async fn limits_are_enforced_at_their_boundaries(app: TestApp) {
    let max_name = "n".repeat(256);
    let max_key = "ő".repeat(256);
    let ok = app
        .try_create(pb::Customer {
            name: max_name.clone(),
            key: max_key.clone(),
            description: "d".repeat(1024),
            metadata: (0..50)
                .map(|i| (format!("{i:0>64}"), "v".repeat(512)))
                .collect(),
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: (0..100).map(|i| format!("subject-{i}")).collect(),
            }),
            primary_email: format!("{}@{}.com", "a".repeat(64), "b".repeat(185)),
            ..Default::default()
        })
        .await;
    assert!(ok.is_ok(), "values at the limits are accepted: {ok:?}");
    let too_many_subjects = pb::Customer {
        usage_attribution: Some(pb::CustomerUsageAttribution {
            subject_keys: (0..101).map(|i| format!("other-{i}")).collect(),
        }),
        ..customer("x", "")
    };
    let status = app.try_create(too_many_subjects).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["customer.usage_attribution.subject_keys"]
    );
    let many_metadata = pb::Customer {
        metadata: (0..51).map(|i| (format!("k{i}"), String::new())).collect(),
        ..customer("x", "x")
    };
    let status = app.try_create(many_metadata).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.metadata"]);
    let status = app
        .try_create(customer(&"n".repeat(257), "y"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.name"]);
    let status = app
        .try_create(customer("z", &"k".repeat(257)))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.key"]);
    let status = app
        .try_create(pb::Customer {
            primary_email: format!("{}@{}.com", "a".repeat(64), "b".repeat(186)),
            ..customer("z", "z")
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.primary_email"]);
}

async fn keys_and_subject_keys_share_one_identifier_set(app: TestApp) {
    let first = app
        .create(customer_with_subjects("First", "alpha", &["s-alpha"]))
        .await;
    for (case, candidate, identifier, reason) in [
        (
            "key = key",
            customer("Second", "alpha"),
            "alpha",
            "KEY_ALREADY_EXISTS",
        ),
        (
            "key = subject key",
            customer("Second", "s-alpha"),
            "s-alpha",
            "KEY_ALREADY_EXISTS",
        ),
        (
            "subject = key (OpenMeter #3176)",
            customer_with_subjects("Second", "", &["alpha"]),
            "alpha",
            "SUBJECT_KEY_ALREADY_EXISTS",
        ),
        (
            "subject = subject",
            customer_with_subjects("Second", "beta", &["s-alpha"]),
            "s-alpha",
            "SUBJECT_KEY_ALREADY_EXISTS",
        ),
    ] {
        let status = app.try_create(candidate).await.expect_err(case);
        let info = assert_error(&status, Code::AlreadyExists, reason);
        assert_eq!(info["identifier"], identifier, "{case}");
        assert_eq!(info["customer_id"], first.id, "{case}");
    }
    // Keys are case-sensitive.
    app.create(customer("Upper", "ALPHA")).await;
    // A customer may use its own key as one of its subject keys.
    let own = app
        .create(customer_with_subjects("Own", "gamma", &["gamma", "g-2"]))
        .await;
    assert_eq!(
        own.usage_attribution.expect("attr").subject_keys,
        ["g-2", "gamma"]
    );
    // Nothing of the refused customers was stored.
    let all = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(all.len(), 3);
}

async fn a_repeated_request_id_returns_the_original_customer(app: TestApp) {
    let mut client = app.customers.clone();
    let request = pb::CreateCustomerRequest {
        customer: Some(customer_with_subjects(
            "Idem",
            "idem-key",
            &["idem-subject"],
        )),
        request_id: "5f0c6b1e-1d2a-4c1e-9d44-0c6f7f1c2a11".into(),
    };
    let first = client
        .create_customer(request.clone())
        .await
        .expect("first")
        .into_inner();
    let again = client
        .create_customer(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again, "the retry gets the original response");

    let mut different = request.clone();
    different.customer = Some(customer("Other", "other-key"));
    let status = client.create_customer(different).await.unwrap_err();
    assert_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(bad_fields(&status), ["request_id"]);

    // The original response is returned even after the customer changed.
    let mut updated = first.clone();
    updated.name = "Renamed".into();
    client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(updated),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("update");
    let replay = client
        .create_customer(request)
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replay, first);
    let all = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(all.len(), 1);

    let status = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("Long", "long")),
            request_id: "r".repeat(129),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["request_id"]);
}

async fn racing_creates_for_one_identifier_have_exactly_one_winner(app: TestApp) {
    for round in 0..12 {
        // Alternate: the same key, a key against a subject key, the same subject key.
        let (a, b) = match round % 3 {
            0 => (
                customer("A", &format!("race-{round}")),
                customer("B", &format!("race-{round}")),
            ),
            1 => (
                customer("A", &format!("race-{round}")),
                customer_with_subjects("B", "", &[&format!("race-{round}")]),
            ),
            _ => (
                customer_with_subjects("A", "", &[&format!("race-{round}")]),
                customer_with_subjects("B", "", &[&format!("race-{round}")]),
            ),
        };
        let mut clients = Vec::new();
        for _ in 0..2 {
            clients.push(CustomerServiceClient::new(app.channel().await));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = clients
            .into_iter()
            .zip([a, b])
            .map(|(mut client, candidate)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    client
                        .create_customer(pb::CreateCustomerRequest {
                            customer: Some(candidate),
                            request_id: String::new(),
                        })
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        let mut conflicts = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        Code::AlreadyExists,
                        "round {round}: {status:?}"
                    );
                    conflicts += 1;
                }
            }
        }
        assert_eq!((ok, conflicts), (1, 1), "round {round}");
    }
    let rows = app
        .query("SELECT identifier, COUNT(*) FROM attribution_identifiers WHERE valid_to IS NULL GROUP BY identifier HAVING COUNT(*) > 1")
        .await;
    assert!(
        rows.is_empty(),
        "no identifier has two live holders: {rows:?}"
    );
}

async fn concurrent_retries_with_one_request_id_create_one_customer(app: TestApp) {
    let request = pb::CreateCustomerRequest {
        customer: Some(customer("Retry", "retry-key")),
        request_id: "same-request".into(),
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut client = CustomerServiceClient::new(app.channel().await);
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            client.create_customer(request).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        ids.insert(
            task.await
                .expect("task")
                .expect("every retry succeeds")
                .into_inner()
                .id,
        );
    }
    assert_eq!(ids.len(), 1, "one customer: {ids:?}");
}

/// Creates arriving together share the SQLite writer's commits (group commit; on PostgreSQL
/// they run side by side): one refused create, against a committed holder or against another
/// create of the same batch, fails alone with its own field, and every other one is stored.
async fn concurrent_creates_fail_only_the_conflicting_one(app: TestApp) {
    let holder = app.create(customer("Holder", "gc-taken")).await;
    // 12 fresh keys (one with a request_id), one taken key, and two creates of one new key.
    let mut candidates: Vec<(String, pb::Customer, String)> = (0..12)
        .map(|i| {
            let request_id = if i == 0 {
                "gc-request".to_owned()
            } else {
                String::new()
            };
            (
                format!("gc-{i}"),
                customer(&format!("Fresh {i}"), &format!("gc-{i}")),
                request_id,
            )
        })
        .collect();
    candidates.push((
        "taken".to_owned(),
        customer_with_subjects("Loser", "gc-taken", &["gc-loser-subject"]),
        String::new(),
    ));
    for name in ["dup-a", "dup-b"] {
        candidates.push((name.to_owned(), customer(name, "gc-dup"), String::new()));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(candidates.len()));
    let mut tasks = Vec::new();
    for (label, candidate, request_id) in candidates.clone() {
        let mut client = CustomerServiceClient::new(app.channel().await);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = client
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(candidate),
                    request_id,
                })
                .await;
            (label, result)
        }));
    }
    let mut created = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for task in tasks {
        let (label, result) = tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("every create is answered")
            .expect("task");
        match result {
            Ok(response) => {
                created.insert(label, response.into_inner());
            }
            Err(status) => {
                refused.insert(label, status);
            }
        }
    }
    // The taken key fails with its own field and holder; of the two duplicates exactly one.
    let taken = refused.remove("taken").expect("the taken key is refused");
    let info = assert_error(&taken, Code::AlreadyExists, "KEY_ALREADY_EXISTS");
    assert_eq!(info["field"], "customer.key");
    assert_eq!(info["identifier"], "gc-taken");
    assert_eq!(info["customer_id"], holder.id);
    assert_eq!(refused.len(), 1, "one duplicate refused: {refused:?}");
    let (dup_loser, status) = refused.into_iter().next().expect("one");
    assert!(dup_loser.starts_with("dup-"), "{dup_loser}: {status:?}");
    let info = assert_error(&status, Code::AlreadyExists, "KEY_ALREADY_EXISTS");
    assert_eq!(info["field"], "customer.key");
    // Every other create is stored and readable, by id and by key.
    assert_eq!(created.len(), 13, "{:?}", created.keys());
    let mut client = app.customers.clone();
    for (label, customer) in &created {
        let by_id = client
            .get_customer(get_by_id(&customer.id))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"))
            .into_inner();
        assert_eq!(&by_id, customer, "{label}");
        let by_key = client
            .get_customer(get_by_key(&customer.key))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"))
            .into_inner();
        assert_eq!(by_key.id, customer.id, "{label}");
    }
    // Nothing of the refused creates stayed: the holder and the 13 are all there is, and the
    // loser's subject key is free.
    let all = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(
        all.len(),
        14,
        "{:?}",
        all.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    let rows = app
        .query(
            "SELECT customer_id FROM attribution_identifiers WHERE identifier = 'gc-loser-subject'",
        )
        .await;
    assert!(rows.is_empty(), "{rows:?}");
    app.create(customer_with_subjects("Later", "", &["gc-loser-subject"]))
        .await;
    // A retry of the idempotent create returns the customer it made.
    let retried = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("Fresh 0", "gc-0")),
            request_id: "gc-request".into(),
        })
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retried, created["gc-0"]);
}

/// Creates arriving together are written together (one statement on PostgreSQL, one commit on
/// SQLite), and each keeps all it wrote: its claims, its subject keys, a Subject for every key
/// that had none (an existing Subject is left as it was) and its idempotency record.
async fn creates_arriving_together_each_keep_all_they_wrote(app: TestApp) {
    let mut subjects = app.subjects.clone();
    subjects
        .upsert_subjects(pb::UpsertSubjectsRequest {
            subjects: vec![pb::SubjectUpsert {
                key: "tg-3-a".into(),
                display_name: Some("Existing".into()),
                ..Default::default()
            }],
        })
        .await
        .expect("existing subject");
    let n = 16;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut client = CustomerServiceClient::new(app.channel().await);
        let barrier = barrier.clone();
        let (a, b) = (format!("tg-{i}-a"), format!("tg-{i}-b"));
        let candidate =
            customer_with_subjects(&format!("Together {i}"), &format!("tg-{i}"), &[&a, &b]);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let request = pb::CreateCustomerRequest {
                customer: Some(candidate),
                request_id: format!("tg-request-{i}"),
            };
            (request.clone(), client.create_customer(request).await)
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let (request, result) = tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("every create is answered")
            .expect("task");
        created.push((
            request,
            result.expect("every create is stored").into_inner(),
        ));
    }
    let mut client = app.customers.clone();
    for (request, customer) in &created {
        // Readable by key, with its subject keys; a retry replays it.
        let by_key = client
            .get_customer(get_by_key(&customer.key))
            .await
            .expect("by key")
            .into_inner();
        assert_eq!(&by_key, customer);
        assert_eq!(subject_keys(&by_key).len(), 2);
        let retried = client
            .create_customer(request.clone())
            .await
            .expect("retry")
            .into_inner();
        assert_eq!(&retried, customer);
    }
    // A Subject for every subject key, held by its customer; the existing one kept its name.
    let listed = subjects
        .list_subjects(pb::ListSubjectsRequest {
            page_size: 1000,
            key_prefix: "tg-".into(),
            ..Default::default()
        })
        .await
        .expect("subjects")
        .into_inner()
        .subjects;
    assert_eq!(listed.len(), 2 * n, "{listed:?}");
    for subject in &listed {
        let owner = created
            .iter()
            .map(|(_, c)| c)
            .find(|c| subject_keys(c).contains(&subject.key))
            .expect("a customer holds every subject key");
        assert_eq!(subject.customer_id, owner.id, "{}", subject.key);
        let expected = if subject.key == "tg-3-a" {
            "Existing"
        } else {
            ""
        };
        assert_eq!(subject.display_name, expected, "{}", subject.key);
    }
    // A subject key of one of them is taken for anybody else.
    let status = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer_with_subjects("Late", "", &["tg-7-b"])),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::AlreadyExists, "SUBJECT_KEY_ALREADY_EXISTS");
    assert_eq!(info["field"], "customer.usage_attribution.subject_keys");
    assert_eq!(info["identifier"], "tg-7-b");
}

async fn get_reports_missing_and_deleted_customers(app: TestApp) {
    let mut client = app.customers.clone();
    let status = client
        .get_customer(get_by_id("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
    assert_eq!(info["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let status = client.get_customer(get_by_key("nobody")).await.unwrap_err();
    assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
    for malformed in ["not-an-id", "01ARZ3NDEKTSV4RRFFQ69G5FA"] {
        let status = client.get_customer(get_by_id(malformed)).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["id"], "{malformed}");
    }
    let lower = app.create(customer("Lower", "lower")).await;
    let found = client
        .get_customer(get_by_id(&lower.id.to_lowercase()))
        .await
        .expect("ids are case-insensitive like every ULID")
        .into_inner();
    assert_eq!(found.id, lower.id);
    let status = client
        .get_customer(pb::GetCustomerRequest { lookup: None })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["lookup"]);

    let created = app.create(customer("Gone", "gone")).await;
    client
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(created.id.clone())),
            etag: String::new(),
        })
        .await
        .expect("delete");
    let deleted = client
        .get_customer(get_by_id(&created.id))
        .await
        .expect("by id")
        .into_inner();
    assert!(deleted.deleted_at.is_some());
    let status = client.get_customer(get_by_key("gone")).await.unwrap_err();
    assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
}

async fn metadata_round_trips(app: TestApp) {
    let metadata: BTreeMap<String, String> = [("tier", "gold"), ("empty", ""), ("ünï", "cödé")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let created = app
        .create(pb::Customer {
            metadata: metadata.clone().into_iter().collect(),
            ..customer("Meta", "meta")
        })
        .await;
    let stored: BTreeMap<String, String> = created.metadata.into_iter().collect();
    assert_eq!(stored, metadata);
}

on_both_databases!(
    creates_the_seed_customer_and_finds_it_by_id_and_key,
    a_customer_needs_a_key_or_a_subject_key,
    every_invalid_field_is_named_and_nothing_is_stored,
    limits_are_enforced_at_their_boundaries,
    keys_and_subject_keys_share_one_identifier_set,
    a_repeated_request_id_returns_the_original_customer,
    racing_creates_for_one_identifier_have_exactly_one_winner,
    concurrent_retries_with_one_request_id_create_one_customer,
    concurrent_creates_fail_only_the_conflicting_one,
    creates_arriving_together_each_keep_all_they_wrote,
    get_reports_missing_and_deleted_customers,
    metadata_round_trips,
);
