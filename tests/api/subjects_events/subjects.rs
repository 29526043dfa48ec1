//! SubjectService: atomic upserts with field presence, lookups, keyset lists, soft delete.

use super::*;

async fn upsert_creates_then_updates_present_fields_only(app: TestApp) {
    let meta = structure(serde_json::json!({
        "plan": "pro",
        "seats": 5,
        "ratio": 0.25,
        "active": true,
        "nothing": null,
        "tags": ["a", 1, false, {"deep": [null]}],
        "nested": {"region": "eu", "limits": {"rps": 100}},
    }));
    let created = upsert(
        &app,
        vec![
            pb::SubjectUpsert {
                key: "zeta".into(),
                display_name: Some("Zeta".into()),
                stripe_customer_id: Some("cus_123".into()),
                metadata: Some(meta.clone()),
            },
            item("alpha"),
        ],
    )
    .await
    .expect("create");
    assert_eq!(keys(&created), ["zeta", "alpha"], "request order");
    let (zeta, alpha) = (created[0].clone(), created[1].clone());
    for s in [&zeta, &alpha] {
        assert_eq!(s.id.len(), 26, "ULID id: {s:?}");
        assert!(s.created_at.is_some() && s.updated_at.is_some());
        assert!(s.deleted_at.is_none());
        assert_eq!(s.customer_id, "");
    }
    assert_ne!(zeta.id, alpha.id);
    assert_eq!(zeta.display_name, "Zeta");
    assert_eq!(zeta.stripe_customer_id, "cus_123");
    assert_eq!(zeta.metadata.as_ref(), Some(&meta));
    assert_eq!(alpha.display_name, "");
    assert_eq!(alpha.stripe_customer_id, "");
    assert!(no_metadata(alpha.metadata.as_ref()), "{alpha:?}");
    assert_eq!(subject_by_key(&app, "zeta").await.expect("get"), zeta);

    // Only display_name present: everything else stays.
    app.clock().advance(Duration::from_millis(20));
    let updated = upsert(&app, vec![named("alpha", "Alpha"), named("zeta", "Zeta 2")])
        .await
        .expect("update");
    assert_eq!(keys(&updated), ["alpha", "zeta"], "request order");
    let zeta2 = updated[1].clone();
    assert_eq!(zeta2.id, zeta.id, "an update keeps the id");
    assert_eq!(zeta2.display_name, "Zeta 2");
    assert_eq!(zeta2.stripe_customer_id, "cus_123");
    assert_eq!(zeta2.metadata.as_ref(), Some(&meta));
    assert_eq!(zeta2.created_at, zeta.created_at);
    assert!(
        stamp(zeta2.updated_at.as_ref()) > stamp(zeta.updated_at.as_ref()),
        "updated_at moves: {:?} -> {:?}",
        zeta.updated_at,
        zeta2.updated_at
    );
    assert_eq!(updated[0].id, alpha.id);
    assert_eq!(updated[0].display_name, "Alpha");
    assert_eq!(subject_by_key(&app, "zeta").await.expect("get"), zeta2);

    // Present empty values clear.
    app.clock().advance(Duration::from_millis(20));
    let cleared = upsert(
        &app,
        vec![pb::SubjectUpsert {
            key: "zeta".into(),
            display_name: Some(String::new()),
            stripe_customer_id: None,
            metadata: Some(Struct::default()),
        }],
    )
    .await
    .expect("clear");
    assert_eq!(cleared.len(), 1);
    let zeta3 = cleared[0].clone();
    assert_eq!(zeta3.id, zeta.id);
    assert_eq!(zeta3.display_name, "");
    assert!(no_metadata(zeta3.metadata.as_ref()), "{zeta3:?}");
    assert_eq!(zeta3.stripe_customer_id, "cus_123", "absent: unchanged");
    assert!(stamp(zeta3.updated_at.as_ref()) > stamp(zeta2.updated_at.as_ref()));
    let cleared = upsert(
        &app,
        vec![pb::SubjectUpsert {
            stripe_customer_id: Some(String::new()),
            ..item("zeta")
        }],
    )
    .await
    .expect("clear stripe customer");
    assert_eq!(cleared[0].stripe_customer_id, "");
    assert_eq!(cleared[0].display_name, "");
    let fetched = subject_by_key(&app, "zeta").await.expect("get");
    assert_eq!(
        (
            fetched.id.as_str(),
            fetched.display_name.as_str(),
            fetched.stripe_customer_id.as_str()
        ),
        (zeta.id.as_str(), "", "")
    );
    assert!(no_metadata(fetched.metadata.as_ref()));

    // Metadata is replaced as a whole.
    let replaced = upsert(
        &app,
        vec![pb::SubjectUpsert {
            metadata: Some(structure(serde_json::json!({"only": "this"}))),
            ..item("alpha")
        }],
    )
    .await
    .expect("replace metadata");
    assert_eq!(
        replaced[0].metadata,
        Some(structure(serde_json::json!({"only": "this"})))
    );
    assert_eq!(replaced[0].display_name, "Alpha");

    // Nothing was duplicated along the way.
    let all = all_subjects(&app).await;
    assert_eq!(keys(&all), ["alpha", "zeta"]);
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [alpha.id.as_str(), zeta.id.as_str()]
    );
}

async fn upsert_is_atomic_and_validates_every_item(app: TestApp) {
    let keep = upsert(&app, vec![named("keep", "orig")])
        .await
        .expect("create")[0]
        .clone();
    let changed = || named("keep", "changed");
    let big_metadata = || structure(serde_json::json!({ "blob": "x".repeat(17 * 1024) }));
    let too_many: Vec<_> = (0..1001).map(|i| item(&format!("many-{i:04}"))).collect();
    let cases: Vec<(Vec<pb::SubjectUpsert>, &str)> = vec![
        (
            vec![
                changed(),
                item("new-1"),
                pb::SubjectUpsert {
                    stripe_customer_id: Some("xyz".into()),
                    ..item("new-2")
                },
            ],
            "subjects[2].stripe_customer_id",
        ),
        (vec![item(""), changed()], "subjects[0].key"),
        (
            vec![changed(), item("bad\u{7}key"), item("new-3")],
            "subjects[1].key",
        ),
        (vec![changed(), item("   ")], "subjects[1].key"),
        (vec![item(&"k".repeat(257)), changed()], "subjects[0].key"),
        (
            vec![
                pb::SubjectUpsert {
                    metadata: Some(big_metadata()),
                    ..item("new-4")
                },
                changed(),
            ],
            "subjects[0].metadata",
        ),
        (vec![item("dup"), changed(), item("dup")], "subjects[2].key"),
        (
            vec![item("new-5"), item("keep"), named("keep", "again")],
            "subjects[2].key",
        ),
        (too_many, "subjects"),
    ];
    for (batch, field) in cases {
        let status = upsert(&app, batch).await.expect_err(field);
        assert_eq!(bad_fields(&status), [field]);
        let all = all_subjects(&app).await;
        assert_eq!(keys(&all), ["keep"], "nothing written after {field}");
        assert_eq!(
            (all[0].id.as_str(), all[0].display_name.as_str()),
            (keep.id.as_str(), "orig"),
            "the valid update in the batch was not applied ({field})"
        );
    }

    // An empty batch writes nothing: an empty answer (preferred), or INVALID_ARGUMENT.
    match upsert(&app, Vec::new()).await {
        Ok(subjects) => assert!(subjects.is_empty(), "{subjects:?}"),
        Err(status) => assert_eq!(bad_fields(&status), ["subjects"]),
    }
    assert_eq!(keys(&all_subjects(&app).await), ["keep"]);

    // The limits themselves are fine: 1000 items, a 256-character key, metadata under 16 KiB.
    let mut batch: Vec<_> = (0..998).map(|i| item(&format!("bulk-{i:04}"))).collect();
    batch.push(item(&"k".repeat(256)));
    batch.push(pb::SubjectUpsert {
        metadata: Some(structure(
            serde_json::json!({ "blob": "x".repeat(15 * 1024) }),
        )),
        ..item("roomy")
    });
    let stored = upsert(&app, batch).await.expect("1000 items");
    assert_eq!(stored.len(), 1000);
    assert_eq!(stored[998].key, "k".repeat(256));
    assert_eq!(stored[999].key, "roomy");
    assert_eq!(all_subjects(&app).await.len(), 1001);
}

async fn get_list_and_delete_subjects(app: TestApp) {
    let created = upsert(
        &app,
        ["b-2", "a-1", "B-1", "b-1", "a-2"]
            .into_iter()
            .map(item)
            .collect(),
    )
    .await
    .expect("create");
    let id_of = |key: &str| {
        created
            .iter()
            .find(|s| s.key == key)
            .expect("created")
            .id
            .clone()
    };
    let by_id = subject_by_id(&app, &id_of("a-1")).await.expect("by id");
    assert_eq!(by_id.key, "a-1");
    let by_key = subject_by_key(&app, "a-1").await.expect("by key");
    assert_eq!(by_key, by_id);

    // Ordered by key (case-sensitive byte order), one page and several.
    let order = ["B-1", "a-1", "a-2", "b-1", "b-2"];
    let (all, pages) = list_subject_pages(&app, pb::ListSubjectsRequest::default()).await;
    assert_eq!((keys(&all), pages), (order.to_vec(), 1));
    let (all, pages) = list_subject_pages(
        &app,
        pb::ListSubjectsRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((keys(&all), pages), (order.to_vec(), 3));
    for (prefix, expected) in [
        ("b", vec!["b-1", "b-2"]),
        ("B", vec!["B-1"]),
        ("a-", vec!["a-1", "a-2"]),
        ("zz", vec![]),
    ] {
        let (found, _) = list_subject_pages(
            &app,
            pb::ListSubjectsRequest {
                key_prefix: prefix.into(),
                page_size: 1,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(keys(&found), expected, "prefix {prefix:?}");
    }
    let status = app
        .subjects
        .clone()
        .list_subjects(pb::ListSubjectsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_size"]);

    // Soft delete by key and by id.
    let old_a2 = id_of("a-2");
    let deleted = delete_subject(&app, pb::delete_subject_request::Lookup::Key("a-2".into()))
        .await
        .expect("delete by key");
    assert_eq!(deleted.id, old_a2);
    assert!(deleted.deleted_at.is_some());
    let status = subject_by_key(&app, "a-2").await.unwrap_err();
    assert_error(&status, Code::NotFound, "SUBJECT_NOT_FOUND");
    let fetched = subject_by_id(&app, &old_a2).await.expect("deleted by id");
    assert_eq!(fetched.key, "a-2");
    assert!(fetched.deleted_at.is_some());
    let deleted = delete_subject(&app, pb::delete_subject_request::Lookup::Id(id_of("b-2")))
        .await
        .expect("delete by id");
    assert_eq!(deleted.key, "b-2");
    assert!(deleted.deleted_at.is_some());
    let status = delete_subject(&app, pb::delete_subject_request::Lookup::Key("a-2".into()))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "SUBJECT_NOT_FOUND");
    let status = subject_by_id(&app, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "SUBJECT_NOT_FOUND");

    let live = list_subjects(&app, pb::ListSubjectsRequest::default()).await;
    assert_eq!(keys(&live), ["B-1", "a-1", "b-1"]);
    let (with_deleted, pages) = list_subject_pages(
        &app,
        pb::ListSubjectsRequest {
            page_size: 2,
            show_deleted: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((keys(&with_deleted), pages), (order.to_vec(), 3));

    // A deleted key can be used again: a new subject.
    let again = upsert(&app, vec![named("a-2", "second life")])
        .await
        .expect("re-create")[0]
        .clone();
    assert_ne!(again.id, old_a2);
    assert!(again.deleted_at.is_none());
    assert_eq!(
        subject_by_key(&app, "a-2").await.expect("live").id,
        again.id
    );
    assert!(
        subject_by_id(&app, &old_a2)
            .await
            .expect("old")
            .deleted_at
            .is_some()
    );
    let live = list_subjects(&app, pb::ListSubjectsRequest::default()).await;
    assert_eq!(keys(&live), ["B-1", "a-1", "a-2", "b-1"]);
    let with_deleted = all_subjects(&app).await;
    assert_eq!(
        keys(&with_deleted),
        ["B-1", "a-1", "a-2", "a-2", "b-1", "b-2"]
    );
    let a2s: Vec<_> = with_deleted
        .iter()
        .filter(|s| s.key == "a-2")
        .map(|s| (s.id.as_str(), s.deleted_at.is_some()))
        .collect();
    assert_eq!(a2s.len(), 2);
    assert!(a2s.contains(&(old_a2.as_str(), true)), "{a2s:?}");
    assert!(a2s.contains(&(again.id.as_str(), false)), "{a2s:?}");
}

async fn customers_provision_subjects_and_subject_customer_id(app: TestApp) {
    let manual = structure(serde_json::json!({"origin": "manual"}));
    let pre = upsert(
        &app,
        vec![pb::SubjectUpsert {
            metadata: Some(manual.clone()),
            ..named("s-2", "pre-existing")
        }],
    )
    .await
    .expect("pre-existing subject")[0]
        .clone();
    let acme = app
        .create(customer_with_subjects("Acme", "acme", &["s-1", "s-2"]))
        .await;

    let all = all_subjects(&app).await;
    assert_eq!(keys(&all), ["s-1", "s-2"], "one subject per subject key");
    let s1 = subject_by_key(&app, "s-1").await.expect("s-1 provisioned");
    assert_eq!(
        s1.metadata,
        Some(structure(serde_json::json!({"createdBy": "customer"})))
    );
    assert_eq!(s1.customer_id, acme.id);
    let s2 = subject_by_key(&app, "s-2").await.expect("s-2");
    assert_eq!(s2.id, pre.id, "an existing subject is kept, not duplicated");
    assert_eq!(s2.display_name, "pre-existing");
    assert_eq!(s2.metadata, Some(manual));
    assert_eq!(s2.customer_id, acme.id);

    let other = app
        .create(customer_with_subjects("Other", "other", &["o-1"]))
        .await;
    let of = |customer_id: &str| pb::ListSubjectsRequest {
        customer_id: customer_id.to_owned(),
        ..Default::default()
    };
    assert_eq!(
        keys(&list_subjects(&app, of(&acme.id)).await),
        ["s-1", "s-2"]
    );
    assert_eq!(keys(&list_subjects(&app, of(&other.id)).await), ["o-1"]);

    // Updating the subject keys provisions the new ones as well.
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: acme.id.clone(),
                usage_attribution: Some(pb::CustomerUsageAttribution {
                    subject_keys: vec!["s-1".into(), "s-2".into(), "s-3".into()],
                }),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["usage_attribution.subject_keys".into()],
            }),
        })
        .await
        .expect("update customer");
    let s3 = subject_by_key(&app, "s-3").await.expect("s-3 provisioned");
    assert_eq!(
        s3.metadata,
        Some(structure(serde_json::json!({"createdBy": "customer"})))
    );
    assert_eq!(s3.customer_id, acme.id);
    assert_eq!(
        keys(&list_subjects(&app, of(&acme.id)).await),
        ["s-1", "s-2", "s-3"]
    );

    // Deleting the customer detaches its subjects and keeps them.
    app.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(acme.id.clone())),
            etag: String::new(),
        })
        .await
        .expect("delete customer");
    let s1 = subject_by_key(&app, "s-1").await.expect("s-1 still exists");
    assert_eq!(s1.customer_id, "");
    assert!(s1.deleted_at.is_none());
    assert!(list_subjects(&app, of(&acme.id)).await.is_empty());
    assert_eq!(keys(&list_subjects(&app, of(&other.id)).await), ["o-1"]);
    assert_eq!(
        keys(&all_subjects(&app).await),
        ["o-1", "s-1", "s-2", "s-3"]
    );
}

crate::on_both_databases!(with_manual_clock: upsert_creates_then_updates_present_fields_only);

crate::on_both_databases!(
    upsert_is_atomic_and_validates_every_item,
    get_list_and_delete_subjects,
    customers_provision_subjects_and_subject_customer_id,
);
