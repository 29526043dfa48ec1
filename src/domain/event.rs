//! Usage events (CloudEvents): validated attributes and data, and how they are listed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::page::{Cursor, WireSize, wire};
use super::values::{self, Identifier};
use super::{FieldViolation, Timestamp};

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;
/// Most bytes of one event's data.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// Most bytes of one whole event: its data, type URL, context attributes and every attribute
/// name and value. One event thus always fits in a list page.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Most bytes of an event's `id`.
pub const MAX_ID_BYTES: usize = 256;
/// Most bytes of an event's `source` (a URI-reference).
pub const MAX_SOURCE_BYTES: usize = 512;
/// Most bytes of an event's `type`.
pub const MAX_TYPE_BYTES: usize = 256;
/// Most entries of an event's `attributes` (subject, time, datacontenttype and dataschema
/// included).
pub const MAX_ATTRIBUTES: usize = 32;
/// Most characters of an attribute name; names are lowercase ASCII letters and digits, as the
/// CloudEvents spec says.
pub const MAX_ATTRIBUTE_NAME: usize = 20;
/// Most bytes of one attribute value (string, URI, URI-reference or bytes).
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 4096;
/// Most bytes of the `datacontenttype` attribute.
pub const MAX_DATACONTENTTYPE_BYTES: usize = 256;
/// Most bytes of the `dataschema` attribute.
pub const MAX_DATASCHEMA_BYTES: usize = 1024;
/// Most bytes of the `type_url` of `proto_data`.
pub const MAX_TYPE_URL_BYTES: usize = 256;
/// Earliest event time: 0001-01-01T00:00:00Z, as google.protobuf.Timestamp allows.
pub const MIN_TIME: Timestamp = Timestamp(-62_135_596_800_000_000);
/// Latest event time: 9999-12-31T23:59:59.999999Z.
pub const MAX_TIME: Timestamp = Timestamp(253_402_300_799_999_999);

/// A CloudEvents attribute value (extension attributes are kept as given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum AttributeValue {
    /// ce_boolean
    Boolean(bool),
    /// ce_integer
    Integer(i32),
    /// ce_string
    String(String),
    /// ce_bytes, base64
    Bytes(String),
    /// ce_uri
    Uri(String),
    /// ce_uri_ref
    UriRef(String),
    /// ce_timestamp, microseconds
    Timestamp(i64),
}

/// The event's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventData {
    /// binary_data
    Binary(Vec<u8>),
    /// text_data
    Text(String),
    /// proto_data (google.protobuf.Any)
    Proto {
        /// Its type URL.
        type_url: String,
        /// Its encoded value.
        value: Vec<u8>,
    },
}

/// A validated usage event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEvent {
    /// CloudEvents id (unique per source).
    pub id: String,
    /// CloudEvents source.
    pub source: String,
    /// CloudEvents type.
    pub event_type: String,
    /// The `subject` attribute.
    pub subject: Identifier,
    /// The `time` attribute (or the receipt time).
    pub time: Timestamp,
    /// Every other attribute (datacontenttype, dataschema, extensions).
    pub attributes: BTreeMap<String, AttributeValue>,
    /// The data.
    pub data: Option<EventData>,
}

/// A stored event with its attribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Row id (ULID), the tie-breaker of time order.
    pub row_id: String,
    /// The event.
    pub event: UsageEvent,
    /// The customer that held the subject at the event's time.
    pub customer_id: Option<String>,
    /// When it was stored.
    pub ingested_at: Timestamp,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestResult {
    /// Stored now.
    pub accepted: u64,
    /// Already stored (or repeated in the batch).
    pub duplicates: u64,
    /// Subjects created for keys seen for the first time.
    pub created_subject_keys: Vec<String>,
}

/// Whose events to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventOwner {
    /// Events with this subject.
    Subject(String),
    /// Events attributed to this customer at their own time.
    Customer(String),
}

/// One page request of events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventQuery {
    /// Whose.
    pub owner: EventOwner,
    /// At or after.
    pub from: Option<Timestamp>,
    /// Before.
    pub to: Option<Timestamp>,
    /// Rows per page.
    pub page_size: u64,
    /// After this (event time, row id).
    pub after: Option<Cursor>,
}

/// An event as it arrives, before any rule is checked: the CloudEvents fields with attribute
/// values already in CloudEvents' type system (`None`: an attribute without a value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `spec_version`.
    pub spec_version: String,
    /// `type`.
    pub event_type: String,
    /// `attributes`, in any order.
    pub attributes: Vec<(String, Option<AttributeValue>)>,
    /// The data.
    pub data: Option<EventData>,
}

/// Whether `name` is a CloudEvents attribute name: 1..=20 lowercase ASCII letters and digits.
fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A context attribute (`id`, `source`, `type`): required, no control characters, at most `max`
/// bytes.
/// `field` names the field, built only for a violation (every event of a batch passes here).
fn context(
    v: &mut Vec<FieldViolation>,
    field: impl FnOnce() -> String,
    raw: String,
    max: usize,
) -> Option<String> {
    if raw.trim().is_empty() {
        v.push(FieldViolation::new(field(), "is required"));
        None
    } else if raw.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            field(),
            "must not contain control characters",
        ));
        None
    } else if raw.len() > max {
        v.push(FieldViolation::new(
            field(),
            format!("must be at most {max} bytes (got {})", raw.len()),
        ));
        None
    } else {
        Some(raw)
    }
}

fn time_in_range(field: &str, t: Timestamp) -> Result<Timestamp, FieldViolation> {
    if t < MIN_TIME || t > MAX_TIME {
        return Err(FieldViolation::new(
            field,
            "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
        ));
    }
    Ok(t)
}

impl AttributeValue {
    /// Bytes of the value (decoded bytes for `Bytes`, at most).
    fn size(&self) -> usize {
        match self {
            Self::Boolean(_) | Self::Integer(_) | Self::Timestamp(_) => 8,
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) => s.len(),
            Self::Bytes(b64) => b64.len() / 4 * 3 + 3,
        }
    }

    /// Checks the value's size and text, and the range of a timestamp.
    fn check(&self, field: &str, max: usize) -> Result<(), FieldViolation> {
        match self {
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) => values::storable(field, s)?,
            Self::Timestamp(t) => {
                time_in_range(field, Timestamp(*t))?;
            }
            Self::Boolean(_) | Self::Integer(_) | Self::Bytes(_) => {}
        }
        let size = match self {
            Self::Bytes(b64) => {
                let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
                (b64.len() / 4 * 3).saturating_sub(padding)
            }
            other => other.size(),
        };
        if size > max {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {max} bytes (got {size})"),
            ));
        }
        Ok(())
    }
}

/// Whether `content_type` says JSON (absent says JSON too).
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

/// Checks data that claims to be JSON.
fn json_data(field: &str, bytes: &[u8]) -> Result<(), FieldViolation> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        // JSON's own escapes (`\u0000` too) are kept as sent: data is stored as text.
        Ok(_) => Ok(()),
        Err(_) => Err(FieldViolation::new(
            field,
            "is not valid JSON (datacontenttype is JSON or absent)",
        )),
    }
}

impl UsageEvent {
    /// Parses an event of a request: `path` names it (`events[3]`), `received` is the default
    /// time. Every rule is checked and every violation reported, with the field path under
    /// `path` (attributes by name: `events[3].attributes.foo`, or `events[3].attributes["Foo"]`
    /// for a name that is not one).
    pub fn parse(
        path: &str,
        raw: RawEvent,
        received: Timestamp,
    ) -> Result<Self, Vec<FieldViolation>> {
        let p = path;
        let mut v = Vec::new();
        let mut total = raw.id.len() + raw.source.len() + raw.event_type.len();
        if raw.spec_version != "1.0" {
            v.push(FieldViolation::new(
                format!("{p}.spec_version"),
                format!("must be \"1.0\" (got {:?})", raw.spec_version),
            ));
        }
        let id = context(&mut v, || format!("{p}.id"), raw.id, MAX_ID_BYTES);
        let source = context(
            &mut v,
            || format!("{p}.source"),
            raw.source,
            MAX_SOURCE_BYTES,
        );
        let event_type = context(
            &mut v,
            || format!("{p}.type"),
            raw.event_type,
            MAX_TYPE_BYTES,
        );
        if raw.attributes.len() > MAX_ATTRIBUTES {
            v.push(FieldViolation::new(
                format!("{p}.attributes"),
                format!(
                    "must have at most {MAX_ATTRIBUTES} entries (got {})",
                    raw.attributes.len()
                ),
            ));
        }
        let mut named = raw.attributes;
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut attributes = BTreeMap::new();
        let mut subject = None;
        let mut subject_seen = false;
        let mut time = Some(received);
        for (name, value) in named {
            total += name.len() + value.as_ref().map_or(0, AttributeValue::size);
            if !is_attribute_name(&name) {
                v.push(FieldViolation::new(
                    format!("{p}.attributes[{name:?}]"),
                    format!(
                        "attribute names are 1..{MAX_ATTRIBUTE_NAME} lowercase letters (a-z) and digits"
                    ),
                ));
                continue;
            }
            subject_seen |= name == "subject";
            // Concatenated, not formatted: this runs for every attribute of every event.
            let field = [p, ".attributes.", name.as_str()].concat();
            let Some(value) = value else {
                v.push(FieldViolation::new(field, "has no value"));
                continue;
            };
            let max = match name.as_str() {
                "datacontenttype" => MAX_DATACONTENTTYPE_BYTES,
                "dataschema" => MAX_DATASCHEMA_BYTES,
                _ => MAX_ATTRIBUTE_VALUE_BYTES,
            };
            if let Err(violation) = value.check(&field, max) {
                v.push(violation);
                if name == "time" {
                    time = None;
                }
                continue;
            }
            match (name.as_str(), value) {
                (
                    "subject",
                    AttributeValue::String(s) | AttributeValue::Uri(s) | AttributeValue::UriRef(s),
                ) => match Identifier::parse(&field, &s) {
                    Ok(key) => subject = Some(key),
                    Err(violation) => v.push(violation),
                },
                ("subject", _) => v.push(FieldViolation::new(field, "must be a string")),
                ("time", AttributeValue::Timestamp(t)) => time = Some(Timestamp(t)),
                ("time", AttributeValue::String(s)) => {
                    match chrono::DateTime::parse_from_rfc3339(&s) {
                        Ok(t) => time = Some(Timestamp(t.timestamp_micros())),
                        Err(_) => {
                            v.push(FieldViolation::new(
                                field,
                                format!("{s:?} is not an RFC 3339 timestamp"),
                            ));
                            time = None;
                        }
                    }
                }
                ("time", _) => {
                    v.push(FieldViolation::new(field, "must be a timestamp"));
                    time = None;
                }
                ("id" | "source" | "specversion" | "type" | "data", _) => {
                    v.push(FieldViolation::new(
                        field,
                        "is a context attribute with its own field; it must not be an extension attribute",
                    ));
                }
                (_, value) => {
                    attributes.insert(name, value);
                }
            }
        }
        if !subject_seen {
            v.push(FieldViolation::new(
                format!("{p}.attributes.subject"),
                "is required: the subject key whose usage this is",
            ));
        }
        let json = is_json(attributes.get("datacontenttype"));
        let data_check = match &raw.data {
            None => Ok(()),
            Some(EventData::Text(text)) => {
                let field = [p, ".text_data"].concat();
                total += text.len();
                if text.len() > MAX_DATA_BYTES {
                    Err(FieldViolation::new(field, "must be at most 1 MiB"))
                } else if json {
                    json_data(&field, text.as_bytes())
                } else {
                    values::storable(&field, text)
                }
            }
            Some(EventData::Binary(bytes)) => {
                let field = [p, ".binary_data"].concat();
                total += bytes.len();
                if bytes.len() > MAX_DATA_BYTES {
                    Err(FieldViolation::new(field, "must be at most 1 MiB"))
                } else if json {
                    json_data(&field, bytes)
                } else {
                    Ok(())
                }
            }
            Some(EventData::Proto { type_url, value }) => {
                let field = [p, ".proto_data"].concat();
                total += type_url.len() + value.len();
                if value.len() > MAX_DATA_BYTES {
                    Err(FieldViolation::new(field, "must be at most 1 MiB"))
                } else if type_url.len() > MAX_TYPE_URL_BYTES {
                    Err(FieldViolation::new(
                        format!("{field}.type_url"),
                        format!(
                            "must be at most {MAX_TYPE_URL_BYTES} bytes (got {})",
                            type_url.len()
                        ),
                    ))
                } else {
                    values::storable(&format!("{field}.type_url"), type_url)
                }
            }
        };
        if let Err(violation) = data_check {
            v.push(violation);
        } else if v.is_empty() && total > MAX_EVENT_BYTES {
            // Only when no part is already too large on its own.
            v.push(FieldViolation::new(
                p,
                format!(
                    "must be at most {MAX_EVENT_BYTES} bytes in all (data, type URL, id, source, type and attributes; got {total})"
                ),
            ));
        }
        if !v.is_empty() {
            return Err(v);
        }
        match (id, source, event_type, subject, time) {
            (Some(id), Some(source), Some(event_type), Some(subject), Some(time)) => Ok(Self {
                id,
                source,
                event_type,
                subject,
                time,
                attributes,
                data: raw.data,
            }),
            _ => Err(vec![FieldViolation::new(p, "is not a valid event")]),
        }
    }
}

impl WireSize for StoredEvent {
    fn wire_size(&self) -> usize {
        let e = &self.event;
        let attribute = |name: &str, value: &AttributeValue| {
            wire::FIELD + wire::text(name) + wire::FIELD + wire::FIELD + value.size()
        };
        let attributes: usize = e
            .attributes
            .iter()
            .map(|(name, value)| attribute(name, value))
            .sum::<usize>()
            + attribute("subject", &AttributeValue::String(String::new()))
            + e.subject.as_str().len()
            + wire::FIELD
            + wire::text("time")
            + wire::TIMESTAMP
            + wire::FIELD;
        let data = match &e.data {
            None => 0,
            Some(EventData::Text(t)) => wire::text(t),
            Some(EventData::Binary(b)) => wire::FIELD + b.len(),
            Some(EventData::Proto { type_url, value }) => {
                wire::FIELD + wire::text(type_url) + wire::FIELD + value.len()
            }
        };
        wire::ITEM
            + wire::FIELD
            + wire::text(&e.id)
            + wire::text(&e.source)
            + wire::text("1.0")
            + wire::text(&e.event_type)
            + attributes
            + data
            + wire::opt(&self.customer_id)
            + wire::TIMESTAMP
    }
}
