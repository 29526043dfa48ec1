//! UpdateCustomer (field masks, etags, identifier moves) and DeleteCustomer (soft delete that frees
//! identifiers and closes their attribution intervals).

use patron::grpc::pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, bad_fields, customer, customer_with_subjects};
use crate::on_both_databases;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn update(
    app: &TestApp,
    customer: pb::Customer,
    paths: &[&str],
) -> Result<pb::Customer, tonic::Status> {
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(customer),
            update_mask: mask(paths),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete_by_id(app: &TestApp, id: &str, etag: &str) -> Result<pb::Customer, tonic::Status> {
    app.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(id.to_owned())),
            etag: etag.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn full_customer() -> pb::Customer {
    pb::Customer {
        description: "the original".into(),
        primary_email: "a@b.example".into(),
        currency: "EUR".into(),
        metadata: [("tier".to_owned(), "gold".to_owned())].into(),
        billing_address: Some(pb::Address {
            country: "DE".into(),
            city: "Berlin".into(),
            line1: "Unter den Linden 1".into(),
            ..Default::default()
        }),
        ..customer_with_subjects("Original", "orig", &["orig-s1"])
    }
}

async fn the_mask_changes_only_the_named_fields(app: TestApp) {
    let created = app.create(full_customer()).await;
    let change = pb::Customer {
        id: created.id.clone(),
        name: "Renamed".into(),
        description: "ignored: not in the mask".into(),
        billing_address: Some(pb::Address {
            country: "hu".into(),
            city: "ignored".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = update(&app, change, &["name", "billing_address.country"])
        .await
        .expect("update");
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.description, "the original");
    let address = updated.billing_address.clone().expect("address");
    assert_eq!(
        (address.country.as_str(), address.city.as_str()),
        ("HU", "Berlin")
    );
    assert_eq!(updated.currency, "EUR");
    assert_eq!(updated.metadata["tier"], "gold");
    assert_ne!(updated.etag, created.etag, "a write changes the etag");
    let stamp = |t: Option<prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
    assert!(stamp(updated.updated_at) >= stamp(created.updated_at));
    assert_eq!(updated.created_at, created.created_at);

    // JSON-style camelCase paths are accepted as well.
    let updated = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            primary_email: "new@b.example".into(),
            ..Default::default()
        },
        &["primaryEmail"],
    )
    .await
    .expect("camelCase");
    assert_eq!(updated.primary_email, "new@b.example");
}

async fn named_fields_with_empty_values_are_cleared(app: TestApp) {
    let created = app.create(full_customer()).await;
    let cleared = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            ..Default::default()
        },
        &[
            "description",
            "primary_email",
            "currency",
            "metadata",
            "billing_address",
        ],
    )
    .await
    .expect("clear");
    assert_eq!(cleared.description, "");
    assert_eq!(cleared.primary_email, "");
    assert_eq!(cleared.currency, "");
    assert!(cleared.metadata.is_empty());
    assert!(cleared.billing_address.is_none());
    assert_eq!(cleared.name, "Original");
    let fetched = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Id(created.id.clone())),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched, cleared);

    let status = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.name"]);
    // Clearing both the key and every subject key would leave usage unattributable.
    let status = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            ..Default::default()
        },
        &["key", "usage_attribution.subject_keys"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.key"]);
}

async fn star_replaces_every_updatable_field(app: TestApp) {
    let created = app.create(full_customer()).await;
    let replaced = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            ..customer("Replaced", "replaced")
        },
        &["*"],
    )
    .await
    .expect("replace");
    assert_eq!(
        (replaced.name.as_str(), replaced.key.as_str()),
        ("Replaced", "replaced")
    );
    assert!(
        replaced
            .usage_attribution
            .expect("attr")
            .subject_keys
            .is_empty()
    );
    assert_eq!(replaced.currency, "");
    assert!(replaced.billing_address.is_none());
    // The freed identifiers can be taken by another customer.
    app.create(customer_with_subjects("Taker", "orig", &["orig-s1"]))
        .await;
}

async fn bad_masks_and_values_are_invalid(app: TestApp) {
    let created = app.create(full_customer()).await;
    let id = created.id.clone();
    let status = update(
        &app,
        pb::Customer {
            id: id.clone(),
            ..Default::default()
        },
        &[],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["update_mask"]);
    let status = update(
        &app,
        pb::Customer {
            id: id.clone(),
            ..Default::default()
        },
        &["name", "created_at"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["customer.name", "update_mask.paths[1]"]
    );
    let status = update(
        &app,
        pb::Customer {
            id: id.clone(),
            ..Default::default()
        },
        &["nickname"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["update_mask.paths[0]"]);
    let status = update(
        &app,
        pb::Customer {
            id: id.clone(),
            currency: "ABC".into(),
            ..Default::default()
        },
        &["currency"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.currency"]);
    let status = update(
        &app,
        pb::Customer {
            id: id.clone(),
            billing_address: Some(pb::Address {
                country: "ZZ".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &["billing_address.country"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.billing_address.country"]);
    let status = update(&app, pb::Customer::default(), &["name"])
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.id"]);
    let status = update(
        &app,
        pb::Customer {
            id: "nope".into(),
            name: "x".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&status), ["customer.id"]);
    let status = update(
        &app,
        pb::Customer {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            name: "x".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
    let unchanged = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Id(id)),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(unchanged, created, "failed updates store nothing");
}

async fn a_stale_etag_is_aborted(app: TestApp) {
    let created = app.create(customer("Etag", "etag")).await;
    let first = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            etag: created.etag.clone(),
            name: "One".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .expect("current etag");
    let status = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            etag: created.etag.clone(),
            name: "Two".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .unwrap_err();
    let info = assert_error(&status, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(info["id"], created.id);
    let status = delete_by_id(&app, &created.id, &created.etag)
        .await
        .unwrap_err();
    assert_error(&status, Code::Aborted, "ETAG_MISMATCH");
    let deleted = delete_by_id(&app, &created.id, &first.etag)
        .await
        .expect("delete with current etag");
    assert!(deleted.deleted_at.is_some());
}

async fn identifiers_move_between_customers_with_intervals(app: TestApp) {
    let a = app
        .create(customer_with_subjects("A", "a", &["shared", "a-1"]))
        .await;
    let b = app.create(customer("B", "b")).await;
    let status = update(
        &app,
        pb::Customer {
            id: b.id.clone(),
            ..customer_with_subjects("B", "b", &["shared"])
        },
        &["usage_attribution.subject_keys"],
    )
    .await
    .unwrap_err();
    let info = assert_error(&status, Code::AlreadyExists, "SUBJECT_KEY_ALREADY_EXISTS");
    assert_eq!(
        (info["identifier"].as_str(), info["customer_id"].as_str()),
        ("shared", a.id.as_str())
    );
    let status = update(
        &app,
        pb::Customer {
            id: b.id.clone(),
            key: "a".into(),
            ..Default::default()
        },
        &["key"],
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "KEY_ALREADY_EXISTS");

    // A gives "shared" up; B takes it.
    let a2 = update(
        &app,
        pb::Customer {
            id: a.id.clone(),
            ..customer_with_subjects("A", "", &["a-1"])
        },
        &["usage_attribution.subject_keys"],
    )
    .await
    .expect("release");
    assert_eq!(a2.usage_attribution.expect("attr").subject_keys, ["a-1"]);
    update(
        &app,
        pb::Customer {
            id: b.id.clone(),
            ..customer_with_subjects("B", "", &["shared"])
        },
        &["usage_attribution"],
    )
    .await
    .expect("take");
    let holders = app
        .list_all(pb::ListCustomersRequest {
            subject_key: "shared".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].id, b.id);

    // A's key can become one of its own subject keys without leaving the ledger.
    update(
        &app,
        pb::Customer {
            id: a.id.clone(),
            ..customer_with_subjects("A", "", &["a", "a-1"])
        },
        &["key", "usage_attribution.subject_keys"],
    )
    .await
    .expect("key becomes subject");

    let rows = app
        .query("SELECT customer_id, valid_from, valid_to FROM attribution_identifiers WHERE identifier = 'shared' ORDER BY valid_from")
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some(a.id.as_str()));
    let a_closed: i64 = rows[0][2]
        .as_deref()
        .expect("A's interval is closed")
        .parse()
        .expect("micros");
    assert_eq!(rows[1][0].as_deref(), Some(b.id.as_str()));
    let b_opened: i64 = rows[1][1]
        .as_deref()
        .expect("valid_from")
        .parse()
        .expect("micros");
    assert!(rows[1][2].is_none(), "B holds it now");
    assert!(a_closed <= b_opened);
    let rows = app.query(&format!("SELECT COUNT(*) FROM attribution_identifiers WHERE identifier = 'a' AND valid_to IS NULL AND customer_id = '{}'", a.id)).await;
    assert_eq!(
        rows[0][0].as_deref(),
        Some("1"),
        "'a' stayed claimed by A in one open interval"
    );
}

async fn delete_frees_identifiers_and_is_idempotent(app: TestApp) {
    let created = app
        .create(customer_with_subjects(
            "Old",
            "reuse-me",
            &["reuse-subject"],
        ))
        .await;
    let deleted = delete_by_id(&app, &created.id, "").await.expect("delete");
    assert!(deleted.deleted_at.is_some());
    assert_ne!(deleted.etag, created.etag);
    let again = delete_by_id(&app, &created.id, "")
        .await
        .expect("delete again");
    assert_eq!(
        again, deleted,
        "deleting a deleted customer returns it unchanged"
    );

    let status = update(
        &app,
        pb::Customer {
            id: created.id.clone(),
            name: "Zombie".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "CUSTOMER_DELETED");

    let reborn = app
        .create(customer_with_subjects(
            "New",
            "reuse-me",
            &["reuse-subject"],
        ))
        .await;
    assert_ne!(reborn.id, created.id);
    let by_key = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key("reuse-me".into())),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(by_key.id, reborn.id);

    let status = app
        .customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Key(
                "no-such-key".into(),
            )),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
    let status = delete_by_id(&app, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "")
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");

    let by_key_delete = app
        .customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Key("reuse-me".into())),
            etag: String::new(),
        })
        .await
        .expect("delete by key")
        .into_inner();
    assert_eq!(by_key_delete.id, reborn.id);
    let open = app
        .query("SELECT COUNT(*) FROM attribution_identifiers WHERE valid_to IS NULL")
        .await;
    assert_eq!(open[0][0].as_deref(), Some("0"), "every interval is closed");
    let all = app
        .query("SELECT COUNT(*) FROM attribution_identifiers")
        .await;
    assert_eq!(all[0][0].as_deref(), Some("4"), "history is kept");
}

on_both_databases!(
    the_mask_changes_only_the_named_fields,
    named_fields_with_empty_values_are_cleared,
    star_replaces_every_updatable_field,
    bad_masks_and_values_are_invalid,
    a_stale_etag_is_aborted,
    identifiers_move_between_customers_with_intervals,
    delete_frees_identifiers_and_is_idempotent,
);
