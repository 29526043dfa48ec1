//! SubjectService (atomic upserts with field presence, lookups, keyset lists, soft delete) and
//! EventService (whole-batch validation, (source, id) dedupe, subjects created on first sight,
//! attribution of each event to the customer that held its subject at the event's time): the
//! scenarios are in subjects.rs and events.rs, the calls and builders they share here.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use patron::domain::clock::Clock;
use patron::grpc::pb;
use patron::grpc::pb::cloud_event::cloud_event_attribute_value::Attr;
use patron::grpc::pb::cloud_event::{CloudEventAttributeValue, Data};
use patron::grpc::pb::event_service_client::EventServiceClient;
use prost_types::value::Kind;
use prost_types::{FieldMask, ListValue, Struct, Timestamp, Value};
use tonic::{Code, Status};

mod events;
mod subjects;

use crate::helpers::{TestApp, assert_error, bad_fields, customer, customer_with_subjects};

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

/// The server's (manual) clock now, truncated to whole milliseconds (storage need not keep
/// nanoseconds).
fn now_ms(app: &TestApp) -> Timestamp {
    let micros = app.clock().now().micros();
    let millis = micros.div_euclid(1000);
    Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).expect("under a second"),
    }
}

fn ts(rfc3339: &str) -> Timestamp {
    rfc3339.parse().expect("RFC 3339 timestamp")
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
