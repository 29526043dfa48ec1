//! Parsed values. Each `parse` takes the field path (for the error) and the raw input; a value
//! that exists is valid. Lengths are counted in characters (Unicode scalar values).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FieldViolation;
use super::iso;

/// Most characters of a name, key, subject key or address field.
pub const MAX_SHORT_TEXT: usize = 256;
/// Most characters of a description.
pub const MAX_DESCRIPTION: usize = 1024;
/// Most metadata entries.
pub const MAX_METADATA_ENTRIES: usize = 50;
/// Most characters of a metadata key.
pub const MAX_METADATA_KEY: usize = 64;
/// Most characters of a metadata value.
pub const MAX_METADATA_VALUE: usize = 512;
/// Most characters of an email address.
pub const MAX_EMAIL: usize = 254;
/// Most characters of a request id.
pub const MAX_REQUEST_ID: usize = 128;

fn char_len(value: &str) -> usize {
    value.chars().count()
}

/// Checks that `raw` is text both databases store exactly as given: PostgreSQL rejects the NUL
/// character (U+0000) in `text` (and in `jsonb` strings and keys), SQLite would keep it. Every
/// string that reaches storage, as a value or as a filter, goes through here (or through a
/// stricter check that also rejects control characters), so the two databases agree and neither
/// turns a NUL into an INTERNAL error. Rust strings are UTF-8 already: no lone surrogates.
pub fn storable(field: &str, raw: &str) -> Result<(), FieldViolation> {
    if raw.contains('\0') {
        return Err(FieldViolation::new(
            field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

/// The one check of free text: storable (see [`storable`]) and at most `max` characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<(), FieldViolation> {
    storable(field, raw)?;
    let len = char_len(raw);
    if len > max {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max} characters (got {len})"),
        ));
    }
    Ok(())
}

/// Parses an optional list filter (empty means no filter): storable text of at most `max`
/// characters.
pub fn filter(field: &str, raw: &str, max: usize) -> Result<Option<String>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    text(field, raw, max)?;
    Ok(Some(raw.to_owned()))
}

/// Checks that every string and object key in `value` is storable (see [`storable`]), naming
/// the first offending one by its path under `field`.
pub fn json_storable(field: &str, value: &serde_json::Value) -> Result<(), FieldViolation> {
    match value {
        serde_json::Value::String(s) => storable(field, s),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| json_storable(&format!("{field}[{i}]"), item)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            let path = format!("{field}[{key:?}]");
            storable(&path, key)?;
            json_storable(&path, item)
        }),
        _ => Ok(()),
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }

            /// A value read back from storage, where only valid values are written.
            pub fn from_stored(value: String) -> Self {
                Self(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A display name: 1..256 characters, not only white space.
    Name
);
string_newtype!(
    /// An attribution identifier (customer key or subject key): 1..256 characters, no control
    /// characters, not only white space. Case-sensitive; kept exactly as given.
    Identifier
);
string_newtype!(
    /// Free text of at most 1024 characters.
    Description
);
string_newtype!(
    /// A short optional text field (address parts): at most 256 characters.
    ShortText
);
string_newtype!(
    /// An email address (addr-spec), at most 254 characters.
    Email
);
string_newtype!(
    /// An active ISO 4217 currency code, upper case.
    Currency
);
string_newtype!(
    /// An ISO 3166-1 alpha-2 country code, upper case.
    CountryCode
);
string_newtype!(
    /// A resource id: a ULID (26 characters of Crockford base32), upper case.
    ResourceId
);
string_newtype!(
    /// A caller's idempotency key: 1..128 characters, no control characters.
    RequestId
);

impl Name {
    /// Parses a required name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        if raw.trim().is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        text(field, raw, MAX_SHORT_TEXT)?;
        Ok(Self(raw.to_owned()))
    }
}

impl Identifier {
    /// Parses a customer key or subject key.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "must not be empty"));
        }
        if raw.trim().is_empty() {
            return Err(FieldViolation::new(field, "must not be only white space"));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        text(field, raw, MAX_SHORT_TEXT)?;
        Ok(Self(raw.to_owned()))
    }
}

impl Description {
    /// Parses a description (empty means none).
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        text(field, raw, MAX_DESCRIPTION)?;
        Ok(Some(Self(raw.to_owned())))
    }
}

impl ShortText {
    /// Parses an optional short text (empty means none).
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        text(field, raw, MAX_SHORT_TEXT)?;
        Ok(Some(Self(raw.to_owned())))
    }
}

impl Email {
    /// Parses an optional email address (empty means none): one `@`, a non-empty local part, a
    /// domain of non-empty dot-separated labels with at least one dot, no white space or control
    /// characters.
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        text(field, raw, MAX_EMAIL)?;
        let invalid = |why: &str| {
            Err(FieldViolation::new(
                field,
                format!("must be a valid email address ({why})"),
            ))
        };
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("no spaces or control characters");
        }
        let mut parts = raw.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return invalid("exactly one @");
        };
        if local.is_empty() {
            return invalid("the part before @ is empty");
        }
        if char_len(local) > 64 {
            return invalid("the part before @ is longer than 64 characters");
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return invalid("the domain needs dot-separated, non-empty labels, like example.com");
        }
        Ok(Some(Self(raw.to_owned())))
    }

    /// The address in lower case, for case-insensitive lookups.
    pub fn lowercase(&self) -> String {
        self.0.to_lowercase()
    }
}

impl Currency {
    /// Parses an optional currency code in any case (empty means none).
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        let upper = raw.to_ascii_uppercase();
        if upper.len() != 3 || !iso::is_active_currency(&upper) {
            return Err(FieldViolation::new(
                field,
                format!("{raw:?} is not an active ISO 4217 currency code (e.g. USD, EUR)"),
            ));
        }
        Ok(Some(Self(upper)))
    }
}

impl CountryCode {
    /// Parses an optional country code in any case (empty means none).
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        let upper = raw.to_ascii_uppercase();
        if upper.len() != 2 || !iso::is_country(&upper) {
            return Err(FieldViolation::new(
                field,
                format!("{raw:?} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE)"),
            ));
        }
        Ok(Some(Self(upper)))
    }
}

impl ResourceId {
    /// Parses a required id; lower case is accepted and returned upper case.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        match ulid::Ulid::from_string(raw) {
            Ok(id) => Ok(Self(id.to_string())),
            Err(_) => Err(FieldViolation::new(
                field,
                format!(
                    "{raw:?} is not an id (a ULID of 26 characters, e.g. 01ARZ3NDEKTSV4RRFFQ69G5FAV)"
                ),
            )),
        }
    }
}

impl RequestId {
    /// Parses an optional request id (empty means none).
    pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        text(field, raw, MAX_REQUEST_ID)?;
        Ok(Some(Self(raw.to_owned())))
    }
}

/// Labels: at most 50 entries, keys 1..64 characters, values at most 512 characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Parses a metadata map; every bad entry is reported.
    pub fn parse<'a>(
        field: &str,
        entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, Vec<FieldViolation>> {
        let map: BTreeMap<String, String> = entries
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut violations = Vec::new();
        if map.len() > MAX_METADATA_ENTRIES {
            violations.push(FieldViolation::new(
                field,
                format!(
                    "must have at most {MAX_METADATA_ENTRIES} entries (got {})",
                    map.len()
                ),
            ));
        }
        for (key, value) in &map {
            if let Err(v) = storable(&format!("{field}[{key:?}]"), key)
                .and_then(|()| storable(&format!("{field}[{key:?}]"), value))
            {
                violations.push(v);
                continue;
            }
            let key_len = char_len(key);
            if key_len == 0 || key_len > MAX_METADATA_KEY {
                violations.push(FieldViolation::new(
                    format!("{field}[{key:?}]"),
                    format!("keys must be 1..{MAX_METADATA_KEY} characters (got {key_len})"),
                ));
            }
            let value_len = char_len(value);
            if value_len > MAX_METADATA_VALUE {
                violations.push(FieldViolation::new(
                    format!("{field}[{key:?}]"),
                    format!(
                        "values must be at most {MAX_METADATA_VALUE} characters (got {value_len})"
                    ),
                ));
            }
        }
        if violations.is_empty() {
            Ok(Self(map))
        } else {
            Err(violations)
        }
    }

    /// The entries, sorted by key.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Metadata from already stored (validated) entries.
    pub fn from_stored(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reject_empty_blank_control_and_long_values() {
        assert!(Identifier::parse("k", "my-database-id").is_ok());
        assert!(Identifier::parse("k", " spaced key ").is_ok());
        assert!(Identifier::parse("k", "").is_err());
        assert!(Identifier::parse("k", "   ").is_err());
        assert!(Identifier::parse("k", "a\nb").is_err());
        assert!(Identifier::parse("k", &"é".repeat(256)).is_ok());
        assert!(Identifier::parse("k", &"é".repeat(257)).is_err());
    }

    #[test]
    fn nul_is_refused_in_every_text_and_filter() {
        assert_eq!(Name::parse("n", "a\0").unwrap_err().field, "n");
        assert!(Description::parse("d", "\0").is_err());
        assert!(ShortText::parse("s", "x\0y").is_err());
        assert!(Identifier::parse("k", "\0").is_err());
        assert!(Email::parse("e", "a\0@b.co").is_err());
        assert!(RequestId::parse("r", "\0").is_err());
        assert_eq!(filter("f", "", 5), Ok(None));
        assert_eq!(filter("f", "abc", 5), Ok(Some("abc".to_owned())));
        assert_eq!(filter("f", "a\0", 5).unwrap_err().field, "f");
        assert_eq!(filter("f", "abcdef", 5).unwrap_err().field, "f");
        let map = BTreeMap::from([("k\0".to_owned(), "v".to_owned())]);
        assert_eq!(
            Metadata::parse("m", &map).unwrap_err()[0].field,
            "m[\"k\\0\"]"
        );
        let json = serde_json::json!({"a": [1, {"b": "x\u{0}"}]});
        assert_eq!(
            json_storable("j", &json).unwrap_err().field,
            "j[\"a\"][1][\"b\"]"
        );
        assert!(json_storable("j", &serde_json::json!({"a": ["fine"]})).is_ok());
    }

    #[test]
    fn ids_are_ulids() {
        let id = ResourceId::parse("id", "01arz3ndektsv4rrffq69g5fav").expect("lower case");
        assert_eq!(id.as_str(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert!(ResourceId::parse("id", "").is_err());
        assert!(ResourceId::parse("id", "not-a-ulid").is_err());
        assert!(ResourceId::parse("id", "01ARZ3NDEKTSV4RRFFQ69G5FAVX").is_err());
    }

    #[test]
    fn emails_follow_the_addr_spec_subset() {
        for ok in ["a@b.co", "first.last+tag@mail.example.com", "ÁRVÍZ@tűrő.hu"] {
            assert!(Email::parse("e", ok).is_ok(), "{ok}");
        }
        for bad in [
            "plain", "@b.co", "a@", "a@b", "a@@b.co", "a@b@c.co", "a b@c.co", "a@b..co", "a@.b.co",
            "a@b.co.",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(186));
        assert_eq!(long.len(), 255);
        assert!(Email::parse("e", &long).is_err());
    }

    #[test]
    fn currency_and_country_are_case_insensitive_and_checked_against_the_lists() {
        assert_eq!(
            Currency::parse("c", "usd").unwrap().unwrap().as_str(),
            "USD"
        );
        assert!(Currency::parse("c", "DEM").is_err());
        assert!(Currency::parse("c", "US").is_err());
        assert_eq!(
            CountryCode::parse("c", "hu").unwrap().unwrap().as_str(),
            "HU"
        );
        assert!(CountryCode::parse("c", "UK").is_err());
        assert!(CountryCode::parse("c", "USA").is_err());
    }

    #[test]
    fn metadata_limits_name_the_entry() {
        let mut map = BTreeMap::new();
        map.insert("ok".to_owned(), "v".to_owned());
        map.insert("k".repeat(65), "v".to_owned());
        map.insert("big".to_owned(), "v".repeat(513));
        let err = Metadata::parse("m", &map).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err.iter().all(|v| v.field.starts_with("m[")));
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(Metadata::parse("m", &many).unwrap_err()[0].field, "m");
    }
}
