//! Subjects: the metered entities that usage events name.

use serde_json::{Map, Value};

use super::error::Violations;
use super::page::{WireSize, wire};
use super::values::{self, Identifier};
use super::{FieldViolation, Timestamp};

/// Most bytes of a subject's metadata, JSON-encoded.
pub const MAX_SUBJECT_METADATA_BYTES: usize = 16 * 1024;

/// A stored subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    /// ULID.
    pub id: String,
    /// Key.
    pub key: Identifier,
    /// Display name.
    pub display_name: Option<String>,
    /// JSON object.
    pub metadata: Option<Map<String, Value>>,
    /// Stripe customer (cus_...).
    pub stripe_customer_id: Option<String>,
    /// The live customer holding this key now (derived, not stored).
    pub customer_id: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Soft-deleted.
    pub deleted_at: Option<Timestamp>,
}

/// The encoded size of a JSON value as a google.protobuf.Value, at most.
fn json_wire_size(value: &Value) -> usize {
    wire::FIELD
        + match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => wire::SCALAR,
            Value::String(s) => wire::text(s),
            Value::Array(items) => wire::FIELD + items.iter().map(json_wire_size).sum::<usize>(),
            Value::Object(map) => wire::FIELD + object_wire_size(map),
        }
}

/// The encoded size of a JSON object as a google.protobuf.Struct, at most.
fn object_wire_size(map: &Map<String, Value>) -> usize {
    map.iter()
        .map(|(k, v)| wire::FIELD + wire::text(k) + json_wire_size(v))
        .sum()
}

impl WireSize for Subject {
    fn wire_size(&self) -> usize {
        wire::ITEM
            + wire::text(&self.id)
            + wire::text(self.key.as_str())
            + wire::opt(&self.display_name)
            + self
                .metadata
                .as_ref()
                .map_or(0, |m| wire::FIELD + object_wire_size(m))
            + wire::opt(&self.stripe_customer_id)
            + wire::opt(&self.customer_id)
            + 3 * wire::TIMESTAMP
    }
}

/// One item of an upsert: `Some` fields change (`Some(None)` clears).
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectUpsert {
    /// The key.
    pub key: Identifier,
    /// New display name.
    pub display_name: Option<Option<String>>,
    /// New Stripe customer.
    pub stripe_customer_id: Option<Option<String>>,
    /// New metadata (replaces the whole object).
    pub metadata: Option<Option<Map<String, Value>>>,
}

impl SubjectUpsert {
    /// The subject after this change (or a new one with `id` and `now`).
    pub fn apply(
        &self,
        current: Option<&Subject>,
        id: impl FnOnce() -> String,
        now: Timestamp,
    ) -> Subject {
        let mut subject = match current {
            Some(s) => Subject {
                updated_at: now.max(s.updated_at),
                ..s.clone()
            },
            None => Subject {
                id: id(),
                key: self.key.clone(),
                display_name: None,
                metadata: None,
                stripe_customer_id: None,
                customer_id: None,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            },
        };
        if let Some(name) = &self.display_name {
            subject.display_name = name.clone();
        }
        if let Some(stripe) = &self.stripe_customer_id {
            subject.stripe_customer_id = stripe.clone();
        }
        if let Some(metadata) = &self.metadata {
            subject.metadata = metadata.clone();
        }
        subject
    }
}

/// Parses an optional display name (present "" clears; at most 256 characters).
pub fn parse_display_name(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<Option<String>>, FieldViolation> {
    match raw {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(name) => {
            values::text(field, name, values::MAX_SHORT_TEXT)?;
            Ok(Some(Some(name.to_owned())))
        }
    }
}

/// Parses an optional Stripe customer id (present "" clears; otherwise `cus_...`).
pub fn parse_stripe_customer(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<Option<String>>, FieldViolation> {
    match raw {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(id)
            if id.len() > 4
                && id.len() <= 255
                && id.starts_with("cus_")
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(Some(Some(id.to_owned())))
        }
        Some(_) => Err(FieldViolation::new(
            field,
            "must be a Stripe customer id starting with cus_",
        )),
    }
}

/// Checks the encoded size of metadata (present {} clears).
pub fn parse_metadata(
    field: &str,
    raw: Option<Map<String, Value>>,
) -> Result<Option<Option<Map<String, Value>>>, FieldViolation> {
    match raw {
        None => Ok(None),
        Some(map) if map.is_empty() => Ok(Some(None)),
        Some(map) => {
            for (key, value) in &map {
                let path = format!("{field}[{key:?}]");
                values::storable(&path, key)?;
                values::json_storable(&path, value)?;
            }
            let size = serde_json::to_vec(&map)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > MAX_SUBJECT_METADATA_BYTES {
                return Err(FieldViolation::new(
                    field,
                    format!(
                        "must be at most {MAX_SUBJECT_METADATA_BYTES} bytes as JSON (got {size})"
                    ),
                ));
            }
            Ok(Some(Some(map)))
        }
    }
}

/// Most items of one upsert.
pub const MAX_UPSERT_ITEMS: usize = 1000;

/// One upsert item as a request carries it: each part with its field path.
#[derive(Clone, Debug)]
pub struct RawSubjectUpsert<'a> {
    /// The key.
    pub key: (String, &'a str),
    /// The display name, if present.
    pub display_name: (String, Option<&'a str>),
    /// The Stripe customer, if present.
    pub stripe_customer_id: (String, Option<&'a str>),
    /// The metadata, if present.
    pub metadata: (String, Option<Map<String, Value>>),
}

/// Parses the items of an upsert (`field` names the list): at most [`MAX_UPSERT_ITEMS`], keys
/// unique within the request, every part by its rule; every violation is reported.
pub fn parse_upserts(
    field: &str,
    items: Vec<RawSubjectUpsert<'_>>,
) -> Result<Vec<SubjectUpsert>, Vec<FieldViolation>> {
    let mut v = Violations::new();
    if items.len() > MAX_UPSERT_ITEMS {
        v.add(
            field,
            format!("at most {MAX_UPSERT_ITEMS} items (got {})", items.len()),
        );
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let (key_path, key) = item.key;
        let key = v.check(Identifier::parse(&key_path, key));
        if let Some(key) = &key
            && let Some(first) = seen.insert(key.as_str().to_owned(), key_path.clone())
        {
            v.add(key_path.as_str(), format!("duplicate of {first}"));
        }
        let (path, raw) = item.display_name;
        let display_name = v.check(parse_display_name(&path, raw));
        let (path, raw) = item.stripe_customer_id;
        let stripe_customer_id = v.check(parse_stripe_customer(&path, raw));
        let (path, raw) = item.metadata;
        let metadata = v.check(parse_metadata(&path, raw));
        if let (Some(key), Some(display_name), Some(stripe_customer_id), Some(metadata)) =
            (key, display_name, stripe_customer_id, metadata)
        {
            parsed.push(SubjectUpsert {
                key,
                display_name,
                stripe_customer_id,
                metadata,
            });
        }
    }
    v.into_result(parsed)
}

/// The metadata of subjects patron creates itself.
pub fn created_by(who: &str) -> Map<String, Value> {
    Map::from_iter([("createdBy".to_owned(), Value::String(who.to_owned()))])
}
