//! Remembered responses of create-like calls.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::idempotency_record as rec;
use super::query::insert;
use super::read::Reader;
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::{Namespace, Timestamp};

/// A remembered response: the hash of the request and the response it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// SHA-256 of the canonical request.
    pub request_hash: String,
    /// The response, serialized by the service layer.
    pub response: String,
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The remembered response of (namespace, method, request_id), if any (read on the writer).
    pub(super) async fn idempotency_record(
        &self,
        ns: &Namespace,
        method: &str,
        request_id: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let row = rec::Entity::find()
            .filter(rec::Column::Namespace.eq(ns.as_str()))
            .filter(rec::Column::Method.eq(method))
            .filter(rec::Column::RequestId.eq(request_id))
            .one(self.writer)
            .await
            .map_err(StoreError::from_db)?;
        Ok(row.map(|row| IdempotencyRecord {
            request_hash: row.request_hash,
            response: row.response,
        }))
    }
}

impl Store {
    /// Forgets records created before `cutoff`; returns how many.
    pub async fn purge_idempotency_records(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let result = rec::Entity::delete_many()
            .filter(rec::Column::CreatedAt.lt(cutoff.micros()))
            .exec(&self.writer)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected)
    }
}

impl Tx {
    /// Remembers a response, recorded `at`, in the same transaction as the work.
    /// `UniqueViolation` if a concurrent call with the same request_id got there first.
    pub async fn put_idempotency_record(
        &self,
        ns: &Namespace,
        method: &str,
        request_id: &str,
        record: IdempotencyRecord,
        at: Timestamp,
    ) -> StoreResult<()> {
        insert(
            &self.inner,
            [rec::ActiveModel {
                namespace: Set(ns.as_str().to_owned()),
                method: Set(method.to_owned()),
                request_id: Set(request_id.to_owned()),
                request_hash: Set(record.request_hash),
                response: Set(record.response),
                created_at: Set(at.micros()),
            }],
        )
        .await
    }
}
