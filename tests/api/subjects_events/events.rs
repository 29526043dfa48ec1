//! EventService: whole-batch validation, (source, id) dedupe, subjects created on first sight,
//! attribution of each event to the customer that held its subject at the event's time.

use super::*;

async fn ingest_validates_the_whole_batch(app: TestApp) {
    let good = |i: usize| {
        event(
            &format!("ok-{i}"),
            "svc",
            &format!("v-{i}"),
            Some("2024-01-01T00:00:00Z"),
            Some(r#"{"n":1}"#),
        )
    };
    let bad = |f: &dyn Fn(&mut pb::CloudEvent)| {
        let mut e = event(
            "bad",
            "svc",
            "v-bad",
            Some("2024-01-01T00:00:00Z"),
            Some(r#"{"n":1}"#),
        );
        f(&mut e);
        e
    };
    let cases: Vec<(usize, pb::CloudEvent, &str)> = vec![
        (
            1,
            bad(&|e| e.spec_version = "0.3".into()),
            "events[1].spec_version",
        ),
        (
            2,
            bad(&|e| e.spec_version = String::new()),
            "events[2].spec_version",
        ),
        (0, bad(&|e| e.id = String::new()), "events[0].id"),
        (2, bad(&|e| e.source = String::new()), "events[2].source"),
        (1, bad(&|e| e.r#type = String::new()), "events[1].type"),
        (
            2,
            bad(&|e| {
                e.attributes.remove("subject");
            }),
            "events[2].attributes.subject",
        ),
        (
            0,
            bad(&|e| {
                e.attributes.insert("subject".into(), ce_string(""));
            }),
            "events[0].attributes.subject",
        ),
        (
            0,
            bad(&|e| e.data = Some(Data::TextData("{not json".into()))),
            "events[0].text_data",
        ),
        (
            1,
            bad(&|e| {
                // No datacontenttype: JSON as well.
                e.attributes.remove("datacontenttype");
                e.data = Some(Data::TextData("{not json".into()));
            }),
            "events[1].text_data",
        ),
        (
            1,
            bad(&|e| {
                e.attributes.insert("time".into(), ce_string("not-a-time"));
            }),
            "events[1].attributes.time",
        ),
    ];
    for (index, bad_event, field) in cases {
        let mut batch: Vec<_> = (0..3).map(good).collect();
        batch[index] = bad_event;
        let status = ingest(&app, batch).await.expect_err(field);
        assert_eq!(bad_fields(&status), [field]);
        assert_eq!(
            stored_event_count(&app).await,
            "0",
            "nothing stored ({field})"
        );
        assert!(
            all_subjects(&app).await.is_empty(),
            "no subject created ({field})"
        );
    }
    let too_many: Vec<_> = (0..1001)
        .map(|i| event(&format!("m-{i}"), "svc", "many", None, None))
        .collect();
    let status = ingest(&app, too_many).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["events"]);
    assert_eq!(stored_event_count(&app).await, "0");
    for i in 0..3 {
        assert!(
            list_events(&app, of_subject(&format!("v-{i}")))
                .await
                .is_empty()
        );
    }
    assert!(list_events(&app, of_subject("many")).await.is_empty());
    assert!(all_subjects(&app).await.is_empty());

    // The limits themselves are fine, and non-JSON text is fine when it says so.
    let thousand: Vec<_> = (0..1000)
        .map(|i| event(&format!("m-{i}"), "svc", "many", None, Some(r#"{"n":1}"#)))
        .collect();
    assert_eq!(
        ingest_ok(&app, thousand).await,
        (1000, 0, vec!["many".to_owned()])
    );
    let mut plain = event("plain-1", "svc", "many", None, None);
    plain
        .attributes
        .insert("datacontenttype".into(), ce_string("text/plain"));
    plain.data = Some(Data::TextData("{not json, and fine".into()));
    assert_eq!(ingest_ok(&app, vec![plain]).await, (1, 0, vec![]));
    assert_eq!(stored_event_count(&app).await, "1001");
    assert_eq!(keys(&all_subjects(&app).await), ["many"]);
}

async fn ingest_dedupes_and_creates_subjects_once(app: TestApp) {
    let data = r#"{"duration_ms":12,"path":"/hello"}"#;
    let seed = event(
        "00002",
        "service-0",
        "customer-1",
        Some("2023-01-01T00:00:00.001Z"),
        Some(data),
    );
    assert_eq!(
        ingest_ok(&app, vec![seed.clone()]).await,
        (1, 0, vec!["customer-1".to_owned()])
    );
    let subject = subject_by_key(&app, "customer-1")
        .await
        .expect("subject created by ingestion");
    assert_eq!(
        subject.metadata,
        Some(structure(serde_json::json!({"createdBy": "ingest"})))
    );
    assert_eq!(subject.customer_id, "");
    assert_eq!(ingest_ok(&app, vec![seed.clone()]).await, (0, 1, vec![]));

    let second = event(
        "00003",
        "service-0",
        "customer-1",
        Some("2023-01-01T00:00:01Z"),
        Some(data),
    );
    assert_eq!(
        ingest_ok(&app, vec![second.clone(), second.clone()]).await,
        (1, 1, vec![]),
        "the same (source, id) twice in one batch"
    );
    let other_source = event(
        "00002",
        "service-1",
        "customer-1",
        Some("2023-01-02T00:00:00Z"),
        None,
    );
    assert_eq!(
        ingest_ok(&app, vec![other_source.clone()]).await,
        (1, 0, vec![]),
        "dedupe is on (source, id)"
    );
    // A new subject seen twice in one batch is created once; a known one is not reported.
    assert_eq!(
        ingest_ok(
            &app,
            vec![
                event("10", "service-0", "customer-2", None, None),
                event("11", "service-0", "customer-2", None, None),
                event(
                    "12",
                    "service-0",
                    "customer-1",
                    Some("2022-06-01T00:00:00Z"),
                    None
                ),
                event("00002", "service-0", "customer-2", None, None),
            ],
        )
        .await,
        (3, 1, vec!["customer-2".to_owned()])
    );
    let early = event(
        "12",
        "service-0",
        "customer-1",
        Some("2022-06-01T00:00:00Z"),
        None,
    );

    let before = SystemTime::now() - Duration::from_secs(60);
    let untimed = event("00004", "service-0", "customer-1", None, Some("[1,2,3]"));
    assert_eq!(ingest_ok(&app, vec![untimed.clone()]).await, (1, 0, vec![]));
    let after = SystemTime::now() + Duration::from_secs(60);

    let listed = list_events(&app, of_subject("customer-1")).await;
    assert_eq!(
        event_ids(&listed),
        [
            pair("service-0", "12"),
            pair("service-0", "00002"),
            pair("service-0", "00003"),
            pair("service-1", "00002"),
            pair("service-0", "00004"),
        ],
        "time order"
    );
    for (got, sent) in listed.iter().zip([&early, &seed, &second, &other_source]) {
        assert_eq!(got.event.as_ref(), Some(sent), "stored as ingested");
    }
    assert_eq!(
        time_of(listed[1].event.as_ref().expect("event")),
        ts("2023-01-01T00:00:00.001Z")
    );
    assert_eq!(
        listed[1].event.as_ref().expect("event").data,
        Some(Data::TextData(data.to_owned()))
    );
    // Without a time: the receipt time.
    let got = listed[4].event.clone().expect("event");
    let time = SystemTime::try_from(time_of(&got)).expect("valid time");
    assert!(
        before < time && time < after,
        "receipt time near now: {time:?}"
    );
    let mut without_time = got.clone();
    without_time.attributes.remove("time");
    assert_eq!(without_time, untimed);
    for e in &listed {
        assert_eq!(e.customer_id, "");
        assert!(e.ingested_at.is_some());
    }

    // Both got the receipt time of one call: their relative order is not specified.
    let listed = list_events(&app, of_subject("customer-2")).await;
    assert_eq!(listed.len(), 2);
    let mut ids: Vec<_> = event_ids(&listed);
    ids.sort();
    assert_eq!(ids, [pair("service-0", "10"), pair("service-0", "11")]);
    assert_eq!(stored_event_count(&app).await, "7");
    assert_eq!(
        keys(&all_subjects(&app).await),
        ["customer-1", "customer-2"]
    );
}

async fn concurrent_ingestion_of_a_new_subject_creates_it_once(app: TestApp) {
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let key = format!("race-{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for client_no in 0..2 {
            let mut client = EventServiceClient::new(app.channel().await);
            let barrier = barrier.clone();
            let e = event(
                &format!("r{round}-c{client_no}"),
                "racer",
                &key,
                None,
                Some(r#"{"n":1}"#),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                client
                    .ingest_events(pb::IngestEventsRequest { events: vec![e] })
                    .await
            }));
        }
        let mut created = Vec::new();
        for task in tasks {
            let response = task
                .await
                .expect("task")
                .unwrap_or_else(|s| panic!("round {round}: every call succeeds: {s:?}"))
                .into_inner();
            assert_eq!(
                (response.accepted, response.duplicates),
                (1, 0),
                "round {round}"
            );
            created.extend(response.created_subject_keys);
        }
        assert_eq!(
            created,
            std::slice::from_ref(&key),
            "round {round}: reported once"
        );
        assert_eq!(
            list_events(&app, of_subject(&key)).await.len(),
            2,
            "round {round}"
        );
    }
    let rows = app
        .query("SELECT key, COUNT(*) FROM subjects GROUP BY key HAVING COUNT(*) > 1")
        .await;
    assert!(rows.is_empty(), "one subject per key: {rows:?}");
    let rows = app.query("SELECT COUNT(*) FROM subjects").await;
    assert_eq!(rows[0][0].as_deref(), Some("8"));
    assert_eq!(stored_event_count(&app).await, "16");
    let expected: Vec<String> = (0..ROUNDS).map(|r| format!("race-{r}")).collect();
    assert_eq!(keys(&all_subjects(&app).await), expected);
}

/// Batches that arrive together (on SQLite they share the writer's commit with whatever else
/// is queued) each get the answer a commit of their own would have given, even when a create
/// refused by a taken key arrives with them and the shared commit is redone job by job.
async fn concurrent_batches_with_a_refused_create_get_exact_answers(app: TestApp) {
    const ROUNDS: usize = 4;
    const BATCHES: usize = 4;
    app.create(customer("Holder", "taken")).await;
    for round in 0..ROUNDS {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(BATCHES + 1));
        let mut batches = Vec::new();
        for b in 0..BATCHES {
            let mut client = EventServiceClient::new(app.channel().await);
            let barrier = barrier.clone();
            // b + 1 events of its own, and one every batch of the round sends (stored by
            // whichever commits first, a duplicate for the others).
            let mut events: Vec<pb::CloudEvent> = (0..=b)
                .map(|i| {
                    event(
                        &format!("r{round}-b{b}-e{i}"),
                        "together",
                        "shared",
                        None,
                        None,
                    )
                })
                .collect();
            events.push(event(
                &format!("r{round}-all"),
                "together",
                "shared",
                None,
                None,
            ));
            batches.push(tokio::spawn(async move {
                barrier.wait().await;
                client
                    .ingest_events(pb::IngestEventsRequest { events })
                    .await
                    .map(tonic::Response::into_inner)
            }));
        }
        barrier.wait().await;
        let status = app
            .try_create(customer("Latecomer", "taken"))
            .await
            .expect_err("the key is taken");
        assert_eq!(
            status.code(),
            Code::AlreadyExists,
            "round {round}: {status:?}"
        );
        let mut stored_the_shared_one = 0;
        for (b, batch) in batches.into_iter().enumerate() {
            let answer = batch
                .await
                .expect("task")
                .unwrap_or_else(|s| panic!("round {round}, batch {b}: {s:?}"));
            let own = i32::try_from(b).expect("small") + 1;
            match (answer.accepted - own, answer.duplicates) {
                (1, 0) => stored_the_shared_one += 1,
                (0, 1) => {}
                _ => panic!("round {round}, batch {b} of {own} own events: {answer:?}"),
            }
        }
        assert_eq!(stored_the_shared_one, 1, "round {round}");
    }
    // Per round 1 + 2 + 3 + 4 events of the batches' own, and the shared one once.
    assert_eq!(stored_event_count(&app).await, (ROUNDS * 11).to_string());
    assert_eq!(
        app.query("SELECT COUNT(*) FROM subjects WHERE key = 'shared'")
            .await[0][0]
            .as_deref(),
        Some("1")
    );
}

async fn events_stay_with_the_customer_of_their_time(app: TestApp) {
    let set_subject_keys = |id: String, subject_keys: &[&str]| pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            id,
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: subject_keys.iter().map(|k| (*k).to_owned()).collect(),
            }),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["usage_attribution.subject_keys".into()],
        }),
    };
    let b = app
        .create(customer_with_subjects("B", "cust-b", &["b"]))
        .await;
    let a = app
        .create(customer_with_subjects("A", "cust-a", &["meter-1"]))
        .await;
    // Long before anybody held the key (the Subject exists already: the customer made it).
    let e0 = event_at("e0", "meter", "meter-1", &ts("2023-06-01T00:00:00Z"));
    assert_eq!(ingest_ok(&app, vec![e0]).await, (1, 0, vec![]));

    app.clock().advance(Duration::from_millis(50));
    let t1 = now_ms(&app);
    assert_eq!(
        ingest_ok(&app, vec![event_at("e1", "meter", "meter-1", &t1)]).await,
        (1, 0, vec![])
    );
    // A gives meter-1 up (keeping its key "cust-a") after e1: `t1` is the clock truncated to the
    // millisecond, so without this step the release could fall on `t1` itself.
    app.clock().advance(Duration::from_millis(10));
    app.customers
        .clone()
        .update_customer(set_subject_keys(a.id.clone(), &[]))
        .await
        .expect("A drops meter-1");
    app.clock().advance(Duration::from_millis(50));
    let t_gap = now_ms(&app);
    assert_eq!(
        ingest_ok(&app, vec![event_at("e-gap", "meter", "meter-1", &t_gap)]).await,
        (1, 0, vec![])
    );
    app.clock().advance(Duration::from_millis(50));
    app.customers
        .clone()
        .update_customer(set_subject_keys(b.id.clone(), &["b", "meter-1"]))
        .await
        .expect("B takes meter-1");
    app.clock().advance(Duration::from_millis(50));
    let t2 = now_ms(&app);
    assert_eq!(
        ingest_ok(&app, vec![event_at("e2", "meter", "meter-1", &t2)]).await,
        (1, 0, vec![])
    );
    app.clock().advance(Duration::from_millis(20));
    let t3 = now_ms(&app);
    assert_eq!(
        ingest_ok(&app, vec![event_at("e-b", "meter", "b", &t3)]).await,
        (1, 0, vec![])
    );

    let attributed = |events: &[pb::IngestedEvent]| {
        events
            .iter()
            .map(|e| {
                (
                    e.event.as_ref().expect("event").id.clone(),
                    e.customer_id.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let owned = |id: &str, customer: &str| (id.to_owned(), customer.to_owned());
    let meter_history = vec![
        owned("e0", ""),
        owned("e1", &a.id),
        owned("e-gap", ""),
        owned("e2", &b.id),
    ];
    let meter = list_events(&app, of_subject("meter-1")).await;
    assert_eq!(attributed(&meter), meter_history);
    assert_eq!(time_of(meter[1].event.as_ref().expect("event")), t1);
    assert_eq!(time_of(meter[3].event.as_ref().expect("event")), t2);
    assert_eq!(
        attributed(&list_events(&app, of_customer(&a.id)).await),
        [owned("e1", &a.id)]
    );
    assert_eq!(
        attributed(&list_events(&app, of_customer(&b.id)).await),
        [owned("e2", &b.id), owned("e-b", &b.id)]
    );

    // from is inclusive, to exclusive.
    let window = list_events(
        &app,
        pb::ListEventsRequest {
            from: Some(t1),
            to: Some(t2),
            ..of_subject("meter-1")
        },
    )
    .await;
    assert_eq!(
        attributed(&window),
        [owned("e1", &a.id), owned("e-gap", "")]
    );
    let window = list_events(
        &app,
        pb::ListEventsRequest {
            from: Some(t_gap),
            ..of_customer(&b.id)
        },
    )
    .await;
    assert_eq!(
        attributed(&window),
        [owned("e2", &b.id), owned("e-b", &b.id)]
    );
    let window = list_events(
        &app,
        pb::ListEventsRequest {
            to: Some(t3),
            ..of_customer(&b.id)
        },
    )
    .await;
    assert_eq!(attributed(&window), [owned("e2", &b.id)]);

    // Pages of one walk every event once, in order.
    let (paged, pages) = list_event_pages(
        &app,
        pb::ListEventsRequest {
            page_size: 1,
            ..of_subject("meter-1")
        },
    )
    .await;
    assert_eq!((attributed(&paged), pages), (meter_history.clone(), 4));

    // Deleting the subject keeps its events and their attribution.
    delete_subject(
        &app,
        pb::delete_subject_request::Lookup::Key("meter-1".into()),
    )
    .await
    .expect("delete subject");
    assert_eq!(
        attributed(&list_events(&app, of_subject("meter-1")).await),
        meter_history
    );
    assert_eq!(
        attributed(&list_events(&app, of_customer(&a.id)).await),
        [owned("e1", &a.id)]
    );
}

/// Every kind of data (and none, and empty text) reads back as it was ingested, in one batch.
async fn event_data_of_every_kind_reads_back(app: TestApp) {
    let with = |id: &str, content_type: Option<&str>, data: Option<Data>| {
        let mut e = event(
            id,
            "kinds",
            "data-kinds",
            Some("2024-05-01T00:00:00Z"),
            None,
        );
        if let Some(content_type) = content_type {
            e.attributes
                .insert("datacontenttype".into(), ce_string(content_type));
        }
        e.data = data;
        e
    };
    let sent = vec![
        with("1", None, None),
        with("2", Some("text/plain"), Some(Data::TextData(String::new()))),
        with(
            "3",
            Some("application/octet-stream"),
            Some(Data::BinaryData(vec![0, 1, 2, 255, 0])),
        ),
        with(
            "4",
            Some("application/octet-stream"),
            Some(Data::BinaryData(Vec::new())),
        ),
        with(
            "5",
            Some("application/protobuf"),
            Some(Data::ProtoData(prost_types::Any {
                type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
                value: vec![10, 2, b'h', b'i'],
            })),
        ),
        with(
            "6",
            None,
            Some(Data::TextData(r#"{"n":"\u0000 \"q\" é"}"#.into())),
        ),
    ];
    assert_eq!(
        ingest_ok(&app, sent.clone()).await,
        (6, 0, vec!["data-kinds".to_owned()])
    );
    let mut listed: Vec<pb::CloudEvent> = list_events(&app, of_subject("data-kinds"))
        .await
        .into_iter()
        .map(|e| e.event.expect("event"))
        .collect();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, sent);
}

crate::on_both_databases!(
    event_data_of_every_kind_reads_back,
    ingest_validates_the_whole_batch,
    ingest_dedupes_and_creates_subjects_once,
    concurrent_ingestion_of_a_new_subject_creates_it_once,
    concurrent_batches_with_a_refused_create_get_exact_answers,
);

crate::on_both_databases!(with_manual_clock: events_stay_with_the_customer_of_their_time);
