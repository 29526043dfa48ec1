//! Installed apps (Stripe accounts) with their encrypted secrets.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Select, Set,
};

use super::entities::app;
use super::query::{Sort, insert, page};
use super::read::Reader;
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::app::{App, AppSecrets, AppStatus};
use crate::domain::page::Cursor;
use crate::domain::values::{Description, Metadata, Name};
use crate::domain::{Namespace, Timestamp};

/// The stored `app_type` of every app (the only type there is).
const APP_TYPE_STRIPE: &str = "stripe";

fn to_domain(row: app::Model) -> StoreResult<(App, AppSecrets)> {
    let metadata: BTreeMap<String, String> = serde_json::from_str(&row.metadata).map_err(|e| {
        StoreError::Db(DbErr::Custom(format!(
            "app {} has unreadable metadata: {e}",
            row.id
        )))
    })?;
    let app = App {
        name: Name::from_stored(row.name),
        description: row.description.map(Description::from_stored),
        metadata: Metadata::from_stored(metadata),
        status: AppStatus::from_stored(&row.status),
        is_default: row.is_default,
        stripe_account_id: row.stripe_account_id,
        livemode: row.livemode,
        masked_api_key: row.masked_api_key,
        webhook_endpoint_id: row.webhook_endpoint_id,
        webhook_url: row.webhook_url,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        deleted_at: row.deleted_at.map(Timestamp),
        id: row.id,
    };
    let secrets = AppSecrets {
        api_key_ciphertext: row.api_key_ciphertext,
        webhook_secret_ciphertext: row.webhook_secret_ciphertext,
    };
    Ok((app, secrets))
}

fn to_row(ns: &Namespace, a: &App, secrets: &AppSecrets) -> StoreResult<app::ActiveModel> {
    let metadata = serde_json::to_string(a.metadata.entries()).map_err(|e| {
        StoreError::Db(DbErr::Custom(format!(
            "app {} metadata cannot be written: {e}",
            a.id
        )))
    })?;
    Ok(app::ActiveModel {
        id: Set(a.id.clone()),
        namespace: Set(ns.as_str().to_owned()),
        app_type: Set(APP_TYPE_STRIPE.to_owned()),
        name: Set(a.name.as_str().to_owned()),
        description: Set(a.description.as_ref().map(|d| d.as_str().to_owned())),
        metadata: Set(metadata),
        status: Set(a.status.as_str().to_owned()),
        is_default: Set(a.is_default),
        stripe_account_id: Set(a.stripe_account_id.clone()),
        livemode: Set(a.livemode),
        masked_api_key: Set(a.masked_api_key.clone()),
        api_key_ciphertext: Set(secrets.api_key_ciphertext.clone()),
        webhook_endpoint_id: Set(a.webhook_endpoint_id.clone()),
        webhook_url: Set(a.webhook_url.clone()),
        webhook_secret_ciphertext: Set(secrets.webhook_secret_ciphertext.clone()),
        webhook_events: sea_orm::ActiveValue::NotSet,
        created_at: Set(a.created_at.micros()),
        updated_at: Set(a.updated_at.micros()),
        deleted_at: Set(a.deleted_at.map(Timestamp::micros)),
    })
}

fn by_id(ns: &Namespace, id: &str) -> Select<app::Entity> {
    app::Entity::find()
        .filter(app::Column::Namespace.eq(ns.as_str()))
        .filter(app::Column::Id.eq(id))
}

/// `updated_at` is also the app's version (conditional writes compare it): every write moves it
/// forward, by at least a microsecond even when the clock did not.
fn bumped_updated_at(at: Timestamp) -> Expr {
    Expr::case(
        Expr::col(app::Column::UpdatedAt).lt(at.micros()),
        Expr::val(at.micros()),
    )
    .finally(Expr::col(app::Column::UpdatedAt).add(1))
    .into()
}

fn live_default(ns: &Namespace) -> Select<app::Entity> {
    app::Entity::find()
        .filter(app::Column::Namespace.eq(ns.as_str()))
        .filter(app::Column::DeletedAt.is_null())
        .filter(app::Column::IsDefault.eq(true))
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The app with this id, live or deleted, with its secrets.
    pub(super) async fn app_by_id(
        &self,
        ns: &Namespace,
        id: &str,
    ) -> StoreResult<Option<(App, AppSecrets)>> {
        self.one(by_id(ns, id), to_domain).await
    }

    /// The namespace's live default app, with its secrets.
    pub(super) async fn default_app(
        &self,
        ns: &Namespace,
    ) -> StoreResult<Option<(App, AppSecrets)>> {
        self.one(live_default(ns), to_domain).await
    }

    /// Whether the namespace has a live default app.
    pub(super) async fn has_live_default_app(&self, ns: &Namespace) -> StoreResult<bool> {
        let count = live_default(ns)
            .count(self.db)
            .await
            .map_err(StoreError::from_db)?;
        Ok(count > 0)
    }

    /// Up to `limit` apps ordered by (created_at, id), after `after` if given. `after.value`
    /// must be the created_at (`SortValue::Int`) of the last app of the previous page.
    pub(super) async fn list_apps(
        &self,
        ns: &Namespace,
        show_deleted: bool,
        after: Option<&Cursor>,
        limit: u64,
    ) -> StoreResult<Vec<App>> {
        use app::Column as C;
        let mut select = app::Entity::find().filter(C::Namespace.eq(ns.as_str()));
        if !show_deleted {
            select = select.filter(C::DeletedAt.is_null());
        }
        let select = page(select, Sort::Int(C::CreatedAt), C::Id, after, false, limit)?;
        self.all(select, |row| to_domain(row).map(|(app, _)| app))
            .await
    }

    /// The app with this id in any namespace (a webhook URL carries only the app id), live or
    /// deleted, with its namespace and secrets.
    pub(super) async fn app_for_webhook(
        &self,
        app_id: &str,
    ) -> StoreResult<Option<(Namespace, App, AppSecrets)>> {
        let Some(row) = app::Entity::find()
            .filter(app::Column::Id.eq(app_id))
            .one(self.db)
            .await
            .map_err(StoreError::from_db)?
        else {
            return Ok(None);
        };
        let ns = Namespace::new(row.namespace.clone());
        let (app, secrets) = to_domain(row)?;
        Ok(Some((ns, app, secrets)))
    }
}

impl Store {
    /// Up to `limit` live apps, of every namespace, that have a webhook endpoint whose recorded
    /// event types are not `wanted` (or were never recorded), oldest first, with their
    /// namespaces and secrets. A global statement by design (the start-up refresh of endpoints
    /// registered before patron subscribed to more event types); each app's own updates that
    /// follow filter by its namespace.
    pub async fn apps_with_stale_webhook_events(
        &self,
        wanted: &str,
        limit: u64,
    ) -> StoreResult<Vec<(Namespace, App, AppSecrets)>> {
        use sea_orm::{Condition, QueryOrder, QuerySelect};
        let rows = app::Entity::find()
            .filter(app::Column::DeletedAt.is_null())
            .filter(app::Column::WebhookEndpointId.is_not_null())
            .filter(
                Condition::any()
                    .add(app::Column::WebhookEvents.is_null())
                    .add(app::Column::WebhookEvents.ne(wanted)),
            )
            .order_by_asc(app::Column::CreatedAt)
            .order_by_asc(app::Column::Id)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(StoreError::from_db)?;
        rows.into_iter()
            .map(|row| {
                let ns = Namespace::new(row.namespace.clone());
                to_domain(row).map(|(app, secrets)| (ns, app, secrets))
            })
            .collect()
    }

    /// Sets the status of the live app with this id while its API key is still the one stored
    /// as `key_ciphertext` (each encryption has its own nonce, so a rotated key never matches).
    /// Whether it was written (false: deleted, unknown or the key changed).
    pub async fn set_app_status_if_key(
        &self,
        ns: &Namespace,
        id: &str,
        key_ciphertext: &str,
        status: AppStatus,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = app::Entity::update_many()
            .col_expr(app::Column::Status, Expr::val(status.as_str()))
            .col_expr(app::Column::UpdatedAt, bumped_updated_at(at))
            .filter(app::Column::Namespace.eq(ns.as_str()))
            .filter(app::Column::Id.eq(id))
            .filter(app::Column::DeletedAt.is_null())
            .filter(app::Column::ApiKeyCiphertext.eq(key_ciphertext))
            .exec(&self.writer)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected == 1)
    }

    /// The event types the app's webhook endpoint was last registered with (comma-separated),
    /// `None` for an endpoint registered before they were recorded (or no such app).
    pub async fn app_webhook_events(
        &self,
        ns: &Namespace,
        id: &str,
    ) -> StoreResult<Option<String>> {
        let row = app::Entity::find()
            .filter(app::Column::Namespace.eq(ns.as_str()))
            .filter(app::Column::Id.eq(id))
            .one(&self.writer)
            .await
            .map_err(StoreError::from_db)?;
        Ok(row.and_then(|r| r.webhook_events))
    }

    /// Records the event types the app's webhook endpoint is registered with.
    pub async fn set_app_webhook_events(
        &self,
        ns: &Namespace,
        id: &str,
        events: &str,
    ) -> StoreResult<()> {
        set_webhook_events(&self.writer, ns, id, events).await
    }
}

async fn set_webhook_events(
    db: &impl ConnectionTrait,
    ns: &Namespace,
    id: &str,
    events: &str,
) -> StoreResult<()> {
    app::Entity::update_many()
        .col_expr(app::Column::WebhookEvents, Expr::val(events))
        .filter(app::Column::Namespace.eq(ns.as_str()))
        .filter(app::Column::Id.eq(id))
        .exec(db)
        .await
        .map_err(StoreError::from_db)?;
    Ok(())
}

impl Tx {
    /// Records the event types the app's webhook endpoint is registered with.
    pub async fn set_app_webhook_events(
        &self,
        ns: &Namespace,
        id: &str,
        events: &str,
    ) -> StoreResult<()> {
        set_webhook_events(&self.inner, ns, id, events).await
    }

    /// Inserts a new app. `UniqueViolation` if the namespace already has a live app for the same
    /// Stripe account and mode, or already has a live default app and this one is default too.
    pub async fn insert_app(
        &self,
        ns: &Namespace,
        app: &App,
        secrets: &AppSecrets,
    ) -> StoreResult<()> {
        insert(&self.inner, [to_row(ns, app, secrets)?]).await
    }

    /// Makes the namespace's live default app (if any) no longer the default.
    pub async fn clear_default_app(&self, ns: &Namespace, at: Timestamp) -> StoreResult<()> {
        app::Entity::update_many()
            .col_expr(app::Column::IsDefault, Expr::val(false))
            .col_expr(app::Column::UpdatedAt, bumped_updated_at(at))
            .filter(app::Column::Namespace.eq(ns.as_str()))
            .filter(app::Column::DeletedAt.is_null())
            .filter(app::Column::IsDefault.eq(true))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Uninstalls the live app `id`: deleted at `at`, not default, secrets wiped; the other
    /// columns stay as they are. Whether it was written (false: already uninstalled, or unknown).
    pub async fn uninstall_app(
        &self,
        ns: &Namespace,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = app::Entity::update_many()
            .col_expr(app::Column::DeletedAt, Expr::val(at.micros()))
            .col_expr(app::Column::UpdatedAt, bumped_updated_at(at))
            .col_expr(app::Column::IsDefault, Expr::val(false))
            .col_expr(
                app::Column::ApiKeyCiphertext,
                Expr::val(Option::<String>::None),
            )
            .col_expr(
                app::Column::WebhookSecretCiphertext,
                Expr::val(Option::<String>::None),
            )
            .filter(app::Column::Namespace.eq(ns.as_str()))
            .filter(app::Column::Id.eq(id))
            .filter(app::Column::DeletedAt.is_null())
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected == 1)
    }

    /// Writes every column of the live app with `app.id` if it is still at the version
    /// (`updated_at`) `read_version` it was read at; `app.updated_at` must be later. Whether it
    /// was written (false: uninstalled or changed since, or unknown). `UniqueViolation` as for
    /// `insert_app`.
    pub async fn update_app_if(
        &self,
        ns: &Namespace,
        app: &App,
        secrets: &AppSecrets,
        read_version: Timestamp,
    ) -> StoreResult<bool> {
        let result = app::Entity::update_many()
            .set(to_row(ns, app, secrets)?)
            .filter(app::Column::Namespace.eq(ns.as_str()))
            .filter(app::Column::Id.eq(app.id.as_str()))
            .filter(app::Column::DeletedAt.is_null())
            .filter(app::Column::UpdatedAt.eq(read_version.micros()))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected == 1)
    }
}
