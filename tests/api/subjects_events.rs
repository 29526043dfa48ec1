//! SubjectService (atomic upserts with field presence, lookups, keyset lists, soft delete) and
//! EventService (whole-batch validation, (source, id) dedupe, subjects created on first sight,
//! attribution of each event to the customer that held its subject at the event's time).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use patron::grpc::pb;
use patron::grpc::pb::cloud_event::cloud_event_attribute_value::Attr;
use patron::grpc::pb::cloud_event::{CloudEventAttributeValue, Data};
use patron::grpc::pb::event_service_client::EventServiceClient;
use prost_types::value::Kind;
use prost_types::{FieldMask, ListValue, Struct, Timestamp, Value};
use tonic::{Code, Status};

use crate::helpers::{TestApp, assert_error, bad_fields, customer_with_subjects};
use crate::on_both_databases;

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/// A protobuf Value from a JSON value.
fn value(json: serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().expect("f64")),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(value).collect(),
        }),
        object @ serde_json::Value::Object(_) => Kind::StructValue(structure(object)),
    };
    Value { kind: Some(kind) }
}

/// A protobuf Struct from a JSON object.
fn structure(json: serde_json::Value) -> Struct {
    let serde_json::Value::Object(map) = json else {
        panic!("a JSON object, not {json}");
    };
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, value(v))).collect(),
    }
}

/// Whether returned metadata is absent or has no fields (both mean "cleared").
fn no_metadata(metadata: Option<&Struct>) -> bool {
    metadata.is_none_or(|m| m.fields.is_empty())
}

fn stamp(t: Option<&Timestamp>) -> (i64, i32) {
    let t = t.expect("timestamp set");
    (t.seconds, t.nanos)
}

/// Now, truncated to whole milliseconds (storage need not keep nanoseconds).
fn now_ms() -> Timestamp {
    let mut t = Timestamp::from(SystemTime::now());
    t.nanos -= t.nanos % 1_000_000;
    t
}

fn ts(rfc3339: &str) -> Timestamp {
    rfc3339.parse().expect("RFC 3339 timestamp")
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

// --- subjects ---

fn item(key: &str) -> pb::SubjectUpsert {
    pb::SubjectUpsert {
        key: key.to_owned(),
        ..Default::default()
    }
}

fn named(key: &str, display_name: &str) -> pb::SubjectUpsert {
    pb::SubjectUpsert {
        display_name: Some(display_name.to_owned()),
        ..item(key)
    }
}

async fn upsert(
    app: &TestApp,
    subjects: Vec<pb::SubjectUpsert>,
) -> Result<Vec<pb::Subject>, Status> {
    app.subjects
        .clone()
        .upsert_subjects(pb::UpsertSubjectsRequest { subjects })
        .await
        .map(|r| r.into_inner().subjects)
}

async fn get_subject(
    app: &TestApp,
    lookup: pb::get_subject_request::Lookup,
) -> Result<pb::Subject, Status> {
    app.subjects
        .clone()
        .get_subject(pb::GetSubjectRequest {
            lookup: Some(lookup),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn subject_by_key(app: &TestApp, key: &str) -> Result<pb::Subject, Status> {
    get_subject(app, pb::get_subject_request::Lookup::Key(key.to_owned())).await
}

async fn subject_by_id(app: &TestApp, id: &str) -> Result<pb::Subject, Status> {
    get_subject(app, pb::get_subject_request::Lookup::Id(id.to_owned())).await
}

async fn delete_subject(
    app: &TestApp,
    lookup: pb::delete_subject_request::Lookup,
) -> Result<pb::Subject, Status> {
    app.subjects
        .clone()
        .delete_subject(pb::DeleteSubjectRequest {
            lookup: Some(lookup),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every subject of a list query, following next_page_token; returns the subjects and the number
/// of pages.
async fn list_subject_pages(
    app: &TestApp,
    mut request: pb::ListSubjectsRequest,
) -> (Vec<pb::Subject>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = app
            .subjects
            .clone()
            .list_subjects(request.clone())
            .await
            .expect("list subjects")
            .into_inner();
        pages += 1;
        if request.page_size > 0 {
            assert!(
                page.subjects.len() <= usize::try_from(request.page_size).expect("size"),
                "a page holds at most page_size subjects"
            );
        }
        all.extend(page.subjects);
        if page.next_page_token.is_empty() {
            return (all, pages);
        }
        assert!(pages < 10_000, "endless pagination");
        request.page_token = page.next_page_token;
    }
}

async fn list_subjects(app: &TestApp, request: pb::ListSubjectsRequest) -> Vec<pb::Subject> {
    list_subject_pages(app, request).await.0
}

/// Every subject, deleted ones too.
async fn all_subjects(app: &TestApp) -> Vec<pb::Subject> {
    list_subjects(
        app,
        pb::ListSubjectsRequest {
            page_size: 1000,
            show_deleted: true,
            ..Default::default()
        },
    )
    .await
}

fn keys(subjects: &[pb::Subject]) -> Vec<&str> {
    subjects.iter().map(|s| s.key.as_str()).collect()
}

// --- events ---

fn ce_string(s: &str) -> CloudEventAttributeValue {
    CloudEventAttributeValue {
        attr: Some(Attr::CeString(s.to_owned())),
    }
}

fn ce_timestamp(t: Timestamp) -> CloudEventAttributeValue {
    CloudEventAttributeValue {
        attr: Some(Attr::CeTimestamp(t)),
    }
}

/// A valid usage event of type "api-calls": `subject` attribute, `time` (if given, RFC 3339) as
/// ce_timestamp, JSON text data (if given) with datacontenttype application/json.
fn event(
    id: &str,
    source: &str,
    subject: &str,
    time: Option<&str>,
    json: Option<&str>,
) -> pb::CloudEvent {
    let mut attributes = HashMap::new();
    attributes.insert("subject".to_owned(), ce_string(subject));
    if let Some(time) = time {
        attributes.insert("time".to_owned(), ce_timestamp(ts(time)));
    }
    if json.is_some() {
        attributes.insert("datacontenttype".to_owned(), ce_string("application/json"));
    }
    pb::CloudEvent {
        id: id.to_owned(),
        source: source.to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: "api-calls".to_owned(),
        attributes,
        data: json.map(|j| Data::TextData(j.to_owned())),
    }
}

/// An event at a given time.
fn event_at(id: &str, source: &str, subject: &str, time: &Timestamp) -> pb::CloudEvent {
    event(
        id,
        source,
        subject,
        Some(&time.to_string()),
        Some(r#"{"calls":1}"#),
    )
}

/// The `time` attribute of a returned event (a ce_timestamp).
fn time_of(event: &pb::CloudEvent) -> Timestamp {
    match event
        .attributes
        .get("time")
        .and_then(|v| v.attr.clone())
        .unwrap_or_else(|| panic!("no time attribute in {event:?}"))
    {
        Attr::CeTimestamp(t) => t,
        other => panic!("time is not a ce_timestamp: {other:?}"),
    }
}

async fn ingest(
    app: &TestApp,
    events: Vec<pb::CloudEvent>,
) -> Result<pb::IngestEventsResponse, Status> {
    app.events
        .clone()
        .ingest_events(pb::IngestEventsRequest { events })
        .await
        .map(tonic::Response::into_inner)
}

/// (accepted, duplicates, created_subject_keys) of a successful ingestion.
async fn ingest_ok(app: &TestApp, events: Vec<pb::CloudEvent>) -> (i32, i32, Vec<String>) {
    let r = ingest(app, events).await.expect("ingest events");
    (r.accepted, r.duplicates, r.created_subject_keys)
}

fn of_subject(key: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::SubjectKey(key.to_owned())),
        ..Default::default()
    }
}

fn of_customer(id: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::CustomerId(id.to_owned())),
        ..Default::default()
    }
}

/// Every event of a list query, following next_page_token; returns the events and the number of
/// pages.
async fn list_event_pages(
    app: &TestApp,
    mut request: pb::ListEventsRequest,
) -> (Vec<pb::IngestedEvent>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = app
            .events
            .clone()
            .list_events(request.clone())
            .await
            .expect("list events")
            .into_inner();
        pages += 1;
        if request.page_size > 0 {
            assert!(
                page.events.len() <= usize::try_from(request.page_size).expect("size"),
                "a page holds at most page_size events"
            );
        }
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            return (all, pages);
        }
        assert!(pages < 10_000, "endless pagination");
        request.page_token = page.next_page_token;
    }
}

async fn list_events(app: &TestApp, request: pb::ListEventsRequest) -> Vec<pb::IngestedEvent> {
    list_event_pages(app, request).await.0
}

/// (source, id) of each event.
fn event_ids(events: &[pb::IngestedEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let e = e.event.as_ref().expect("event");
            (e.source.clone(), e.id.clone())
        })
        .collect()
}

fn pair(source: &str, id: &str) -> (String, String) {
    (source.to_owned(), id.to_owned())
}

async fn stored_event_count(app: &TestApp) -> String {
    app.query("SELECT COUNT(*) FROM events").await[0][0]
        .clone()
        .expect("count")
}

// ---------------------------------------------------------------------------------------------
// SubjectService
// ---------------------------------------------------------------------------------------------

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
    tokio::time::sleep(Duration::from_millis(20)).await;
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
    tokio::time::sleep(Duration::from_millis(20)).await;
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

// ---------------------------------------------------------------------------------------------
// EventService
// ---------------------------------------------------------------------------------------------

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

    pause().await;
    let t1 = now_ms();
    assert_eq!(
        ingest_ok(&app, vec![event_at("e1", "meter", "meter-1", &t1)]).await,
        (1, 0, vec![])
    );
    // A gives meter-1 up (keeping its key "cust-a"); for a while nobody holds it.
    app.customers
        .clone()
        .update_customer(set_subject_keys(a.id.clone(), &[]))
        .await
        .expect("A drops meter-1");
    pause().await;
    let t_gap = now_ms();
    assert_eq!(
        ingest_ok(&app, vec![event_at("e-gap", "meter", "meter-1", &t_gap)]).await,
        (1, 0, vec![])
    );
    pause().await;
    app.customers
        .clone()
        .update_customer(set_subject_keys(b.id.clone(), &["b", "meter-1"]))
        .await
        .expect("B takes meter-1");
    pause().await;
    let t2 = now_ms();
    assert_eq!(
        ingest_ok(&app, vec![event_at("e2", "meter", "meter-1", &t2)]).await,
        (1, 0, vec![])
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t3 = now_ms();
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

on_both_databases!(
    event_data_of_every_kind_reads_back,
    upsert_creates_then_updates_present_fields_only,
    upsert_is_atomic_and_validates_every_item,
    get_list_and_delete_subjects,
    customers_provision_subjects_and_subject_customer_id,
    ingest_validates_the_whole_batch,
    ingest_dedupes_and_creates_subjects_once,
    concurrent_ingestion_of_a_new_subject_creates_it_once,
    events_stay_with_the_customer_of_their_time,
);
