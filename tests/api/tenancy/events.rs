//! Tenancy: events.

use super::*;

#[allow(clippy::too_many_lines)]
async fn events_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let forbidden = forbidden_for_b(&["Acme of A"]);
    let acme_a = a
        .create(
            customer_with_subjects("Acme of A", "acme", &["metered"]),
            "",
        )
        .await
        .expect("A's customer");
    let acme_b = b
        .create(
            customer_with_subjects("Acme of B", "acme", &["metered"]),
            "",
        )
        .await
        .expect("B's customer with the same key and subject key");

    // The same (source, id) in both namespaces, on a subject neither has seen: both stored, each
    // namespace creates its own subject.
    let source = "//billing.example/gateway";
    let r = a
        .ingest(vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":1}"#,
        )])
        .await
        .expect("A ingests");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (1, 0, vec!["fresh-subject".to_owned()])
    );
    let before = Snapshot::of(&a).await;
    let r = b
        .ingest(vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":2}"#,
        )])
        .await
        .expect("B ingests the same (source, id)");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (1, 0, vec!["fresh-subject".to_owned()]),
        "dedupe and subject creation are per namespace"
    );
    assert_unchanged(&a, &before, "B's IngestEvents with A's (source, id)").await;
    let r = b
        .ingest(vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":2}"#,
        )])
        .await
        .expect("B's replay");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (0, 1, vec![]),
        "a replay in B is B's duplicate"
    );
    let a_fresh = a
        .get_subject(subject_key("fresh-subject"))
        .await
        .expect("A's subject");
    let b_fresh = b
        .get_subject(subject_key("fresh-subject"))
        .await
        .expect("B's subject");
    assert_ne!(a_fresh.id, b_fresh.id);

    // The same again on the subject that each namespace's "acme" holds.
    let r = a
        .ingest(vec![usage_event(
            "evt-2",
            source,
            "metered",
            r#"{"calls":10}"#,
        )])
        .await
        .expect("A ingests on its customer's subject");
    assert_eq!((r.accepted, r.duplicates), (1, 0));
    let before = Snapshot::of(&a).await;
    let r = b
        .ingest(vec![usage_event(
            "evt-2",
            source,
            "metered",
            r#"{"calls":20}"#,
        )])
        .await
        .expect("B ingests on its customer's subject");
    assert_eq!((r.accepted, r.duplicates), (1, 0));
    assert_unchanged(
        &a,
        &before,
        "B's IngestEvents on a subject key A's customer holds",
    )
    .await;

    // Each namespace lists only its own events, attributed to its own customer.
    for (t, fresh, metered, customer, who) in [(&a, 1, 10, &acme_a, "A"), (&b, 2, 20, &acme_b, "B")]
    {
        let listed = t
            .list_events(of_subject("fresh-subject"))
            .await
            .expect("list by subject");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": fresh}),
            "{who}"
        );
        assert_eq!(
            listed[0].customer_id, "",
            "{who}: nobody holds fresh-subject"
        );
        let listed = t
            .list_events(of_subject("metered"))
            .await
            .expect("list by subject");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": metered}),
            "{who}"
        );
        assert_eq!(
            listed[0].customer_id, customer.id,
            "{who}: attributed to its own customer"
        );
        let listed = t
            .list_events(of_customer(&customer.id))
            .await
            .expect("list by customer");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": metered}),
            "{who}"
        );
    }
    assert_empty_or_not_found(
        "B's ListEvents(customer_id of A's customer)",
        b.list_events(of_customer(&acme_a.id)).await,
        &forbidden,
    );
    assert_empty_or_not_found(
        "A's ListEvents(customer_id of B's customer)",
        a.list_events(of_customer(&acme_b.id)).await,
        &credentials(false),
    );
    let b_only = b
        .ingest(vec![usage_event(
            "evt-3",
            source,
            "b-only",
            r#"{"calls":3}"#,
        )])
        .await
        .expect("B ingests on a subject only B has");
    assert_eq!(b_only.created_subject_keys, ["b-only"]);
    assert_empty_or_not_found(
        "A's ListEvents(subject only B has)",
        a.list_events(of_subject("b-only")).await,
        &credentials(false),
    );
    assert_unchanged(&a, &before, "B's reads and writes of events").await;
}

crate::on_both_databases!(with_api_keys(KEYS): events_are_isolated);
