//! protobuf <-> domain. Parsing collects every field violation of a request, with its path.

use prost_types::Timestamp as PbTimestamp;

use crate::domain::customer::{
    Address, Customer, CustomerFields, CustomerFilter, CustomerLookup, CustomerPatch,
    CustomerQuery, Order, parse_subject_keys,
};
use crate::domain::error::Violations;
use crate::domain::page;
use crate::domain::values::{
    self, CountryCode, Currency, Description, Email, Identifier, Metadata, Name, RequestId,
    ResourceId, ShortText,
};
use crate::domain::{Error, FieldViolation, Result, Timestamp};

use super::pb;

/// A protobuf timestamp.
pub fn timestamp(t: Timestamp) -> PbTimestamp {
    let micros = t.micros();
    PbTimestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

fn text<T: AsRef<str>>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map(|v| v.as_ref().to_owned())
        .unwrap_or_default()
}

/// The protobuf form of a customer.
pub fn customer_to_pb(c: Customer) -> pb::Customer {
    let f = c.fields;
    let a = f.billing_address;
    let has_address = a != Address::default();
    pb::Customer {
        id: c.id,
        key: text(&f.key),
        name: f.name.into_string(),
        description: text(&f.description),
        metadata: f.metadata.entries().clone().into_iter().collect(),
        usage_attribution: Some(pb::CustomerUsageAttribution {
            subject_keys: f
                .subject_keys
                .into_iter()
                .map(Identifier::into_string)
                .collect(),
        }),
        primary_email: text(&f.primary_email),
        currency: text(&f.currency),
        billing_address: has_address.then(|| pb::Address {
            country: text(&a.country),
            postal_code: text(&a.postal_code),
            state: text(&a.state),
            city: text(&a.city),
            line1: text(&a.line1),
            line2: text(&a.line2),
            phone_number: text(&a.phone_number),
        }),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        deleted_at: c.deleted_at.map(timestamp),
        etag: c.etag,
    }
}

fn optional_key(v: &mut Violations, field: &str, raw: &str) -> Option<Identifier> {
    if raw.is_empty() {
        return None;
    }
    v.check(Identifier::parse(field, raw))
}

fn metadata(
    v: &mut Violations,
    field: &str,
    raw: &std::collections::HashMap<String, String>,
) -> Metadata {
    match Metadata::parse(field, raw) {
        Ok(m) => m,
        Err(errors) => {
            for e in errors {
                v.add(e.field, e.description);
            }
            Metadata::default()
        }
    }
}

fn subject_keys(v: &mut Violations, field: &str, c: &pb::Customer) -> Vec<Identifier> {
    let raw = c
        .usage_attribution
        .as_ref()
        .map(|u| u.subject_keys.as_slice())
        .unwrap_or_default();
    match parse_subject_keys(field, raw) {
        Ok(keys) => keys,
        Err(errors) => {
            for e in errors {
                v.add(e.field, e.description);
            }
            Vec::new()
        }
    }
}

const ADDRESS_PARTS: [&str; 6] = [
    "postal_code",
    "state",
    "city",
    "line1",
    "line2",
    "phone_number",
];

fn address_part<'a>(a: &'a pb::Address, part: &str) -> &'a str {
    match part {
        "country" => &a.country,
        "postal_code" => &a.postal_code,
        "state" => &a.state,
        "city" => &a.city,
        "line1" => &a.line1,
        "line2" => &a.line2,
        _ => &a.phone_number,
    }
}

fn address(v: &mut Violations, field: &str, raw: Option<&pb::Address>) -> Address {
    let empty = pb::Address::default();
    let a = raw.unwrap_or(&empty);
    let mut part = |name: &str| {
        v.check(ShortText::parse(
            &format!("{field}.{name}"),
            address_part(a, name),
        ))
        .flatten()
    };
    let [postal_code, state, city, line1, line2, phone_number] = ADDRESS_PARTS.map(&mut part);
    Address {
        country: v
            .check(CountryCode::parse(&format!("{field}.country"), &a.country))
            .flatten(),
        postal_code,
        state,
        city,
        line1,
        line2,
        phone_number,
    }
}

/// The writable fields of the customer of a CreateCustomer call (field paths under `customer`).
pub fn customer_fields(raw: Option<&pb::Customer>) -> Result<CustomerFields> {
    let Some(c) = raw else {
        return Err(Error::invalid("customer", "is required"));
    };
    let mut v = Violations::new();
    let key = optional_key(&mut v, "customer.key", &c.key);
    let name = v.check(Name::parse("customer.name", &c.name));
    let description = v
        .check(Description::parse("customer.description", &c.description))
        .flatten();
    let metadata = metadata(&mut v, "customer.metadata", &c.metadata);
    let subject_keys = subject_keys(&mut v, "customer.usage_attribution.subject_keys", c);
    let primary_email = v
        .check(Email::parse("customer.primary_email", &c.primary_email))
        .flatten();
    let currency = v
        .check(Currency::parse("customer.currency", &c.currency))
        .flatten();
    let billing_address = address(
        &mut v,
        "customer.billing_address",
        c.billing_address.as_ref(),
    );
    let fields = name.map(|name| CustomerFields {
        key,
        name,
        description,
        metadata,
        subject_keys,
        primary_email,
        currency,
        billing_address,
    });
    // The attribution rule speaks of the valid fields only (an invalid subject key list must not
    // also be reported as a missing key).
    if let Some(f) = &fields
        && v.is_empty()
    {
        v.check(f.check_attribution("customer"));
    }
    v.finish()?;
    fields.ok_or_else(|| Error::Internal("customer parsed without a name".into()))
}

/// A request id (empty means none).
pub fn request_id(raw: &str) -> Result<Option<RequestId>> {
    RequestId::parse("request_id", raw).map_err(|v| Error::InvalidArgument(vec![v]))
}

/// A lookup by id or key, for a oneof whose fields are named `names` = (id, key, oneof).
pub fn lookup_named(
    id: Option<&str>,
    key: Option<&str>,
    names: (&str, &str, &str),
) -> Result<CustomerLookup> {
    let (id_field, key_field, oneof) = names;
    let invalid = |v| Error::InvalidArgument(vec![v]);
    match (id, key) {
        (Some(id), _) if !id.is_empty() => ResourceId::parse(id_field, id)
            .map(CustomerLookup::Id)
            .map_err(invalid),
        (_, Some(key)) if !key.is_empty() => Identifier::parse(key_field, key)
            .map(CustomerLookup::Key)
            .map_err(invalid),
        (Some(_), _) => Err(Error::invalid(id_field, "must not be empty")),
        (_, Some(_)) => Err(Error::invalid(key_field, "must not be empty")),
        (None, None) => Err(Error::invalid(
            oneof,
            format!("set {id_field} or {key_field}"),
        )),
    }
}

/// A lookup by `id` or `key` (the oneof `lookup` of Get/DeleteCustomer).
pub fn lookup(id: Option<&str>, key: Option<&str>) -> Result<CustomerLookup> {
    lookup_named(id, key, ("id", "key", "lookup"))
}

/// snake_case of a camelCase field path (the JSON form of a FieldMask uses camelCase).
fn snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for ch in path.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

const OUTPUT_ONLY: [&str; 5] = ["id", "created_at", "updated_at", "deleted_at", "etag"];

/// The change an UpdateCustomer call asks for: the fields named in the mask, taken from
/// `customer` (field paths under `customer`).
pub fn customer_patch(
    c: &pb::Customer,
    mask: Option<&prost_types::FieldMask>,
) -> Result<CustomerPatch> {
    let paths: Vec<String> = mask
        .map(|m| m.paths.iter().map(|p| snake_case(p.trim())).collect())
        .unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::invalid(
            "update_mask",
            "is required: name the fields to change (e.g. name,billing_address.country, or *)",
        ));
    }
    let mut v = Violations::new();
    let mut patch = CustomerPatch::default();
    let empty_address = pb::Address::default();
    let addr = c.billing_address.as_ref().unwrap_or(&empty_address);
    for (i, path) in paths.iter().enumerate() {
        let all = path == "*";
        let mut matched = all;
        let mut wants = |name: &str| {
            let hit = all || path == name;
            matched |= hit;
            hit
        };
        if wants("key") {
            patch.key = Some(optional_key(&mut v, "customer.key", &c.key));
        }
        if wants("name") {
            if c.name.is_empty() {
                v.add("customer.name", "is required and cannot be cleared");
            } else {
                patch.name = v.check(Name::parse("customer.name", &c.name));
            }
        }
        if wants("description") {
            patch.description = v.check(Description::parse("customer.description", &c.description));
        }
        if wants("metadata") {
            patch.metadata = Some(metadata(&mut v, "customer.metadata", &c.metadata));
        }
        if wants("usage_attribution.subject_keys") | wants("usage_attribution") {
            patch.subject_keys = Some(subject_keys(
                &mut v,
                "customer.usage_attribution.subject_keys",
                c,
            ));
        }
        if wants("primary_email") {
            patch.primary_email = v.check(Email::parse("customer.primary_email", &c.primary_email));
        }
        if wants("currency") {
            patch.currency = v.check(Currency::parse("customer.currency", &c.currency));
        }
        let whole_address = wants("billing_address");
        let b = &mut patch.billing_address;
        if whole_address || wants("billing_address.country") {
            b.country = v.check(CountryCode::parse(
                "customer.billing_address.country",
                &addr.country,
            ));
        }
        let parts: [(&str, &mut Option<Option<ShortText>>); 6] = [
            ("postal_code", &mut b.postal_code),
            ("state", &mut b.state),
            ("city", &mut b.city),
            ("line1", &mut b.line1),
            ("line2", &mut b.line2),
            ("phone_number", &mut b.phone_number),
        ];
        for (name, slot) in parts {
            if whole_address || wants(&format!("billing_address.{name}")) {
                let field = format!("customer.billing_address.{name}");
                *slot = v.check(ShortText::parse(&field, address_part(addr, name)));
            }
        }
        if !matched {
            let description = if OUTPUT_ONLY.contains(&path.as_str()) {
                format!("{path:?} is output only and cannot be updated")
            } else {
                format!("{path:?} is not an updatable field of Customer")
            };
            v.add(format!("update_mask.paths[{i}]"), description);
        }
    }
    v.finish()?;
    Ok(patch)
}

/// A ListCustomers call as a query.
pub fn customer_query(r: &pb::ListCustomersRequest) -> Result<CustomerQuery> {
    let mut v = Violations::new();
    let page_size = v.check(page::page_size("page_size", r.page_size));
    let order = v.check(Order::parse("order_by", &r.order_by));
    let mut filter_of =
        |field: &str, raw: &str, max: usize| v.check(values::filter(field, raw, max)).flatten();
    let filter = CustomerFilter {
        key: filter_of("key", &r.key, values::MAX_SHORT_TEXT),
        subject_key: filter_of("subject_key", &r.subject_key, values::MAX_SHORT_TEXT),
        primary_email_lower: filter_of("primary_email", &r.primary_email, values::MAX_EMAIL)
            .map(|e| e.to_lowercase()),
        name_prefix_lower: filter_of("name", &r.name, values::MAX_SHORT_TEXT)
            .map(|n| n.to_lowercase()),
        show_deleted: r.show_deleted,
    };
    let after = order.and_then(|order| {
        let fingerprint = CustomerQuery::fingerprint(&filter, order);
        v.check(page::decode_token(
            "page_token",
            &r.page_token,
            &fingerprint,
            order.sort_kind(),
        ))
    });
    v.finish()?;
    match (page_size, order, after) {
        (Some(page_size), Some(order), Some(after)) => Ok(CustomerQuery {
            filter,
            order,
            page_size,
            after,
        }),
        _ => Err(Error::Internal(
            "list query parsed with missing parts".into(),
        )),
    }
}

/// A violation for a field that must be set.
pub fn required(field: &str) -> Error {
    Error::InvalidArgument(vec![FieldViolation::new(field, "is required")])
}

/// The id of the customer an UpdateCustomer call changes.
pub fn customer_id(c: &pb::Customer) -> Result<ResourceId> {
    ResourceId::parse("customer.id", &c.id).map_err(|v| Error::InvalidArgument(vec![v]))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;
    use crate::domain::page::WireSize;
    use crate::domain::values::{
        MAX_DESCRIPTION, MAX_EMAIL, MAX_METADATA_ENTRIES, MAX_METADATA_KEY, MAX_METADATA_VALUE,
        MAX_SHORT_TEXT,
    };

    fn customer(fields: CustomerFields) -> Customer {
        Customer {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            fields,
            created_at: Timestamp(i64::MAX),
            updated_at: Timestamp(i64::MIN),
            deleted_at: Some(Timestamp(-1)),
            etag: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn customer_size_estimates_bound_their_encoding() {
        let long = |n: usize| "𝄞".repeat(n);
        let short = || Some(ShortText::from_stored(long(MAX_SHORT_TEXT)));
        let metadata: BTreeMap<String, String> = (0..MAX_METADATA_ENTRIES)
            .map(|i| {
                let key = format!("{i:0width$}", width = MAX_METADATA_KEY);
                (key, long(MAX_METADATA_VALUE))
            })
            .collect();
        let largest = customer(CustomerFields {
            key: Some(Identifier::from_stored(long(MAX_SHORT_TEXT))),
            name: Name::from_stored(long(MAX_SHORT_TEXT)),
            description: Some(Description::from_stored(long(MAX_DESCRIPTION))),
            metadata: Metadata::from_stored(metadata),
            subject_keys: (0..crate::domain::customer::MAX_SUBJECT_KEYS)
                .map(|_| Identifier::from_stored(long(MAX_SHORT_TEXT)))
                .collect(),
            primary_email: Some(Email::from_stored(long(MAX_EMAIL))),
            currency: Some(Currency::from_stored("EUR".into())),
            billing_address: Address {
                country: Some(CountryCode::from_stored("DE".into())),
                postal_code: short(),
                state: short(),
                city: short(),
                line1: short(),
                line2: short(),
                phone_number: short(),
            },
        });
        let smallest = customer(CustomerFields {
            key: None,
            name: Name::from_stored("n".into()),
            description: None,
            metadata: Metadata::default(),
            subject_keys: vec![Identifier::from_stored("s".into())],
            primary_email: None,
            currency: None,
            billing_address: Address::default(),
        });
        for c in [largest, smallest] {
            let estimate = c.wire_size();
            let encoded = customer_to_pb(c).encoded_len();
            assert!(encoded <= estimate, "{encoded} > {estimate}");
        }
    }
}
