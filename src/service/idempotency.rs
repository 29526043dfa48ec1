//! request_id idempotency: the same request again gets the original response; the same
//! request_id with another request is REQUEST_ID_REUSED.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::domain::values::RequestId;
use crate::domain::{Error, Namespace, Result};
use crate::storage::{IdempotencyRecord, Store};

/// How long remembered responses are kept at least.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A request that carries a request_id: its identity and its fingerprint.
pub struct Idempotent<'a> {
    /// The API method, e.g. `CreateCustomer`.
    pub method: &'static str,
    /// The caller's request id.
    pub request_id: &'a RequestId,
    /// SHA-256 of the canonical request.
    pub request_hash: String,
}

impl<'a> Idempotent<'a> {
    /// Fingerprints `request` for `method`. A request that cannot be serialized is an internal
    /// error, never an empty fingerprint (which every such request would share).
    pub fn new(
        method: &'static str,
        request_id: &'a RequestId,
        request: &impl Serialize,
    ) -> Result<Self> {
        let canonical = serde_json::to_vec(request).map_err(|e| {
            Error::Internal(format!("cannot fingerprint the {method} request: {e}"))
        })?;
        let digest = Sha256::digest(&canonical);
        Ok(Self {
            method,
            request_id,
            request_hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// The remembered response, if this request_id was seen before (REQUEST_ID_REUSED if it was
    /// seen with another request).
    pub async fn replay<T: DeserializeOwned>(
        &self,
        store: &Store,
        ns: &Namespace,
    ) -> Result<Option<T>> {
        let Some(record) = store
            .idempotency_record(ns, self.method, self.request_id.as_str())
            .await?
        else {
            return Ok(None);
        };
        if record.request_hash != self.request_hash {
            return Err(Error::RequestIdReused {
                request_id: self.request_id.as_str().to_owned(),
            });
        }
        serde_json::from_str(&record.response)
            .map(Some)
            .map_err(|e| {
                Error::Internal(format!(
                    "stored response of {} is unreadable: {e}",
                    self.method
                ))
            })
    }

    /// The record that remembers `response` for this request.
    pub fn record(&self, response: &impl Serialize) -> Result<IdempotencyRecord> {
        let response = serde_json::to_string(response)
            .map_err(|e| Error::Internal(format!("cannot serialize response: {e}")))?;
        Ok(IdempotencyRecord {
            request_hash: self.request_hash.clone(),
            response,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::ser::Error as _;

    use super::*;

    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(S::Error::custom("no"))
        }
    }

    fn rid(s: &str) -> RequestId {
        RequestId::parse("request_id", s).unwrap().unwrap()
    }

    #[test]
    fn a_request_that_cannot_be_serialized_has_no_fingerprint() {
        let id = rid("r-1");
        let err = Idempotent::new("CreateCustomer", &id, &Unserializable).err();
        assert!(matches!(err, Some(Error::Internal(_))), "{err:?}");
    }

    #[test]
    fn different_requests_have_different_fingerprints() {
        let id = rid("r-1");
        let a = Idempotent::new("CreateCustomer", &id, &("a", 1)).unwrap();
        let b = Idempotent::new("CreateCustomer", &id, &("a", 2)).unwrap();
        let a2 = Idempotent::new("CreateCustomer", &id, &("a", 1)).unwrap();
        assert_ne!(a.request_hash, b.request_hash);
        assert_eq!(a.request_hash, a2.request_hash);
    }
}
