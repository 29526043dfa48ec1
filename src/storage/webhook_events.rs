//! Stripe webhook events already processed, per app (replays are refused by the primary key).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::webhook_event as we;
use super::query::insert;
use super::read::Reader;
use super::{StoreResult, Tx};
use crate::domain::{Namespace, Timestamp};

impl<C: ConnectionTrait> Reader<'_, C> {
    /// Whether the app's event was processed already (a hint that saves work before the
    /// processing's own transaction, which alone decides: by its insert).
    pub(super) async fn webhook_event_processed(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str,
    ) -> StoreResult<bool> {
        let select = we::Entity::find()
            .filter(we::Column::Namespace.eq(ns.as_str()))
            .filter(we::Column::AppId.eq(app_id))
            .filter(we::Column::EventId.eq(event_id));
        Ok(self.one(select, |_| Ok(())).await?.is_some())
    }
}

impl Tx {
    /// Records that the app's event was processed at `at`. `UniqueViolation` if it already was
    /// (a replay, or a concurrent delivery of the same event).
    pub async fn record_webhook_event(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str,
        event_type: &str,
        event_created: i64,
        at: Timestamp,
    ) -> StoreResult<()> {
        insert(
            &self.inner,
            [we::ActiveModel {
                app_id: Set(app_id.to_owned()),
                event_id: Set(event_id.to_owned()),
                event_type: Set(event_type.to_owned()),
                event_created: Set(event_created),
                processed_at: Set(at.micros()),
                namespace: Set(ns.as_str().to_owned()),
            }],
        )
        .await
    }
}
