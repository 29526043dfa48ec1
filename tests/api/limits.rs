//! Sizes and characters at the edge: CloudEvents bounded per attribute and per event, list pages
//! that fit a default gRPC client (4 MiB) however large their items, and NUL (which PostgreSQL
//! refuses) as INVALID_ARGUMENT in every string field and filter, on both databases.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use patron::grpc::pb;
use patron::grpc::pb::cloud_event::cloud_event_attribute_value::Attr;
use patron::grpc::pb::cloud_event::{CloudEventAttributeValue, Data};
use prost::Message;
use prost_types::FieldMask;
use tonic::Status;

use crate::helpers::{TestApp, bad_fields, customer};
use crate::on_both_databases;

/// What a default gRPC client (grpcurl, tonic, grpc-go) accepts in one message.
const DEFAULT_CLIENT_LIMIT: usize = 4 * 1024 * 1024;

fn ce_string(s: &str) -> CloudEventAttributeValue {
    CloudEventAttributeValue {
        attr: Some(Attr::CeString(s.to_owned())),
    }
}

/// A valid event of `subject` at second `second` of 2024, with `data` as text/plain.
fn event(id: &str, subject: &str, second: i64, data: &str) -> pb::CloudEvent {
    let mut attributes = HashMap::new();
    attributes.insert("subject".to_owned(), ce_string(subject));
    attributes.insert("datacontenttype".to_owned(), ce_string("text/plain"));
    attributes.insert(
        "time".to_owned(),
        CloudEventAttributeValue {
            attr: Some(Attr::CeTimestamp(prost_types::Timestamp {
                seconds: 1_704_067_200 + second,
                nanos: 0,
            })),
        },
    );
    pb::CloudEvent {
        id: id.to_owned(),
        source: "limits".to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: "api-calls".to_owned(),
        attributes,
        data: Some(Data::TextData(data.to_owned())),
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

fn of_subject(key: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::SubjectKey(key.to_owned())),
        ..Default::default()
    }
}

async fn stored_event_count(app: &TestApp) -> String {
    let rows = app.query("SELECT COUNT(*) FROM events").await;
    rows[0][0].clone().expect("count")
}

async fn subject_count(app: &TestApp) -> usize {
    app.subjects
        .clone()
        .list_subjects(pb::ListSubjectsRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list subjects")
        .into_inner()
        .subjects
        .len()
}

/// A 4 MiB extension attribute (or any over 4 KiB) is INVALID_ARGUMENT naming it; nothing is
/// stored.
async fn a_4_mib_extension_attribute_is_invalid(app: TestApp) {
    let mut big = event("e-1", "meter-1", 0, "fine");
    big.attributes
        .insert("foo".to_owned(), ce_string(&"x".repeat(4 * 1024 * 1024)));
    let batch = vec![event("e-0", "meter-1", 0, "fine"), big];
    let status = ingest(&app, batch).await.expect_err("too large");
    assert_eq!(bad_fields(&status), ["events[1].attributes.foo"]);

    let mut bad_name = event("e-2", "meter-1", 0, "fine");
    bad_name
        .attributes
        .insert("Not_A_Name".to_owned(), ce_string("v"));
    let status = ingest(&app, vec![bad_name]).await.expect_err("bad name");
    assert_eq!(
        bad_fields(&status),
        [r#"events[0].attributes["Not_A_Name"]"#]
    );

    let mut many = event("e-3", "meter-1", 0, "fine");
    for i in 0..40 {
        many.attributes.insert(format!("x{i}"), ce_string("v"));
    }
    let status = ingest(&app, vec![many]).await.expect_err("too many");
    assert_eq!(bad_fields(&status), ["events[0].attributes"]);

    assert_eq!(stored_event_count(&app).await, "0");
    assert_eq!(subject_count(&app).await, 0);
}

/// Twelve events of 900 KiB (11 MB in all) are listed in pages that each fit a default client:
/// page_size is a maximum, and paging returns every event exactly once, in order.
async fn large_events_are_listed_in_pages_that_fit_a_default_client(app: TestApp) {
    let body = "d".repeat(900 * 1024);
    let sent: Vec<pb::CloudEvent> = (0..12)
        .map(|i| event(&format!("big-{i:02}"), "meter-big", i, &body))
        .collect();
    let ingested = ingest(&app, sent).await.expect("ingest");
    assert_eq!(ingested.accepted, 12);

    // The test clients keep tonic's default 4 MiB decoding limit: a larger page would fail here
    // with RESOURCE_EXHAUSTED.
    let mut request = pb::ListEventsRequest {
        page_size: 100,
        ..of_subject("meter-big")
    };
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 12, "paging must end");
        let page = app
            .events
            .clone()
            .list_events(request.clone())
            .await
            .expect("each page fits a default client")
            .into_inner();
        assert!(page.encoded_len() < DEFAULT_CLIENT_LIMIT);
        assert!(
            !page.events.is_empty(),
            "every page holds at least one event"
        );
        for e in &page.events {
            let e = e.event.as_ref().expect("event");
            assert_eq!(e.data, Some(Data::TextData(body.clone())));
            ids.push(e.id.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let expected: Vec<String> = (0..12).map(|i| format!("big-{i:02}")).collect();
    assert_eq!(ids, expected, "every event exactly once, in time order");
    assert!(
        pages >= 4,
        "12 x 900 KiB needs at least 4 pages (got {pages})"
    );

    // A page size smaller than what fits is still honoured.
    let page = app
        .events
        .clone()
        .list_events(pb::ListEventsRequest {
            page_size: 2,
            ..of_subject("meter-big")
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.events.len(), 2);
    assert!(!page.next_page_token.is_empty());
}

/// Customers at their size limits are listed in pages under 4 MiB too.
async fn large_customers_are_listed_in_pages_that_fit_a_default_client(app: TestApp) {
    // 50 metadata values of 512 four-byte characters: about 100 KiB per customer.
    let metadata: HashMap<String, String> = (0..50)
        .map(|i| (format!("k{i:02}"), "𝄞".repeat(512)))
        .collect();
    for i in 0..45 {
        app.create(pb::Customer {
            metadata: metadata.clone(),
            ..customer(&format!("Big {i:02}"), &format!("big-{i:02}"))
        })
        .await;
    }
    let mut request = pb::ListCustomersRequest {
        page_size: 1000,
        ..Default::default()
    };
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 45, "paging must end");
        let page = app
            .customers
            .clone()
            .list_customers(request.clone())
            .await
            .expect("each page fits a default client")
            .into_inner();
        assert!(page.encoded_len() < DEFAULT_CLIENT_LIMIT);
        names.extend(page.customers.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let expected: Vec<String> = (0..45).map(|i| format!("Big {i:02}")).collect();
    assert_eq!(names, expected);
    assert!(pages >= 2, "45 x 100 KiB needs more than one page");
}

/// NUL in customer fields and filters is INVALID_ARGUMENT naming the field; nothing is stored or
/// changed.
async fn nul_in_customer_fields_and_filters_is_invalid(app: TestApp) {
    let status = app
        .try_create(customer("Ac\0me", "acme"))
        .await
        .expect_err("NUL in a name");
    assert_eq!(bad_fields(&status), ["customer.name"]);
    let status = app
        .try_create(pb::Customer {
            description: "a\0".into(),
            metadata: HashMap::from([("k".to_owned(), "v\0".to_owned())]),
            billing_address: Some(pb::Address {
                city: "\0".into(),
                ..Default::default()
            }),
            ..customer("Acme", "ac\0me")
        })
        .await
        .expect_err("NUL everywhere");
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "customer.billing_address.city",
            "customer.description",
            "customer.key",
            r#"customer.metadata["k"]"#,
        ]
    );
    assert!(app.list_all(Default::default()).await.is_empty());

    let acme = app.create(customer("Acme", "acme")).await;
    let status = app
        .customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: acme.id.clone(),
                name: "Ac\0me".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect_err("NUL in a new name");
    assert_eq!(bad_fields(&status), ["customer.name"]);
    assert_eq!(app.list_all(Default::default()).await, [acme]);

    let long = "n".repeat(100_000);
    let filters: [(&str, pb::ListCustomersRequest); 6] = [
        (
            "name",
            pb::ListCustomersRequest {
                name: "Ac\0".into(),
                ..Default::default()
            },
        ),
        (
            "key",
            pb::ListCustomersRequest {
                key: "\0".into(),
                ..Default::default()
            },
        ),
        (
            "primary_email",
            pb::ListCustomersRequest {
                primary_email: "a\0@b.co".into(),
                ..Default::default()
            },
        ),
        (
            "subject_key",
            pb::ListCustomersRequest {
                subject_key: "s\0".into(),
                ..Default::default()
            },
        ),
        (
            "name",
            pb::ListCustomersRequest {
                name: long.clone(),
                ..Default::default()
            },
        ),
        (
            "key",
            pb::ListCustomersRequest {
                key: long.clone(),
                ..Default::default()
            },
        ),
    ];
    for (field, request) in filters {
        let status = app
            .customers
            .clone()
            .list_customers(request)
            .await
            .expect_err(field);
        assert_eq!(bad_fields(&status), [field]);
    }
}

/// NUL in subject keys, display names, metadata and filters, and in event fields and data, is
/// INVALID_ARGUMENT naming the field; nothing is stored.
async fn nul_in_subjects_and_events_is_invalid(app: TestApp) {
    let upsert = |item: pb::SubjectUpsert| pb::UpsertSubjectsRequest {
        subjects: vec![item],
    };
    let cases = [
        (
            pb::SubjectUpsert {
                key: "meter\0".into(),
                ..Default::default()
            },
            "subjects[0].key",
        ),
        (
            pb::SubjectUpsert {
                key: "meter".into(),
                display_name: Some("Me\0ter".into()),
                ..Default::default()
            },
            "subjects[0].display_name",
        ),
        (
            pb::SubjectUpsert {
                key: "meter".into(),
                metadata: Some(prost_types::Struct {
                    fields: [(
                        "k".to_owned(),
                        prost_types::Value {
                            kind: Some(prost_types::value::Kind::StringValue("\0".into())),
                        },
                    )]
                    .into(),
                }),
                ..Default::default()
            },
            r#"subjects[0].metadata["k"]"#,
        ),
    ];
    for (item, field) in cases {
        let status = app
            .subjects
            .clone()
            .upsert_subjects(upsert(item))
            .await
            .expect_err(field);
        assert_eq!(bad_fields(&status), [field]);
    }
    assert_eq!(subject_count(&app).await, 0);
    let status = app
        .subjects
        .clone()
        .list_subjects(pb::ListSubjectsRequest {
            key_prefix: "me\0".into(),
            ..Default::default()
        })
        .await
        .expect_err("NUL in key_prefix");
    assert_eq!(bad_fields(&status), ["key_prefix"]);

    let mut plain = event("e-1", "meter-1", 0, "a\0b");
    let mut json = event("e-2", "meter-1", 0, "");
    json.attributes.remove("datacontenttype");
    json.data = Some(Data::TextData("{\"n\":\"a\0b\"}".into()));
    let mut attribute = event("e-3", "meter-1", 0, "fine");
    attribute
        .attributes
        .insert("region".into(), ce_string("eu\0"));
    let subject = event("e-4", "meter\0", 0, "fine");
    let mut type_url = event("e-5", "meter-1", 0, "");
    type_url.data = Some(Data::ProtoData(prost_types::Any {
        type_url: "type.googleapis.com/x\0".into(),
        value: vec![],
    }));
    plain.id = "e-1".into();
    let status = ingest(&app, vec![plain, json, attribute, subject, type_url])
        .await
        .expect_err("NUL");
    assert_eq!(
        bad_fields(&status),
        [
            "events[0].text_data",
            "events[1].text_data",
            "events[2].attributes.region",
            "events[3].attributes.subject",
            "events[4].proto_data.type_url",
        ]
    );
    assert_eq!(stored_event_count(&app).await, "0");
    assert_eq!(subject_count(&app).await, 0);
    let status = app
        .events
        .clone()
        .list_events(of_subject("meter\0"))
        .await
        .expect_err("NUL in subject_key");
    assert_eq!(bad_fields(&status), ["subject_key"]);
}

/// A page token with this query's fingerprint but a cursor of another shape (or with NUL) is
/// INVALID_ARGUMENT naming page_token, not a query the database refuses.
async fn crafted_page_tokens_are_invalid(app: TestApp) {
    let events: Vec<_> = (0..3)
        .map(|i| event(&format!("t-{i}"), "meter-t", i, "x"))
        .collect();
    ingest(&app, events).await.expect("ingest");
    let page = app
        .events
        .clone()
        .list_events(pb::ListEventsRequest {
            page_size: 1,
            ..of_subject("meter-t")
        })
        .await
        .expect("list")
        .into_inner();
    let bytes = URL_SAFE_NO_PAD
        .decode(&page.next_page_token)
        .expect("base64 token");
    let token: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON token");
    let crafted = |v: serde_json::Value, i: &str| {
        let mut t = token.clone();
        t["v"] = v;
        t["i"] = i.into();
        URL_SAFE_NO_PAD.encode(t.to_string())
    };
    for page_token in [
        crafted("text".into(), "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        crafted(serde_json::Value::Null, "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        crafted(1.into(), "x\0"),
        "not a token".to_owned(),
    ] {
        let status = app
            .events
            .clone()
            .list_events(pb::ListEventsRequest {
                page_size: 1,
                page_token,
                ..of_subject("meter-t")
            })
            .await
            .expect_err("crafted token");
        assert_eq!(bad_fields(&status), ["page_token"]);
    }

    app.create(customer("Acme", "acme")).await;
    app.create(customer("Bolt", "bolt")).await;
    let page = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let bytes = URL_SAFE_NO_PAD
        .decode(&page.next_page_token)
        .expect("base64 token");
    let mut token: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON token");
    token["v"] = 7.into();
    let status = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1,
            page_token: URL_SAFE_NO_PAD.encode(token.to_string()),
            ..Default::default()
        })
        .await
        .expect_err("an integer cursor for a name order");
    assert_eq!(bad_fields(&status), ["page_token"]);
}

/// The wire form of a CreateCustomerRequest whose customer has key "raw" and the name `name`
/// (any bytes).
fn create_request_with_raw_name(name: &[u8]) -> Vec<u8> {
    // Customer { key (2): "raw", name (3): bytes }, CreateCustomerRequest { customer (1): Customer }
    let mut inner = vec![(2 << 3) | 2, 3, b'r', b'a', b'w', (3 << 3) | 2];
    prost::encoding::encode_varint(name.len() as u64, &mut inner);
    inner.extend_from_slice(name);
    let mut outer = vec![(1 << 3) | 2];
    prost::encoding::encode_varint(inner.len() as u64, &mut outer);
    outer.extend_from_slice(&inner);
    outer
}

/// Sends raw bytes as one gRPC request message.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use prost::bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A request that is not valid protobuf (invalid UTF-8 in a string, a truncated field) is the
/// caller's error: INVALID_ARGUMENT naming the message and field, never INTERNAL; nothing stored.
async fn undecodable_requests_are_invalid_not_internal(app: TestApp) {
    let channel = app.channel().await;
    let send = |body: Vec<u8>| {
        let channel = channel.clone();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            grpc.unary(
                tonic::Request::new(body),
                http::uri::PathAndQuery::from_static("/patron.v1.CustomerService/CreateCustomer"),
                RawCodec,
            )
            .await
        }
    };
    let status = send(create_request_with_raw_name(b"ACME \xff\xfe"))
        .await
        .expect_err("invalid UTF-8 in a string field");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("name"), "{status:?}");

    let mut truncated = create_request_with_raw_name(b"ACME");
    truncated.truncate(truncated.len() - 2);
    let status = send(truncated).await.expect_err("a truncated message");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // Valid bytes through the same path still work, and nothing else was stored.
    let ok = send(create_request_with_raw_name(b"ACME")).await.unwrap();
    let created = pb::Customer::decode(ok.into_inner().as_slice()).unwrap();
    assert_eq!(created.name, "ACME");
    let all = app.list_all(pb::ListCustomersRequest::default()).await;
    assert_eq!(all.len(), 1);
}

on_both_databases!(
    undecodable_requests_are_invalid_not_internal,
    a_4_mib_extension_attribute_is_invalid,
    large_events_are_listed_in_pages_that_fit_a_default_client,
    large_customers_are_listed_in_pages_that_fit_a_default_client,
    nul_in_customer_fields_and_filters_is_invalid,
    nul_in_subjects_and_events_is_invalid,
    crafted_page_tokens_are_invalid,
);
