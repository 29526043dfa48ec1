//! EventService: the whole batch is validated first (paths `events[i].field`), then ingested.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::namespace;
use super::pb::cloud_event::cloud_event_attribute_value::Attr;
use super::pb::cloud_event::{CloudEventAttributeValue, Data};
use super::pb::event_service_server::EventService;
use super::pb::{self, list_events_request};
use crate::domain::error::Violations;
use crate::domain::event::{
    AttributeValue, EventData, EventOwner, EventQuery, MAX_BATCH, RawEvent, StoredEvent, UsageEvent,
};
use crate::domain::values::{Identifier, ResourceId};
use crate::domain::{FieldViolation, Timestamp, page};
use crate::service::Events;

/// The EventService handlers.
#[derive(Clone, Debug)]
pub struct EventApi {
    events: Events,
}

impl EventApi {
    /// Handlers over the use cases.
    pub fn new(events: Events) -> Self {
        Self { events }
    }
}

fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(t.nanos / 1000))
}

fn attribute(value: &CloudEventAttributeValue) -> Option<AttributeValue> {
    Some(match value.attr.as_ref()? {
        Attr::CeBoolean(b) => AttributeValue::Boolean(*b),
        Attr::CeInteger(i) => AttributeValue::Integer(*i),
        Attr::CeString(s) => AttributeValue::String(s.clone()),
        Attr::CeBytes(b) => AttributeValue::Bytes(STANDARD.encode(b)),
        Attr::CeUri(s) => AttributeValue::Uri(s.clone()),
        Attr::CeUriRef(s) => AttributeValue::UriRef(s.clone()),
        Attr::CeTimestamp(t) => AttributeValue::Timestamp(micros(t)),
    })
}

fn attribute_to_pb(value: AttributeValue) -> CloudEventAttributeValue {
    let attr = match value {
        AttributeValue::Boolean(b) => Attr::CeBoolean(b),
        AttributeValue::Integer(i) => Attr::CeInteger(i),
        AttributeValue::String(s) => Attr::CeString(s),
        AttributeValue::Bytes(b) => Attr::CeBytes(STANDARD.decode(b).unwrap_or_default()),
        AttributeValue::Uri(s) => Attr::CeUri(s),
        AttributeValue::UriRef(s) => Attr::CeUriRef(s),
        AttributeValue::Timestamp(t) => Attr::CeTimestamp(timestamp(Timestamp(t))),
    };
    CloudEventAttributeValue { attr: Some(attr) }
}

/// The event as the domain takes it, before any rule is checked.
fn raw_event(e: pb::CloudEvent) -> RawEvent {
    RawEvent {
        id: e.id,
        source: e.source,
        spec_version: e.spec_version,
        event_type: e.r#type,
        attributes: e
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), attribute(value)))
            .collect(),
        data: e.data.map(|data| match data {
            Data::TextData(text) => EventData::Text(text),
            Data::BinaryData(bytes) => EventData::Binary(bytes),
            Data::ProtoData(any) => EventData::Proto {
                type_url: any.type_url,
                value: any.value,
            },
        }),
    }
}

/// Parses the event at `events[i]`; `received` is the default time.
fn parse_event(
    i: usize,
    e: pb::CloudEvent,
    received: Timestamp,
) -> Result<UsageEvent, Vec<FieldViolation>> {
    UsageEvent::parse(&format!("events[{i}]"), raw_event(e), received)
}

fn event_to_pb(stored: StoredEvent) -> pb::IngestedEvent {
    let e = stored.event;
    let mut attributes: std::collections::HashMap<String, CloudEventAttributeValue> = e
        .attributes
        .into_iter()
        .map(|(k, v)| (k, attribute_to_pb(v)))
        .collect();
    attributes.insert(
        "subject".into(),
        attribute_to_pb(AttributeValue::String(e.subject.into_string())),
    );
    attributes.insert(
        "time".into(),
        attribute_to_pb(AttributeValue::Timestamp(e.time.micros())),
    );
    pb::IngestedEvent {
        event: Some(pb::CloudEvent {
            id: e.id,
            source: e.source,
            spec_version: "1.0".into(),
            r#type: e.event_type,
            attributes,
            data: e.data.map(|d| match d {
                EventData::Text(t) => Data::TextData(t),
                EventData::Binary(b) => Data::BinaryData(b),
                EventData::Proto { type_url, value } => {
                    Data::ProtoData(prost_types::Any { type_url, value })
                }
            }),
        }),
        customer_id: stored.customer_id.unwrap_or_default(),
        ingested_at: Some(timestamp(stored.ingested_at)),
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    async fn ingest_events(
        &self,
        request: Request<pb::IngestEventsRequest>,
    ) -> Result<Response<pb::IngestEventsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.into_inner();
        if r.events.len() > MAX_BATCH {
            let message = format!(
                "at most {MAX_BATCH} events per batch (got {})",
                r.events.len()
            );
            return Err(crate::domain::Error::invalid("events", message).into());
        }
        let mut violations = Vec::new();
        let received = self.events.now();
        let mut events = Vec::with_capacity(r.events.len());
        for (i, event) in r.events.into_iter().enumerate() {
            match parse_event(i, event, received) {
                Ok(parsed) => events.push(parsed),
                Err(mut v) => violations.append(&mut v),
            }
        }
        if !violations.is_empty() {
            return Err(crate::domain::Error::InvalidArgument(violations).into());
        }
        let result = self.events.ingest(&ns, events).await?;
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Response::new(pb::IngestEventsResponse {
            accepted: count(result.accepted),
            duplicates: count(result.duplicates),
            created_subject_keys: result.created_subject_keys,
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let mut v = Violations::new();
        let owner = match &r.owner {
            Some(list_events_request::Owner::SubjectKey(key)) => v
                .check(Identifier::parse("subject_key", key))
                .map(|k| EventOwner::Subject(k.into_string())),
            Some(list_events_request::Owner::CustomerId(id)) => v
                .check(ResourceId::parse("customer_id", id))
                .map(|id| EventOwner::Customer(id.into_string())),
            None => {
                v.add("owner", "set subject_key or customer_id");
                None
            }
        };
        let page_size = v.check(page::page_size("page_size", r.page_size));
        let from = r.from.as_ref().map(|t| Timestamp(micros(t)));
        let to = r.to.as_ref().map(|t| Timestamp(micros(t)));
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            v.add("to", "must not be before from");
        }
        v.finish()?;
        let (Some(owner), Some(page_size)) = (owner, page_size) else {
            return Err(crate::domain::Error::Internal("list parsed without owner".into()).into());
        };
        let query = EventQuery {
            owner,
            from,
            to,
            page_size,
            after: None,
        };
        let page = self.events.list(&ns, query, &r.page_token).await?;
        Ok(Response::new(pb::ListEventsResponse {
            events: page.items.into_iter().map(event_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::domain::event::{MAX_ATTRIBUTE_VALUE_BYTES, MAX_EVENT_BYTES};
    use crate::domain::page::{PAGE_BYTE_BUDGET, WireSize};

    fn string(s: &str) -> CloudEventAttributeValue {
        CloudEventAttributeValue {
            attr: Some(Attr::CeString(s.to_owned())),
        }
    }

    fn event(attributes: HashMap<String, CloudEventAttributeValue>) -> pb::CloudEvent {
        pb::CloudEvent {
            id: "e-1".into(),
            source: "svc".into(),
            spec_version: "1.0".into(),
            r#type: "api-calls".into(),
            attributes,
            data: None,
        }
    }

    fn with_subject(mut extra: Vec<(String, CloudEventAttributeValue)>) -> pb::CloudEvent {
        extra.push(("subject".into(), string("meter-1")));
        event(extra.into_iter().collect())
    }

    fn fields(result: Result<UsageEvent, Vec<FieldViolation>>) -> Vec<String> {
        result
            .expect_err("a violation")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    fn stored(event: UsageEvent) -> StoredEvent {
        StoredEvent {
            row_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            event,
            customer_id: Some("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
            ingested_at: Timestamp(1),
        }
    }

    #[test]
    fn extension_attributes_are_bounded_in_count_name_and_value() {
        let now = Timestamp(0);
        let big = "x".repeat(4 * 1024 * 1024);
        let e = with_subject(vec![("foo".into(), string(&big))]);
        assert_eq!(fields(parse_event(3, e, now)), ["events[3].attributes.foo"]);
        let fits = "x".repeat(MAX_ATTRIBUTE_VALUE_BYTES);
        assert!(parse_event(0, with_subject(vec![("foo".into(), string(&fits))]), now).is_ok());
        let bytes = CloudEventAttributeValue {
            attr: Some(Attr::CeBytes(vec![0; MAX_ATTRIBUTE_VALUE_BYTES + 1])),
        };
        let e = with_subject(vec![("blob".into(), bytes)]);
        assert_eq!(
            fields(parse_event(0, e, now)),
            ["events[0].attributes.blob"]
        );
        for bad in ["Foo", "with_underscore", "", "abcdefghijklmnopqrstu"] {
            let e = with_subject(vec![(bad.into(), string("v"))]);
            assert_eq!(
                fields(parse_event(0, e, now)),
                [format!("events[0].attributes[{bad:?}]")]
            );
        }
        let many: Vec<_> = (0..32).map(|i| (format!("x{i}"), string("v"))).collect();
        assert_eq!(
            fields(parse_event(0, with_subject(many), now)),
            ["events[0].attributes"]
        );
        let nul = with_subject(vec![("foo".into(), string("a\0b"))]);
        assert_eq!(
            fields(parse_event(0, nul, now)),
            ["events[0].attributes.foo"]
        );
    }

    #[test]
    fn strings_and_the_whole_event_are_bounded() {
        let now = Timestamp(0);
        let mut e = with_subject(vec![]);
        e.id = "i".repeat(257);
        e.source = "s".repeat(513);
        e.r#type = "t".repeat(257);
        assert_eq!(
            fields(parse_event(0, e, now)),
            ["events[0].id", "events[0].source", "events[0].type"]
        );
        let mut e = with_subject(vec![]);
        e.data = Some(Data::ProtoData(prost_types::Any {
            type_url: "t".repeat(257),
            value: vec![],
        }));
        assert_eq!(
            fields(parse_event(0, e, now)),
            ["events[0].proto_data.type_url"]
        );
        let mut e = with_subject(vec![
            ("datacontenttype".into(), string("text/plain")),
            ("foo".into(), string(&"x".repeat(4000))),
        ]);
        e.data = Some(Data::TextData("y".repeat(MAX_EVENT_BYTES - 1000)));
        assert_eq!(fields(parse_event(0, e, now)), ["events[0]"]);
        let mut e = with_subject(vec![("datacontenttype".into(), string("text/plain"))]);
        e.data = Some(Data::TextData("a\0b".into()));
        assert_eq!(fields(parse_event(0, e, now)), ["events[0].text_data"]);
        let mut e = with_subject(vec![]);
        e.data = Some(Data::TextData("{\"n\":\"a\0b\"}".into()));
        assert_eq!(fields(parse_event(0, e, now)), ["events[0].text_data"]);
        let e = with_subject(vec![(
            "time".into(),
            CloudEventAttributeValue {
                attr: Some(Attr::CeTimestamp(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 999_999_999,
                })),
            },
        )]);
        assert_eq!(
            fields(parse_event(0, e, now)),
            ["events[0].attributes.time"]
        );
    }

    #[test]
    fn the_largest_event_fits_a_page_and_is_estimated_above_its_encoding() {
        let mut e = with_subject(vec![("datacontenttype".into(), string("text/plain"))]);
        e.data = Some(Data::TextData("y".repeat(MAX_EVENT_BYTES - 100)));
        let parsed = parse_event(0, e, Timestamp(0)).expect("valid");
        let stored = stored(parsed);
        let estimate = stored.wire_size();
        assert!(estimate < PAGE_BYTE_BUDGET);
        assert!(event_to_pb(stored).encoded_len() <= estimate);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<String>(),
            2 => "[a-z0-9]{0,22}",
            1 => (any::<char>(), 0usize..6000).prop_map(|(c, n)| c.to_string().repeat(n)),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z0-9]{1,20}",
            2 => prop::sample::select(vec!["subject", "time", "datacontenttype", "dataschema", "id", "data"])
                .prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    fn value() -> impl Strategy<Value = CloudEventAttributeValue> {
        let attr = prop_oneof![
            any::<bool>().prop_map(Attr::CeBoolean),
            any::<i32>().prop_map(Attr::CeInteger),
            text().prop_map(Attr::CeString),
            proptest::collection::vec(any::<u8>(), 0..6000).prop_map(Attr::CeBytes),
            text().prop_map(Attr::CeUri),
            text().prop_map(Attr::CeUriRef),
            (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Attr::CeTimestamp(
                prost_types::Timestamp { seconds, nanos }
            )),
        ];
        proptest::option::weighted(0.95, attr).prop_map(|attr| CloudEventAttributeValue { attr })
    }

    fn data() -> impl Strategy<Value = Option<Data>> {
        proptest::option::of(prop_oneof![
            text().prop_map(Data::TextData),
            Just(Data::TextData(r#"{"n":1,"s":"\u0000"}"#.into())),
            proptest::collection::vec(any::<u8>(), 0..2000).prop_map(Data::BinaryData),
            (text(), proptest::collection::vec(any::<u8>(), 0..2000)).prop_map(
                |(type_url, value)| Data::ProtoData(prost_types::Any { type_url, value })
            ),
        ])
    }

    fn cloud_event() -> impl Strategy<Value = pb::CloudEvent> {
        (
            text(),
            text(),
            prop_oneof![Just("1.0".to_owned()), any::<String>()],
            text(),
            proptest::collection::hash_map(name(), value(), 0..6),
            data(),
        )
            .prop_map(|(id, source, spec_version, r#type, attributes, data)| {
                pb::CloudEvent {
                    id,
                    source,
                    spec_version,
                    r#type,
                    attributes,
                    data,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any event: no panic; either a valid event whose size estimate bounds its encoding, or
        /// violations that name fields of this event.
        #[test]
        fn arbitrary_events_parse_or_name_their_fields(e in cloud_event(), i in 0usize..1000) {
            match parse_event(i, e, Timestamp(0)) {
                Ok(parsed) => {
                    let stored = stored(parsed);
                    let estimate = stored.wire_size();
                    prop_assert!(event_to_pb(stored).encoded_len() <= estimate);
                }
                Err(violations) => {
                    prop_assert!(!violations.is_empty());
                    let prefix = format!("events[{i}]");
                    for v in violations {
                        prop_assert!(v.field.starts_with(&prefix), "{} outside {prefix}", v.field);
                    }
                }
            }
        }

        /// Mostly valid events (a subject and plain text), so the Ok path is exercised too.
        #[test]
        fn valid_events_round_trip(
            extra in proptest::collection::hash_map("[a-z0-9]{1,20}", value(), 0..8),
            body in any::<String>(),
        ) {
            let mut attributes = extra;
            attributes.insert("subject".into(), string("meter-1"));
            attributes.insert("datacontenttype".into(), string("text/plain"));
            let mut e = event(attributes);
            e.data = Some(Data::TextData(body));
            match parse_event(0, e.clone(), Timestamp(0)) {
                Ok(parsed) => {
                    let stored = stored(parsed);
                    let estimate = stored.wire_size();
                    prop_assert!(event_to_pb(stored).encoded_len() <= estimate);
                }
                Err(violations) => {
                    for v in violations {
                        prop_assert!(v.field.starts_with("events[0]"));
                    }
                }
            }
        }
    }
}
