//! Customers: their fields, the attribution rule, updates and list queries.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::page::{self, Cursor, WireSize, wire};
use super::values::{
    CountryCode, Currency, Description, Email, Identifier, Metadata, Name, ResourceId, ShortText,
};
use super::{FieldViolation, Timestamp};

/// Most subject keys one customer can have.
pub const MAX_SUBJECT_KEYS: usize = 100;

/// A billing address; every part optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<CountryCode>,
    /// Postal code.
    pub postal_code: Option<ShortText>,
    /// State or region.
    pub state: Option<ShortText>,
    /// City.
    pub city: Option<ShortText>,
    /// First line.
    pub line1: Option<ShortText>,
    /// Second line.
    pub line2: Option<ShortText>,
    /// Phone number.
    pub phone_number: Option<ShortText>,
}

/// The fields of a customer that callers write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFields {
    /// The caller's own id for the customer.
    pub key: Option<Identifier>,
    /// Display name.
    pub name: Name,
    /// Free text.
    pub description: Option<Description>,
    /// Labels.
    pub metadata: Metadata,
    /// Subject keys, sorted and without duplicates.
    pub subject_keys: Vec<Identifier>,
    /// Billing email.
    pub primary_email: Option<Email>,
    /// Billing currency.
    pub currency: Option<Currency>,
    /// Billing address.
    pub billing_address: Address,
}

impl CustomerFields {
    /// The attribution rule: a customer needs a key or at least one subject key, or its usage
    /// could not be attributed. `field` names the customer in the request.
    pub fn check_attribution(&self, field: &str) -> Result<(), FieldViolation> {
        if self.key.is_none() && self.subject_keys.is_empty() {
            return Err(FieldViolation::new(
                format!("{field}.key"),
                "a customer needs a key or at least one usage_attribution.subject_keys entry",
            ));
        }
        Ok(())
    }

    /// The attribution identifiers this customer holds: its key and its subject keys.
    pub fn identifiers(&self) -> BTreeSet<&Identifier> {
        self.key.iter().chain(self.subject_keys.iter()).collect()
    }
}

/// Parses a subject key list: at most 100, each a valid identifier, no duplicates. Returned
/// sorted.
pub fn parse_subject_keys(
    field: &str,
    raw: &[String],
) -> Result<Vec<Identifier>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    if raw.len() > MAX_SUBJECT_KEYS {
        violations.push(FieldViolation::new(
            field,
            format!(
                "must have at most {MAX_SUBJECT_KEYS} entries (got {})",
                raw.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut keys = Vec::with_capacity(raw.len());
    for (i, key) in raw.iter().enumerate() {
        let path = format!("{field}[{i}]");
        match Identifier::parse(&path, key) {
            Ok(id) if !seen.insert(id.clone()) => {
                violations.push(FieldViolation::new(
                    path,
                    format!("duplicate subject key {key:?}"),
                ));
            }
            Ok(id) => keys.push(id),
            Err(v) => violations.push(v),
        }
    }
    if violations.is_empty() {
        keys.sort();
        Ok(keys)
    } else {
        Err(violations)
    }
}

/// A stored customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// ULID.
    pub id: String,
    /// Writable fields.
    #[serde(flatten)]
    pub fields: CustomerFields,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// Soft-delete time.
    pub deleted_at: Option<Timestamp>,
    /// Version tag, new on every write.
    pub etag: String,
}

impl Customer {
    /// Whether the customer is live (not soft-deleted).
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

impl WireSize for Customer {
    fn wire_size(&self) -> usize {
        let f = &self.fields;
        let a = &f.billing_address;
        let address = wire::FIELD
            + wire::opt(&a.country)
            + wire::opt(&a.postal_code)
            + wire::opt(&a.state)
            + wire::opt(&a.city)
            + wire::opt(&a.line1)
            + wire::opt(&a.line2)
            + wire::opt(&a.phone_number);
        let subject_keys: usize = f.subject_keys.iter().map(|k| wire::text(k.as_str())).sum();
        wire::ITEM
            + wire::text(&self.id)
            + wire::opt(&f.key)
            + wire::text(f.name.as_str())
            + wire::opt(&f.description)
            + wire::map(f.metadata.entries())
            + wire::FIELD
            + subject_keys
            + wire::opt(&f.primary_email)
            + wire::opt(&f.currency)
            + address
            + 3 * wire::TIMESTAMP
            + wire::text(&self.etag)
    }
}

/// How a single customer is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerLookup {
    /// By id: deleted customers are found too.
    Id(ResourceId),
    /// By key: only the live holder.
    Key(Identifier),
    /// OpenMeter's `{customerIdOrKey}`: the customer with this id if there is one, else the live
    /// holder of this key. Either part is `None` when the text cannot be one.
    IdOrKey {
        /// The text as an id.
        id: Option<ResourceId>,
        /// The text as a key.
        key: Option<Identifier>,
    },
}

impl CustomerLookup {
    /// Parses an id-or-key: valid when the text is an id or a key.
    pub fn id_or_key(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let id = ResourceId::parse(field, raw).ok();
        match (id, Identifier::parse(field, raw)) {
            (None, Err(violation)) => Err(violation),
            (id, key) => Ok(Self::IdOrKey { id, key: key.ok() }),
        }
    }

    /// What the lookup names, for errors: (`id`, `key` or `id_or_key`, the text).
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Self::Id(id) => ("id", id.as_str().to_owned()),
            Self::Key(key) => ("key", key.as_str().to_owned()),
            Self::IdOrKey { id, key } => (
                "id_or_key",
                id.as_ref()
                    .map(|i| i.as_str().to_owned())
                    .or_else(|| key.as_ref().map(|k| k.as_str().to_owned()))
                    .unwrap_or_default(),
            ),
        }
    }
}

/// A change to the address: each part `Some` is set (`Some(None)` clears).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPatch {
    /// Country.
    pub country: Option<Option<CountryCode>>,
    /// Postal code.
    pub postal_code: Option<Option<ShortText>>,
    /// State.
    pub state: Option<Option<ShortText>>,
    /// City.
    pub city: Option<Option<ShortText>>,
    /// Line 1.
    pub line1: Option<Option<ShortText>>,
    /// Line 2.
    pub line2: Option<Option<ShortText>>,
    /// Phone.
    pub phone_number: Option<Option<ShortText>>,
}

/// A change to a customer: only the fields that are `Some` change; `Some(None)` clears.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    /// New key.
    pub key: Option<Option<Identifier>>,
    /// New name (cannot be cleared).
    pub name: Option<Name>,
    /// New description.
    pub description: Option<Option<Description>>,
    /// New metadata (replaces the map).
    pub metadata: Option<Metadata>,
    /// New subject key set (replaces the set).
    pub subject_keys: Option<Vec<Identifier>>,
    /// New email.
    pub primary_email: Option<Option<Email>>,
    /// New currency.
    pub currency: Option<Option<Currency>>,
    /// Address changes.
    pub billing_address: AddressPatch,
}

fn set<T: Clone>(target: &mut T, change: &Option<T>) {
    if let Some(value) = change {
        *target = value.clone();
    }
}

impl CustomerPatch {
    /// The fields after this change.
    pub fn apply(&self, current: &CustomerFields) -> CustomerFields {
        let mut next = current.clone();
        set(&mut next.key, &self.key);
        set(&mut next.name, &self.name);
        set(&mut next.description, &self.description);
        set(&mut next.metadata, &self.metadata);
        set(&mut next.subject_keys, &self.subject_keys);
        set(&mut next.primary_email, &self.primary_email);
        set(&mut next.currency, &self.currency);
        let (a, p) = (&mut next.billing_address, &self.billing_address);
        set(&mut a.country, &p.country);
        set(&mut a.postal_code, &p.postal_code);
        set(&mut a.state, &p.state);
        set(&mut a.city, &p.city);
        set(&mut a.line1, &p.line1);
        set(&mut a.line2, &p.line2);
        set(&mut a.phone_number, &p.phone_number);
        next
    }
}

/// The column a customer list is ordered by (the id always breaks ties).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    /// By name (byte order of the stored name).
    Name,
    /// By creation time.
    CreatedAt,
    /// By id.
    Id,
}

/// A list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The column.
    pub field: OrderField,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl Order {
    /// Parses `name` (default), `created_at` or `id`, each optionally followed by ` desc` (or
    /// ` asc`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let mut words = raw.split_whitespace();
        let column = words.next().unwrap_or("name");
        let direction = words.next();
        let invalid = || {
            FieldViolation::new(
                field,
                format!(
                    "{raw:?} is not an order: use name, created_at or id, optionally followed by desc"
                ),
            )
        };
        if words.next().is_some() {
            return Err(invalid());
        }
        let field_ = match column {
            "name" => OrderField::Name,
            "created_at" | "createdAt" => OrderField::CreatedAt,
            "id" => OrderField::Id,
            _ => return Err(invalid()),
        };
        let descending = match direction.map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(invalid()),
        };
        Ok(Self {
            field: field_,
            descending,
        })
    }

    /// The shape of this order's page-token cursors.
    pub fn sort_kind(self) -> page::SortKind {
        match self.field {
            OrderField::Name => page::SortKind::Text,
            OrderField::CreatedAt => page::SortKind::Int,
            OrderField::Id => page::SortKind::Id,
        }
    }

    fn describe(self) -> &'static str {
        match (self.field, self.descending) {
            (OrderField::Name, false) => "name",
            (OrderField::Name, true) => "name desc",
            (OrderField::CreatedAt, false) => "created_at",
            (OrderField::CreatedAt, true) => "created_at desc",
            (OrderField::Id, false) => "id",
            (OrderField::Id, true) => "id desc",
        }
    }
}

impl CustomerPatch {
    /// A full replace: every field becomes the one of `fields` (absent ones are cleared).
    pub fn replace(fields: CustomerFields) -> Self {
        let a = fields.billing_address;
        Self {
            key: Some(fields.key),
            name: Some(fields.name),
            description: Some(fields.description),
            metadata: Some(fields.metadata),
            subject_keys: Some(fields.subject_keys),
            primary_email: Some(fields.primary_email),
            currency: Some(fields.currency),
            billing_address: AddressPatch {
                country: Some(a.country),
                postal_code: Some(a.postal_code),
                state: Some(a.state),
                city: Some(a.city),
                line1: Some(a.line1),
                line2: Some(a.line2),
                phone_number: Some(a.phone_number),
            },
        }
    }
}

/// Filters of a customer list (all combined with AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Exact key.
    pub key: Option<String>,
    /// Exact subject key.
    pub subject_key: Option<String>,
    /// Email, lower-cased (matched case-insensitively).
    pub primary_email_lower: Option<String>,
    /// Name prefix, lower-cased (matched case-insensitively).
    pub name_prefix_lower: Option<String>,
    /// Include soft-deleted customers.
    pub show_deleted: bool,
}

/// One page request of a customer list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Filters.
    pub filter: CustomerFilter,
    /// Order.
    pub order: Order,
    /// Rows per page.
    pub page_size: u64,
    /// Start after this row.
    pub after: Option<Cursor>,
}

impl CustomerQuery {
    /// The fingerprint that binds page tokens to these filters and this order.
    pub fn fingerprint(filter: &CustomerFilter, order: Order) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        page::fingerprint(&[
            "customers",
            order.describe(),
            &opt(&filter.key),
            &opt(&filter.subject_key),
            &opt(&filter.primary_email_lower),
            &opt(&filter.name_prefix_lower),
            if filter.show_deleted {
                "deleted"
            } else {
                "live"
            },
        ])
    }

    /// The cursor that continues after `customer` in this order.
    pub fn cursor_after(&self, customer: &Customer) -> Cursor {
        let value = match self.order.field {
            OrderField::Name => page::SortValue::Text(customer.fields.name.as_str().to_owned()),
            OrderField::CreatedAt => page::SortValue::Int(customer.created_at.micros()),
            OrderField::Id => page::SortValue::None,
        };
        Cursor {
            value,
            id: customer.id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_parse_with_direction() {
        let o = Order::parse("o", "").unwrap();
        assert_eq!((o.field, o.descending), (OrderField::Name, false));
        let o = Order::parse("o", "created_at desc").unwrap();
        assert_eq!((o.field, o.descending), (OrderField::CreatedAt, true));
        assert!(Order::parse("o", "email").is_err());
        assert!(Order::parse("o", "id sideways").is_err());
        assert!(Order::parse("o", "id desc more").is_err());
    }

    #[test]
    fn subject_keys_are_sorted_and_duplicates_named_by_index() {
        let keys = parse_subject_keys("s", &["b".into(), "a".into()]).unwrap();
        assert_eq!(
            keys.iter().map(Identifier::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let err = parse_subject_keys("s", &["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert_eq!(err[0].field, "s[2]");
        let many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
        assert_eq!(parse_subject_keys("s", &many).unwrap_err()[0].field, "s");
    }
}
