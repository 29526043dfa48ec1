//! AppService use cases: install, read, update (rotation) and uninstall Stripe apps.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::Deps;
use super::idempotency::Idempotent;
use super::steps::{self, api_key, app_not_found, app_uninstalled};
use super::stripe_errors::plain;
use crate::domain::app::{App, AppSecrets, AppStatus, StripeApiKey};
use crate::domain::page::{self, Cursor, Numbered, NumberedPage, Page, SortValue};
use crate::domain::values::{Description, Metadata, Name, RequestId};
use crate::domain::{Error, Namespace, Result, Timestamp, new_id};
use crate::storage::StoreError;

/// An app to install.
#[derive(Debug)]
pub struct InstallApp {
    /// The Stripe key.
    pub api_key: StripeApiKey,
    /// Name (default "Stripe").
    pub name: Name,
    /// Description.
    pub description: Option<Description>,
    /// Metadata.
    pub metadata: Metadata,
    /// Make it the default app.
    pub make_default: bool,
}

/// The canonical form of an install request for request_id fingerprints (the key by digest).
#[derive(Serialize)]
struct InstallFingerprint<'a> {
    api_key_sha256: String,
    name: &'a Name,
    description: &'a Option<Description>,
    metadata: &'a Metadata,
    make_default: bool,
}

/// Changes to an app: `Some` fields change.
#[derive(Debug, Default)]
pub struct AppPatch {
    /// New name.
    pub name: Option<Name>,
    /// New description.
    pub description: Option<Option<Description>>,
    /// New metadata.
    pub metadata: Option<Metadata>,
    /// Make default (true) or not (false).
    pub default: Option<bool>,
    /// A new key of the same account and mode.
    pub api_key: Option<StripeApiKey>,
}

/// AppService use cases.
#[derive(Clone, Debug)]
pub struct Apps {
    deps: Deps,
}

fn already_installed(app: &App) -> Error {
    Error::AlreadyExists {
        reason: "APP_ALREADY_INSTALLED",
        message: format!(
            "Stripe account {} ({} mode) is already installed as app {}",
            app.stripe_account_id,
            if app.livemode { "live" } else { "test" },
            app.id
        ),
        metadata: vec![
            ("stripe_account_id", app.stripe_account_id.clone()),
            ("app_id", app.id.clone()),
        ],
    }
}

/// The fingerprint that binds app page tokens to their query.
fn list_fingerprint(show_deleted: bool) -> String {
    page::fingerprint(&["apps", if show_deleted { "deleted" } else { "live" }])
}

/// Most apps the start-up refresh of webhook endpoints looks at.
const START_REFRESH_MAX_APPS: u64 = 1000;
/// How long one endpoint update at Stripe may take during the start-up refresh.
const START_REFRESH_PER_APP: std::time::Duration = std::time::Duration::from_secs(10);

impl Apps {
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// At server start: subscribes the webhook endpoints registered with other event types than
    /// patron's current ones (before a type was added) to the current types, one app after the
    /// other, at most [`START_REFRESH_MAX_APPS`] apps and until `deadline`. Unauthorized apps
    /// wait for their key's rotation (the next use refreshes them). Failures are logged, never
    /// fatal; returns how many endpoints were updated.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_webhook_endpoints(&self, deadline: Instant) -> usize {
        let wanted = steps::webhook_events();
        let apps = match self
            .deps
            .store
            .apps_with_stale_webhook_events(&wanted, START_REFRESH_MAX_APPS)
            .await
        {
            Ok(apps) => apps,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the apps whose webhook endpoints need new event types");
                return 0;
            }
        };
        let mut updated = 0;
        for (ns, app, secrets) in apps {
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    "start-up refresh of webhook endpoints ran out of time; the next use of each app continues it"
                );
                break;
            }
            let Some(endpoint) = app.webhook_endpoint_id.as_deref() else {
                continue;
            };
            if app.status == AppStatus::Unauthorized {
                continue;
            }
            let key = match steps::api_key(&self.deps, &app, &secrets) {
                Ok(key) => key,
                Err(e) => {
                    tracing::warn!(error = %e, app_id = %app.id, "cannot read the app's key");
                    continue;
                }
            };
            let until = deadline.min(now + START_REFRESH_PER_APP);
            if steps::refresh_webhook_endpoint(&self.deps, &ns, &app.id, endpoint, &key, until)
                .await
            {
                updated += 1;
            }
        }
        if updated > 0 {
            tracing::info!(
                updated,
                "webhook endpoints subscribed to the current event types"
            );
        }
        updated
    }

    /// Installs a Stripe account as an app.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn install(
        &self,
        ns: &Namespace,
        input: InstallApp,
        request_id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<App> {
        let fingerprint = InstallFingerprint {
            api_key_sha256: Sha256::digest(input.api_key.expose().as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            name: &input.name,
            description: &input.description,
            metadata: &input.metadata,
            make_default: input.make_default,
        };
        let idempotent = request_id
            .as_ref()
            .map(|rid| Idempotent::new("InstallStripeApp", rid, &fingerprint))
            .transpose()?;
        if let Some(idem) = &idempotent
            && let Some(original) = idem.replay(&self.deps.store, ns).await?
        {
            return Ok(original);
        }

        let account_id = self
            .deps
            .payments
            .retrieve_account(&input.api_key, deadline)
            .await
            .map_err(|e| match e {
                crate::payments::PaymentsError::Unauthorized => Error::invalid(
                    "api_key",
                    "Stripe refused this key (GET /v1/account answered 401)",
                ),
                other => plain(other, |m| Error::Internal(format!("GET /v1/account: {m}"))),
            })?;
        let livemode = input.api_key.livemode();
        let now = self.deps.now();
        let id = new_id();
        let mut app = App {
            id: id.clone(),
            name: input.name,
            description: input.description,
            metadata: input.metadata,
            status: AppStatus::Ready,
            is_default: false,
            stripe_account_id: account_id,
            livemode,
            masked_api_key: input.api_key.masked(),
            webhook_endpoint_id: None,
            webhook_url: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        if let Some(existing) = self.live_app_for_account(ns, &app).await? {
            return Err(already_installed(&existing));
        }
        let mut secrets = AppSecrets {
            api_key_ciphertext: Some(
                self.deps
                    .cipher
                    .encrypt(&steps::key_purpose(&id), input.api_key.expose()),
            ),
            webhook_secret_ciphertext: None,
        };
        if let Some(public_url) = &self.deps.public_url {
            let url = format!("{public_url}/webhooks/stripe/{id}");
            let endpoint = self
                .deps
                .payments
                .create_webhook_endpoint(
                    &input.api_key,
                    &url,
                    &format!("patron-webhook-{id}"),
                    deadline,
                )
                .await
                .map_err(|e| {
                    plain(e, |m| {
                        Error::Internal(format!("POST /v1/webhook_endpoints: {m}"))
                    })
                })?;
            secrets.webhook_secret_ciphertext = Some(
                self.deps
                    .cipher
                    .encrypt(&steps::webhook_purpose(&id), endpoint.secret.expose()),
            );
            app.webhook_endpoint_id = Some(endpoint.id);
            app.webhook_url = Some(url);
        }
        // The response depends on whether the app becomes the default, which is read in the
        // transaction: both possible records are made (and any serialization error raised)
        // before it.
        let records = idempotent
            .as_ref()
            .map(|idem| {
                let as_default = idem.record(&App {
                    is_default: true,
                    ..app.clone()
                })?;
                let not_default = idem.record(&App {
                    is_default: false,
                    ..app.clone()
                })?;
                Ok::<_, Error>((idem, as_default, not_default))
            })
            .transpose()?;
        let result = async {
            let tx = self.deps.store.begin().await?;
            let has_default = tx.has_live_default_app(ns).await?;
            if input.make_default && has_default {
                tx.clear_default_app(ns, now).await?;
            }
            app.is_default = input.make_default || !has_default;
            tx.insert_app(ns, &app, &secrets).await?;
            if app.webhook_endpoint_id.is_some() {
                tx.set_app_webhook_events(ns, &app.id, &steps::webhook_events())
                    .await?;
            }
            if let Some((idem, as_default, not_default)) = records {
                let record = if app.is_default {
                    as_default
                } else {
                    not_default
                };
                tx.put_idempotency_record(ns, idem.method, idem.request_id.as_str(), record, now)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(app_id = %app.id, account = %app.stripe_account_id, "Stripe app installed");
                Ok(app)
            }
            Err(StoreError::UniqueViolation(_)) => {
                self.forget_endpoint(&input.api_key, &app, deadline).await;
                if let Some(idem) = &idempotent
                    && let Some(original) = idem.replay(&self.deps.store, ns).await?
                {
                    return Ok(original);
                }
                match self.live_app_for_account(ns, &app).await? {
                    Some(existing) => Err(already_installed(&existing)),
                    None => Err(Error::Conflict(
                        "a concurrent install changed the default app; retry".into(),
                    )),
                }
            }
            Err(e) => {
                self.forget_endpoint(&input.api_key, &app, deadline).await;
                Err(e.into())
            }
        }
    }

    async fn live_app_for_account(&self, ns: &Namespace, app: &App) -> Result<Option<App>> {
        let mut after: Option<Cursor> = None;
        loop {
            let page = self
                .deps
                .store
                .list_apps(ns, false, after.as_ref(), 100)
                .await?;
            if let Some(found) = page.iter().find(|a| {
                a.stripe_account_id == app.stripe_account_id && a.livemode == app.livemode
            }) {
                return Ok(Some(found.clone()));
            }
            match page.last() {
                Some(last) if page.len() == 100 => {
                    after = Some(Cursor {
                        value: SortValue::Int(last.created_at.micros()),
                        id: last.id.clone(),
                    });
                }
                _ => return Ok(None),
            }
        }
    }

    /// Deletes the app's webhook endpoint at Stripe, best effort (failures are logged).
    async fn forget_endpoint(&self, key: &StripeApiKey, app: &App, deadline: Instant) {
        if let Some(endpoint) = &app.webhook_endpoint_id
            && let Err(e) = self
                .deps
                .payments
                .delete_webhook_endpoint(key, endpoint, deadline)
                .await
        {
            tracing::warn!(app_id = %app.id, error = %e, "could not delete the webhook endpoint at Stripe");
        }
    }

    /// An app by id (uninstalled ones too).
    pub async fn get(&self, ns: &Namespace, id: &str) -> Result<App> {
        Ok(steps::app(&self.deps.store, ns, id).await?.0)
    }

    /// One page of apps, oldest first.
    pub async fn list(
        &self,
        ns: &Namespace,
        show_deleted: bool,
        page_size: u64,
        page_token: &str,
    ) -> Result<Page<App>> {
        let fingerprint = list_fingerprint(show_deleted);
        let after = page::decode_token("page_token", page_token, &fingerprint, page::SortKind::Int)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let rows = self
            .deps
            .store
            .list_apps(ns, show_deleted, after.as_ref(), page_size + 1)
            .await?;
        Ok(Page::from_rows(rows, page_size, &fingerprint, |last| {
            Cursor {
                value: SortValue::Int(last.created_at.micros()),
                id: last.id.clone(),
            }
        }))
    }

    /// One page of a page-numbered list of the live apps, oldest first, with their number
    /// (OpenMeter's `page`/`pageSize`; a namespace has a handful of apps).
    pub async fn list_numbered(&self, ns: &Namespace, page: Numbered) -> Result<NumberedPage<App>> {
        let all = steps::every_page(u64::MAX, |token| async move {
            self.list(ns, false, page::MAX_PAGE_SIZE, &token).await
        })
        .await?;
        let total_count = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(usize::try_from(page.page_size).unwrap_or(usize::MAX))
            .collect();
        Ok(NumberedPage {
            total_count,
            page,
            items,
        })
    }

    /// Changes an installed app.
    #[tracing::instrument(skip_all, fields(namespace = %ns, app_id = %id))]
    pub async fn update(
        &self,
        ns: &Namespace,
        id: &str,
        patch: AppPatch,
        deadline: Instant,
    ) -> Result<App> {
        let (mut app, mut secrets) = self
            .deps
            .store
            .app_by_id(ns, id)
            .await?
            .ok_or_else(|| app_not_found(id))?;
        if app.deleted_at.is_some() {
            return Err(app_uninstalled(id));
        }
        // The write below happens only if the app is still what was read here (and live): an
        // uninstall or another update that lands while Stripe verifies the key wins.
        let read_version = app.updated_at;
        if let Some(key) = &patch.api_key {
            let account = self
                .deps
                .payments
                .retrieve_account(key, deadline)
                .await
                .map_err(|e| match e {
                    crate::payments::PaymentsError::Unauthorized => Error::invalid(
                        "api_key",
                        "Stripe refused this key (GET /v1/account answered 401)",
                    ),
                    other => plain(other, |m| Error::Internal(format!("GET /v1/account: {m}"))),
                })?;
            if account != app.stripe_account_id || key.livemode() != app.livemode {
                return Err(Error::invalid(
                    "api_key",
                    format!(
                        "belongs to another Stripe account or mode; this app is account {} in {} mode",
                        app.stripe_account_id,
                        if app.livemode { "live" } else { "test" }
                    ),
                ));
            }
            secrets.api_key_ciphertext = Some(
                self.deps
                    .cipher
                    .encrypt(&steps::key_purpose(id), key.expose()),
            );
            app.masked_api_key = key.masked();
            app.status = AppStatus::Ready;
        }
        if let Some(name) = patch.name {
            app.name = name;
        }
        if let Some(description) = patch.description {
            app.description = description;
        }
        if let Some(metadata) = patch.metadata {
            app.metadata = metadata;
        }
        let now = self.deps.now();
        app.updated_at = now.max(Timestamp(read_version.micros().saturating_add(1)));
        let tx = self.deps.store.begin().await?;
        if patch.default == Some(true) && !app.is_default {
            tx.clear_default_app(ns, now).await?;
        }
        if let Some(default) = patch.default {
            app.is_default = default;
        }
        if !tx.update_app_if(ns, &app, &secrets, read_version).await? {
            drop(tx);
            return Err(match self.deps.store.app_by_id(ns, id).await? {
                None => app_not_found(id),
                Some((current, _)) if current.deleted_at.is_some() => app_uninstalled(id),
                Some(_) => Error::Conflict(format!(
                    "app {id} changed while this update was in progress; read it again and retry"
                )),
            });
        }
        tx.commit().await?;
        Ok(app)
    }

    /// Uninstalls an app: secrets wiped, webhook endpoint deleted at Stripe (best effort),
    /// customers' app data soft-deleted. Uninstalling twice returns the app unchanged.
    #[tracing::instrument(skip_all, fields(namespace = %ns, app_id = %id))]
    pub async fn uninstall(&self, ns: &Namespace, id: &str, deadline: Instant) -> Result<App> {
        let (mut app, secrets) = self
            .deps
            .store
            .app_by_id(ns, id)
            .await?
            .ok_or_else(|| app_not_found(id))?;
        if app.deleted_at.is_some() {
            return Ok(app);
        }
        if let Ok(key) = api_key(&self.deps, &app, &secrets) {
            self.forget_endpoint(&key, &app, deadline).await;
        }
        let now = self.deps.now().max(app.updated_at);
        let tx = self.deps.store.begin().await?;
        // Only the uninstall's own columns are written, and only while the app is live: an
        // update that landed meanwhile is kept, a concurrent uninstall is not repeated.
        if tx.uninstall_app(ns, id, now).await? {
            tx.delete_customer_apps_of_app(ns, id, now).await?;
        }
        if let Some((current, _)) = tx.app_by_id(ns, id).await? {
            app = current;
        }
        tx.commit().await?;
        Ok(app)
    }
}
