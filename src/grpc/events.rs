//! EventService: the whole batch is validated first (paths `events[i].field`), then ingested.

use std::collections::BTreeMap;

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
    AttributeValue, EventData, EventOwner, EventQuery, MAX_BATCH, MAX_DATA_BYTES, StoredEvent,
    UsageEvent,
};
use crate::domain::values::{Identifier, ResourceId};
use crate::domain::{Timestamp, page};
use crate::service::Events;

/// Most characters of an event id, source or type.
const MAX_CONTEXT_ATTRIBUTE: usize = 1024;

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
    t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos / 1000)
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

fn required(v: &mut Violations, field: String, raw: &str) -> Option<String> {
    if raw.trim().is_empty() {
        v.add(field, "is required");
        None
    } else if raw.chars().count() > MAX_CONTEXT_ATTRIBUTE || raw.chars().any(char::is_control) {
        v.add(
            field,
            format!(
                "must be at most {MAX_CONTEXT_ATTRIBUTE} characters without control characters"
            ),
        );
        None
    } else {
        Some(raw.to_owned())
    }
}

fn is_json(content_type: Option<&AttributeValue>) -> bool {
    match content_type {
        None => true,
        Some(AttributeValue::String(t)) => {
            let media = t
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            media == "application/json" || media.ends_with("+json")
        }
        Some(_) => false,
    }
}

/// Validates one event; `received` is the default time.
fn parse_event(
    v: &mut Violations,
    i: usize,
    e: pb::CloudEvent,
    received: Timestamp,
) -> Option<UsageEvent> {
    let p = format!("events[{i}]");
    if e.spec_version != "1.0" {
        v.add(
            format!("{p}.spec_version"),
            format!("must be \"1.0\" (got {:?})", e.spec_version),
        );
    }
    let id = required(v, format!("{p}.id"), &e.id);
    let source = required(v, format!("{p}.source"), &e.source);
    let event_type = required(v, format!("{p}.type"), &e.r#type);
    let mut attributes = BTreeMap::new();
    let mut subject = None;
    let mut time = Some(received);
    for (name, value) in &e.attributes {
        let field = format!("{p}.attributes.{name}");
        let Some(parsed) = attribute(value) else {
            v.add(field, "has no value");
            continue;
        };
        match (name.as_str(), parsed) {
            (
                "subject",
                AttributeValue::String(s) | AttributeValue::Uri(s) | AttributeValue::UriRef(s),
            ) => {
                subject = v.check(Identifier::parse(&field, &s));
            }
            ("subject", _) => v.add(field, "must be a string"),
            ("time", AttributeValue::Timestamp(t)) => time = Some(Timestamp(t)),
            ("time", AttributeValue::String(s)) => match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => time = Some(Timestamp(t.timestamp_micros())),
                Err(_) => {
                    v.add(field, format!("{s:?} is not an RFC 3339 timestamp"));
                    time = None;
                }
            },
            ("time", _) => {
                v.add(field, "must be a timestamp");
                time = None;
            }
            ("id" | "source" | "specversion" | "type" | "data", _) => {
                v.add(field, "is a context attribute with its own field; it must not be an extension attribute");
            }
            (_, parsed) => {
                attributes.insert(name.clone(), parsed);
            }
        }
    }
    if !e.attributes.contains_key("subject") {
        v.add(
            format!("{p}.attributes.subject"),
            "is required: the subject key whose usage this is",
        );
    }
    let json = is_json(attributes.get("datacontenttype"));
    let data = match e.data {
        None => None,
        Some(Data::TextData(text)) => {
            if text.len() > MAX_DATA_BYTES {
                v.add(format!("{p}.text_data"), "must be at most 1 MiB");
            } else if json && serde_json::from_str::<serde_json::Value>(&text).is_err() {
                v.add(
                    format!("{p}.text_data"),
                    "is not valid JSON (datacontenttype is JSON or absent)",
                );
            }
            Some(EventData::Text(text))
        }
        Some(Data::BinaryData(bytes)) => {
            if bytes.len() > MAX_DATA_BYTES {
                v.add(format!("{p}.binary_data"), "must be at most 1 MiB");
            } else if json && serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
                v.add(
                    format!("{p}.binary_data"),
                    "is not valid JSON (datacontenttype is JSON or absent)",
                );
            }
            Some(EventData::Binary(bytes))
        }
        Some(Data::ProtoData(any)) => {
            if any.value.len() > MAX_DATA_BYTES {
                v.add(format!("{p}.proto_data"), "must be at most 1 MiB");
            }
            Some(EventData::Proto {
                type_url: any.type_url,
                value: any.value,
            })
        }
    };
    Some(UsageEvent {
        id: id?,
        source: source?,
        event_type: event_type?,
        subject: subject?,
        time: time?,
        attributes,
        data,
    })
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
        let mut v = Violations::new();
        let received = Timestamp::now();
        let mut events = Vec::with_capacity(r.events.len());
        for (i, event) in r.events.into_iter().enumerate() {
            if let Some(parsed) = parse_event(&mut v, i, event, received) {
                events.push(parsed);
            }
        }
        v.finish()?;
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
            events: page.events.into_iter().map(event_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
