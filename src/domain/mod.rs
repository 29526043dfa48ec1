//! Types and rules of the product. Knows nothing of tonic, protobuf, SeaORM or Stripe: values
//! that come out of this module's `parse` functions are valid by construction.

pub mod app;
pub mod checkout;
pub mod clock;
pub mod collected;
pub mod customer;
pub mod error;
pub mod event;
pub mod iso;
pub mod page;
pub mod portal;
pub mod subject;
pub mod values;

pub use error::{Error, FieldViolation, Result};

use std::fmt;

/// The tenant a request acts for. Every stored row and every uniqueness rule is per namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// The namespace of a server that runs without API keys.
    pub const DEFAULT: &'static str = "default";

    /// A namespace with the given name (names come from configuration, never from requests).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name of the namespace.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new(Self::DEFAULT)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point in time, in microseconds since the Unix epoch (the precision both databases keep).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> i64 {
        self.0
    }
}

/// A new server-generated id (ULID, 26 characters of Crockford base32).
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// A new opaque etag.
pub fn new_etag() -> String {
    format!("{:016x}", rand::random::<u64>())
}
