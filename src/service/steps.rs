//! Steps shared by several use cases: reading a customer or an app the way every call reads
//! them, the app's secrets, the mapping of Stripe failures, and the Stripe customer of a checkout
//! or of a customer's app data.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::Deps;
use super::stripe_errors::stripe_failure;
use crate::domain::app::{App, AppSecrets, AppStatus, StripeApiKey, WebhookSecret};
use crate::domain::customer::{Customer, CustomerLookup};
use crate::domain::{Error, Namespace, Result};
use crate::payments::{NewStripeCustomer, PaymentsError, StripeCustomerDetails};
use crate::storage::Store;

/// Every item of a paged list, read page after page with `fetch` (given each page's token, empty
/// for the first), stopping once at least `max` items are read; at most `max` are answered.
pub(super) async fn every_page<T, F, Fut>(max: u64, mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<crate::domain::page::Page<T>>>,
{
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = fetch(token).await?;
        all.extend(page.items);
        match page.next_page_token {
            Some(next) if all.len() < max => token = next,
            _ => break,
        }
    }
    all.truncate(max);
    Ok(all)
}

/// NOT_FOUND for a customer lookup.
pub(super) fn customer_not_found(lookup: &CustomerLookup) -> Error {
    let (what, value) = lookup.describe();
    Error::NotFound {
        reason: "CUSTOMER_NOT_FOUND",
        message: format!("no customer with {what} {value:?}"),
        metadata: vec![(what, value)],
    }
}

/// FAILED_PRECONDITION CUSTOMER_DELETED.
pub(super) fn customer_deleted(customer: &Customer) -> Error {
    Error::FailedPrecondition {
        reason: "CUSTOMER_DELETED",
        message: format!("customer {} is deleted", customer.id),
        metadata: vec![("customer_id", customer.id.clone())],
    }
}

/// One customer: by id live or deleted, by key only live; NOT_FOUND otherwise.
pub(super) async fn customer(
    store: &Store,
    ns: &Namespace,
    lookup: &CustomerLookup,
) -> Result<Customer> {
    let found = match lookup {
        CustomerLookup::Id(id) => store.customer_by_id(ns, id.as_str()).await?,
        CustomerLookup::Key(key) => store.live_customer_by_key(ns, key.as_str()).await?,
        CustomerLookup::IdOrKey { id, key } => {
            let by_id = match id {
                Some(id) => store.customer_by_id(ns, id.as_str()).await?,
                None => None,
            };
            match (by_id, key) {
                (Some(found), _) => Some(found),
                (None, Some(key)) => store.live_customer_by_key(ns, key.as_str()).await?,
                (None, None) => None,
            }
        }
    };
    found.ok_or_else(|| customer_not_found(lookup))
}

/// The live customer of `lookup`: NOT_FOUND, or CUSTOMER_DELETED for a deleted one.
pub(super) async fn live_customer(
    store: &Store,
    ns: &Namespace,
    lookup: &CustomerLookup,
) -> Result<Customer> {
    let customer = customer(store, ns, lookup).await?;
    if !customer.is_live() {
        return Err(customer_deleted(&customer));
    }
    Ok(customer)
}

/// NOT_FOUND APP_NOT_FOUND.
pub(super) fn app_not_found(id: &str) -> Error {
    Error::NotFound {
        reason: "APP_NOT_FOUND",
        message: format!("no app with id {id:?}"),
        metadata: vec![("app_id", id.to_owned())],
    }
}

/// FAILED_PRECONDITION APP_UNINSTALLED.
pub(super) fn app_uninstalled(id: &str) -> Error {
    Error::FailedPrecondition {
        reason: "APP_UNINSTALLED",
        message: format!("app {id} is uninstalled"),
        metadata: vec![("app_id", id.to_owned())],
    }
}

/// What the app's API key is encrypted for.
pub(super) fn key_purpose(app_id: &str) -> String {
    format!("app/{app_id}/api_key")
}

/// What the app's webhook signing secret is encrypted for.
pub(super) fn webhook_purpose(app_id: &str) -> String {
    format!("app/{app_id}/webhook_secret")
}

/// An app by id (uninstalled ones too), with its secrets.
pub(super) async fn app(store: &Store, ns: &Namespace, id: &str) -> Result<(App, AppSecrets)> {
    store
        .app_by_id(ns, id)
        .await?
        .ok_or_else(|| app_not_found(id))
}

/// The app's API key, decrypted.
pub(super) fn api_key(deps: &Deps, app: &App, secrets: &AppSecrets) -> Result<StripeApiKey> {
    let ciphertext = secrets
        .api_key_ciphertext
        .as_deref()
        .ok_or_else(|| app_uninstalled(&app.id))?;
    deps.cipher
        .decrypt(&key_purpose(&app.id), ciphertext)
        .map(StripeApiKey::from_stored)
        .map_err(|e| Error::Internal(format!("app {}: {e}", app.id)))
}

/// The app's webhook signing secret, decrypted, if an endpoint is registered.
pub(super) fn webhook_secret(
    deps: &Deps,
    app: &App,
    secrets: &AppSecrets,
) -> Result<Option<WebhookSecret>> {
    secrets
        .webhook_secret_ciphertext
        .as_deref()
        .map(|c| {
            deps.cipher
                .decrypt(&webhook_purpose(&app.id), c)
                .map(WebhookSecret::new)
                .map_err(|e| Error::Internal(format!("app {}: {e}", app.id)))
        })
        .transpose()
}

/// The live app to use: `app_id`, or the namespace's default when `None`. An uninstalled or
/// unauthorized app is FAILED_PRECONDITION.
pub(super) async fn usable_app(
    deps: &Deps,
    ns: &Namespace,
    app_id: Option<&str>,
) -> Result<(App, StripeApiKey)> {
    let (app, secrets) = match app_id {
        Some(id) => app(&deps.store, ns, id).await?,
        None => deps.store.default_app(ns).await?.ok_or_else(|| Error::FailedPrecondition {
            reason: "NO_DEFAULT_APP",
            message: "the namespace has no default Stripe app: install one with InstallStripeApp or name app_id".into(),
            metadata: Vec::new(),
        })?,
    };
    if app.deleted_at.is_some() {
        return Err(app_uninstalled(&app.id));
    }
    if app.status == AppStatus::Unauthorized {
        return Err(super::stripe_errors::app_unauthorized(&app.id));
    }
    let key = api_key(deps, &app, &secrets)?;
    if app.webhook_endpoint_id.is_some() {
        refresh_webhook_events(deps, ns, &app, &key);
    }
    Ok((app, key))
}

/// The event types patron's webhook endpoints subscribe to, as recorded with an app.
pub(super) fn webhook_events() -> String {
    crate::payments::WEBHOOK_EVENTS.join(",")
}

/// How long the background update of an endpoint's event types may take.
const WEBHOOK_REFRESH_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// In the background (the caller's request does not wait or fail for it): when the app's
/// endpoint was registered with other event types than patron subscribes to now (an endpoint
/// registered before a new type was added), updates it at Stripe and records the new list.
fn refresh_webhook_events(deps: &Deps, ns: &Namespace, app: &App, key: &StripeApiKey) {
    let Some(endpoint) = app.webhook_endpoint_id.clone() else {
        return;
    };
    let (deps, ns, app_id, key) = (deps.clone(), ns.clone(), app.id.clone(), key.clone());
    tokio::spawn(async move {
        let deadline = Instant::now() + WEBHOOK_REFRESH_BUDGET;
        let _ = refresh_webhook_endpoint(&deps, &ns, &app_id, &endpoint, &key, deadline).await;
    });
}

/// Subscribes the app's webhook endpoint to the current event types at Stripe and records them,
/// unless they are recorded already. Failures are logged (the next use of the app, or the next
/// start, tries again); returns whether the endpoint was updated.
pub(super) async fn refresh_webhook_endpoint(
    deps: &Deps,
    ns: &Namespace,
    app_id: &str,
    endpoint: &str,
    key: &StripeApiKey,
    deadline: Instant,
) -> bool {
    let wanted = webhook_events();
    match deps.store.app_webhook_events(ns, app_id).await {
        Ok(Some(current)) if current == wanted => return false,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, app_id, "cannot read the webhook endpoint's event types");
            return false;
        }
    }
    if let Err(e) = deps
        .payments
        .update_webhook_endpoint_events(key, endpoint, deadline)
        .await
    {
        tracing::warn!(error = %e, app_id, "cannot update the webhook endpoint's event types");
        return false;
    }
    match deps.store.set_app_webhook_events(ns, app_id, &wanted).await {
        Ok(()) => {
            tracing::info!(
                app_id,
                "webhook endpoint subscribed to the current event types"
            );
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, app_id, "cannot record the webhook endpoint's event types");
            false
        }
    }
}

/// The stored ciphertext of `app`'s key if that key is (still) `key`.
async fn stored_ciphertext_of(
    deps: &Deps,
    ns: &Namespace,
    app: &App,
    key: &StripeApiKey,
) -> Option<String> {
    let (current, secrets) = match deps.store.app_by_id(ns, &app.id).await {
        Ok(found) => found?,
        Err(e) => {
            tracing::error!(error = %e, app_id = %app.id, "cannot read the app's key");
            return None;
        }
    };
    let stored = api_key(deps, &current, &secrets).ok()?;
    (stored.expose() == key.expose())
        .then_some(secrets.api_key_ciphertext)
        .flatten()
}

/// Maps a Stripe failure of a call made with `key`, `app`'s key when the app was read (a 401
/// marks the app UNAUTHORIZED only if `key` is still its key: a rotation that landed meanwhile
/// stays READY).
pub(super) async fn failure(
    deps: &Deps,
    ns: &Namespace,
    app: &App,
    key: &StripeApiKey,
    err: PaymentsError,
    not_found: impl FnOnce(String) -> Error,
) -> Error {
    let key_ciphertext = match &err {
        PaymentsError::Unauthorized => stored_ciphertext_of(deps, ns, app, key).await,
        _ => None,
    };
    stripe_failure(
        &deps.store,
        ns,
        app,
        err,
        key_ciphertext.as_deref(),
        deps.now(),
        not_found,
    )
    .await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable Stripe Idempotency-Key from parts (length-prefixed so parts cannot run together).
pub(super) fn derived_key(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{prefix}-{}", &hex(&hasher.finalize())[..40])
}

/// The Stripe customer to connect `customer` to in `app`: `given`, verified at Stripe (it exists
/// and is not deleted; otherwise `missing(why)`), or without one a new Stripe customer, created
/// with an Idempotency-Key derived from (namespace, app, customer) so that no retry, repeat or
/// crash before the mapping is stored creates a second one. Returns its id (cus_...).
#[allow(clippy::too_many_arguments)]
pub(super) async fn ensure_stripe_customer(
    deps: &Deps,
    ns: &Namespace,
    app: &App,
    key: &StripeApiKey,
    customer: &Customer,
    given: Option<&str>,
    missing: impl Fn(&'static str) -> Error,
    deadline: Instant,
) -> Result<String> {
    ensure_stripe_customer_replacing(deps, ns, app, key, customer, given, missing, None, deadline)
        .await
}

/// [`ensure_stripe_customer`], where a new Stripe customer replaces `replaces` (deleted at
/// Stripe): its Idempotency-Key also derives from the replaced one, so Stripe creates a fresh
/// customer instead of replaying the deleted one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn ensure_stripe_customer_replacing(
    deps: &Deps,
    ns: &Namespace,
    app: &App,
    key: &StripeApiKey,
    customer: &Customer,
    given: Option<&str>,
    missing: impl Fn(&'static str) -> Error,
    replaces: Option<&str>,
    deadline: Instant,
) -> Result<String> {
    if let Some(given) = given {
        return match deps.payments.retrieve_customer(key, given, deadline).await {
            Ok(c) if !c.deleted => Ok(c.id),
            Ok(_) => Err(missing("is deleted at Stripe")),
            Err(e) => Err(failure(deps, ns, app, key, e, |_| {
                missing("does not exist at Stripe")
            })
            .await),
        };
    }
    let f = &customer.fields;
    let a = &f.billing_address;
    let text = |v: Option<&str>| v.map(str::to_owned);
    let address = [
        text(a.country.as_ref().map(|c| c.as_str())),
        text(a.postal_code.as_ref().map(|c| c.as_str())),
        text(a.state.as_ref().map(|c| c.as_str())),
        text(a.city.as_ref().map(|c| c.as_str())),
        text(a.line1.as_ref().map(|c| c.as_str())),
        text(a.line2.as_ref().map(|c| c.as_str())),
    ];
    let details = StripeCustomerDetails {
        name: Some(f.name.as_str().to_owned()),
        email: f.primary_email.as_ref().map(|e| e.as_str().to_owned()),
        phone: a.phone_number.as_ref().map(|p| p.as_str().to_owned()),
        address: address.iter().any(Option::is_some).then_some(address),
    };
    // Only what never changes goes with the Idempotency-Key: a retry after the customer's name
    // or email changed sends the same parameters, so Stripe replays the first customer instead
    // of refusing the key (or, with another key, creating a second customer). The details
    // follow in an update.
    let new = NewStripeCustomer {
        metadata: BTreeMap::from([
            ("patron_namespace".to_owned(), ns.as_str().to_owned()),
            ("patron_customer_id".to_owned(), customer.id.clone()),
            ("patron_app_id".to_owned(), app.id.clone()),
        ]),
    };
    let idempotency_key = match replaces {
        None => derived_key("patron-customer", &[ns.as_str(), &app.id, &customer.id]),
        Some(old) => derived_key(
            "patron-customer",
            &[ns.as_str(), &app.id, &customer.id, "replaces", old],
        ),
    };
    let payments = &deps.payments;
    let created = match payments
        .create_customer(key, &new, &idempotency_key, deadline)
        .await
    {
        Ok(created) => payments
            .update_customer(key, &created.id, &details, deadline)
            .await
            .map(|_| created.id),
        Err(e) => Err(e),
    };
    match created {
        Ok(id) => Ok(id),
        Err(e) => Err(failure(deps, ns, app, key, e, |m| {
            Error::Internal(format!("POST /v1/customers: {m}"))
        })
        .await),
    }
}
