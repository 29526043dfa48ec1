//! Usage events (CloudEvents): validated attributes and data, and how they are listed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::page::Cursor;
use super::values::Identifier;

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;
/// Most bytes of one event's data.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

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
