//! Tenancy: customers and subjects.

use super::*;

#[allow(clippy::too_many_lines)]
async fn customers_and_subjects_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let a_private = [
        "Acme of A",
        "tenant A's private notes",
        "crm-a-123",
        "A's subject",
    ];
    let forbidden = forbidden_for_b(&a_private);

    let acme_a = a
        .create(
            pb::Customer {
                description: "tenant A's private notes".into(),
                primary_email: "billing@acme.example".into(),
                metadata: [("crm".to_owned(), "crm-a-123".to_owned())].into(),
                ..customer_with_subjects("Acme of A", "acme", &["shared-subject"])
            },
            "req-acme",
        )
        .await
        .expect("A creates acme");
    let other_a = a
        .create(customer("Other", "other"), "req-other")
        .await
        .expect("A creates other");
    let a_only = a
        .upsert_subjects(vec![named_subject("a-only", "A's subject")])
        .await
        .expect("A upserts a subject")
        .remove(0);
    let a_shared = a
        .get_subject(subject_key("shared-subject"))
        .await
        .expect("A's customer provisioned its subject");
    assert_eq!(a_shared.customer_id, acme_a.id);
    let before = Snapshot::of(&a).await;

    // Idempotency is per namespace: A's exact request with A's request_id creates B's own
    // customer (never A's response), and A's request_id with another request is not "reused".
    let other_b = b
        .create(customer("Other", "other"), "req-other")
        .await
        .expect("B sends A's exact request with A's request_id");
    assert_ne!(
        other_b.id, other_a.id,
        "B must never get A's customer back from A's idempotency record"
    );
    assert_unchanged(&a, &before, "B's CreateCustomer replaying A's request").await;
    let acme_b = b
        .create(
            pb::Customer {
                primary_email: "billing@acme.example".into(),
                ..customer_with_subjects("Acme of B", "acme", &["shared-subject"])
            },
            "req-acme",
        )
        .await
        .unwrap_or_else(|s| {
            assert_no_leak(&s, &forbidden, "B's CreateCustomer");
            panic!(
                "B's key \"acme\", subject key \"shared-subject\" and request_id \"req-acme\" are \
             A's, and free in B (uniqueness and idempotency are per namespace): {s:?}"
            )
        });
    assert_ne!(acme_b.id, acme_a.id);
    assert_eq!(acme_b.name, "Acme of B");
    assert_unchanged(
        &a,
        &before,
        "B's CreateCustomer with A's key and subject key",
    )
    .await;
    let again = b
        .create(
            pb::Customer {
                primary_email: "billing@acme.example".into(),
                ..customer_with_subjects("Acme of B", "acme", &["shared-subject"])
            },
            "req-acme",
        )
        .await
        .expect("B's retry");
    assert_eq!(again, acme_b, "a retry in B returns B's original response");

    // Uniqueness still holds inside B, and names B's holder, never A's.
    for (duplicate, what) in [
        (customer("Dup", "acme"), "key"),
        (
            customer_with_subjects("Dup", "dup", &["shared-subject"]),
            "subject key",
        ),
    ] {
        let status = b.create(duplicate, "").await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{what}: {status:?}");
        let text = status_text(&status);
        assert!(
            text.contains(&acme_b.id),
            "{what}: names B's holder: {status:?}"
        );
        assert!(
            !text.contains(&acme_a.id),
            "{what}: names A's customer: {status:?}"
        );
        assert_no_leak(&status, &forbidden, what);
    }
    assert_unchanged(&a, &before, "B's conflicting creates").await;

    // B cannot read, update or delete A's customer by id; by key B finds its own.
    let unknown = unknown_id();
    assert_hidden(
        "GetCustomer(A's id)",
        b.get_customer(customer_id(&acme_a.id)).await,
        &acme_a.id,
        b.get_customer(customer_id(&unknown)).await,
        &unknown,
        &forbidden,
    );
    assert_eq!(
        b.get_customer(customer_key("acme"))
            .await
            .expect("B's acme"),
        acme_b
    );
    assert_eq!(
        a.get_customer(customer_key("acme"))
            .await
            .expect("A's acme"),
        acme_a
    );
    for (paths, etag, what) in [
        (&["name"][..], "", "UpdateCustomer(A's id, name)"),
        (
            &["name"][..],
            acme_a.etag.as_str(),
            "UpdateCustomer(A's id and etag)",
        ),
        (&["key"][..], "", "UpdateCustomer(A's id, key)"),
        (
            &["usage_attribution.subject_keys"][..],
            "",
            "UpdateCustomer(A's id, subject keys)",
        ),
        (&["*"][..], "", "UpdateCustomer(A's id, *)"),
    ] {
        let change = |id: &str| pb::Customer {
            id: id.to_owned(),
            etag: etag.to_owned(),
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: vec!["hijacked-subject".into()],
            }),
            ..customer("Hijacked", "hijacked")
        };
        assert_hidden(
            what,
            b.update_customer(change(&acme_a.id), paths).await,
            &acme_a.id,
            b.update_customer(change(&unknown), paths).await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, what).await;
    }
    for etag in ["", acme_a.etag.as_str()] {
        let what = format!("DeleteCustomer(A's id, etag {etag:?})");
        assert_hidden(
            &what,
            b.delete_customer(
                pb::delete_customer_request::Lookup::Id(acme_a.id.clone()),
                etag,
            )
            .await,
            &acme_a.id,
            b.delete_customer(
                pb::delete_customer_request::Lookup::Id(unknown.clone()),
                etag,
            )
            .await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, &what).await;
    }

    // Lists and every filter show only B's own customers.
    let b_ids = [acme_b.id.as_str(), other_b.id.as_str()];
    for (request, expected, what) in [
        (
            pb::ListCustomersRequest::default(),
            &b_ids[..],
            "ListCustomers",
        ),
        (
            pb::ListCustomersRequest {
                show_deleted: true,
                ..Default::default()
            },
            &b_ids[..],
            "ListCustomers(show_deleted)",
        ),
        (
            pb::ListCustomersRequest {
                order_by: "created_at desc".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str(), other_b.id.as_str()][..],
            "ListCustomers(created_at desc)",
        ),
        (
            pb::ListCustomersRequest {
                key: "acme".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(key)",
        ),
        (
            pb::ListCustomersRequest {
                subject_key: "shared-subject".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(subject_key)",
        ),
        (
            pb::ListCustomersRequest {
                primary_email: "BILLING@acme.example".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(primary_email)",
        ),
        (
            pb::ListCustomersRequest {
                name: "acme".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(name)",
        ),
        (
            pb::ListCustomersRequest {
                name: "Acme of A".into(),
                ..Default::default()
            },
            &[][..],
            "ListCustomers(A's name)",
        ),
        (
            pb::ListCustomersRequest {
                page_size: 1,
                ..Default::default()
            },
            &b_ids[..],
            "ListCustomers(page_size 1)",
        ),
    ] {
        let mut listed = customer_ids(&b.list_customers(request).await)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if !what.contains("desc") {
            listed.sort();
        }
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        if !what.contains("desc") {
            expected.sort();
        }
        assert_eq!(listed, expected, "{what} in B");
    }

    // Subjects: B has its own "shared-subject"; A's subjects are invisible and untouchable.
    let b_shared = b
        .get_subject(subject_key("shared-subject"))
        .await
        .expect("B's customer provisioned its own subject");
    assert_ne!(b_shared.id, a_shared.id);
    assert_eq!(b_shared.customer_id, acme_b.id);
    for (subject, what) in [
        (&a_shared, "A's shared subject"),
        (&a_only, "A's own subject"),
    ] {
        let unknown = unknown_id();
        assert_hidden(
            &format!("GetSubject(id of {what})"),
            b.get_subject(subject_id(&subject.id)).await,
            &subject.id,
            b.get_subject(subject_id(&unknown)).await,
            &unknown,
            &forbidden,
        );
    }
    assert_hidden(
        "GetSubject(key only A has)",
        b.get_subject(subject_key("a-only")).await,
        "a-only",
        b.get_subject(subject_key("no-such-subject")).await,
        "no-such-subject",
        &forbidden,
    );
    let listed = b
        .list_subjects(pb::ListSubjectsRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("B lists subjects");
    assert_eq!(
        subject_keys(&listed),
        ["shared-subject"],
        "B's subjects only"
    );
    assert_eq!(listed[0], b_shared);
    assert!(
        b.list_subjects(pb::ListSubjectsRequest {
            key_prefix: "a-".into(),
            ..Default::default()
        })
        .await
        .expect("B lists by prefix")
        .is_empty()
    );
    assert_empty_or_not_found(
        "ListSubjects(customer_id of A's customer)",
        b.list_subjects(pb::ListSubjectsRequest {
            customer_id: acme_a.id.clone(),
            ..Default::default()
        })
        .await,
        &forbidden,
    );

    // B upserting the same keys writes B's own subjects.
    let upserted = b
        .upsert_subjects(vec![
            named_subject("shared-subject", "B's name"),
            named_subject("a-only", "B's a-only"),
        ])
        .await
        .expect("B upserts keys A also has");
    assert_eq!(upserted[0].id, b_shared.id);
    assert_ne!(upserted[1].id, a_only.id);
    assert_unchanged(&a, &before, "B's UpsertSubjects with A's keys").await;

    // B cannot delete A's subjects by id; by key it deletes its own.
    for (subject, what) in [
        (&a_shared, "A's shared subject"),
        (&a_only, "A's own subject"),
    ] {
        let unknown = unknown_id();
        let what = format!("DeleteSubject(id of {what})");
        assert_hidden(
            &what,
            b.delete_subject(pb::delete_subject_request::Lookup::Id(subject.id.clone()))
                .await,
            &subject.id,
            b.delete_subject(pb::delete_subject_request::Lookup::Id(unknown.clone()))
                .await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, &what).await;
    }
    let deleted = b
        .delete_subject(pb::delete_subject_request::Lookup::Key("a-only".into()))
        .await
        .expect("B deletes its own a-only");
    assert_eq!(deleted.id, upserted[1].id);
    assert_unchanged(&a, &before, "B's DeleteSubject by a key A also has").await;

    // B deleting its "acme" by key frees B's identifiers only.
    let deleted = b
        .delete_customer(pb::delete_customer_request::Lookup::Key("acme".into()), "")
        .await
        .expect("B deletes its own acme");
    assert_eq!(deleted.id, acme_b.id);
    assert_unchanged(&a, &before, "B's DeleteCustomer by a key A also has").await;
    assert!(
        a.get_subject(subject_key("shared-subject"))
            .await
            .expect("A's subject")
            .customer_id
            == acme_a.id,
        "A's subject is still attributed to A's customer"
    );

    // And A, symmetrically, sees only its own.
    let mut a_ids = customer_ids(&a.list_customers(pb::ListCustomersRequest::default()).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    a_ids.sort();
    let mut expected = vec![acme_a.id.clone(), other_a.id.clone()];
    expected.sort();
    assert_eq!(a_ids, expected);
    let unknown = unknown_id();
    assert_hidden(
        "A's GetCustomer(B's id)",
        a.get_customer(customer_id(&other_b.id)).await,
        &other_b.id,
        a.get_customer(customer_id(&unknown)).await,
        &unknown,
        &credentials(false),
    );
}

crate::on_both_databases!(with_api_keys(KEYS): customers_and_subjects_are_isolated);
