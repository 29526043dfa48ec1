//! CustomerAppService use cases: a customer's Stripe customer and default payment method per app.

use std::collections::BTreeSet;

use tokio::time::Instant;

use super::Deps;
use super::steps::{self, failure};
use crate::domain::app::{App, CustomerApp};
use crate::domain::customer::CustomerLookup;
use crate::domain::{Error, Namespace, Result, new_id};
use crate::storage::StoreError;

/// One entry of an upsert, as parsed from the request.
#[derive(Debug, Clone)]
pub struct CustomerAppInput {
    /// The app; `None` means the namespace's default app.
    pub app_id: Option<String>,
    /// cus_...
    pub stripe_customer_id: String,
    /// pm_...
    pub stripe_default_payment_method_id: Option<String>,
}

/// CustomerAppService use cases.
#[derive(Clone, Debug)]
pub struct CustomerApps {
    pub(super) deps: Deps,
}

/// A customer's entry with its app.
pub type EntryWithApp = (CustomerApp, App);

impl CustomerApps {
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    async fn with_apps(
        &self,
        ns: &Namespace,
        entries: Vec<CustomerApp>,
    ) -> Result<Vec<EntryWithApp>> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let (app, _) = steps::app(&self.deps.store, ns, &entry.app_id).await?;
            out.push((entry, app));
        }
        Ok(out)
    }

    /// Every live entry of the customer.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn list(&self, ns: &Namespace, lookup: &CustomerLookup) -> Result<Vec<EntryWithApp>> {
        let customer = steps::customer(&self.deps.store, ns, lookup).await?;
        let entries = self.deps.store.customer_apps(ns, &customer.id).await?;
        self.with_apps(ns, entries).await
    }

    /// The customer's entry for the default app, else its first entry (OpenMeter's one Stripe
    /// entry per customer); NOT_FOUND when it has none.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn main_entry(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
    ) -> Result<EntryWithApp> {
        let mut entries = self.list(ns, lookup).await?;
        entries.sort_by_key(|(_, app)| !app.is_default);
        let (what, value) = lookup.describe();
        entries.into_iter().next().ok_or_else(|| Error::NotFound {
            reason: "CUSTOMER_APP_NOT_FOUND",
            message: format!("the customer with {what} {value:?} has no app data"),
            metadata: vec![(what, value)],
        })
    }

    /// Stores the customer's entries, each verified at Stripe first; all or nothing.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn upsert(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        inputs: Vec<CustomerAppInput>,
        deadline: Instant,
    ) -> Result<Vec<EntryWithApp>> {
        let customer = steps::live_customer(&self.deps.store, ns, lookup).await?;
        let mut seen = BTreeSet::new();
        let mut resolved = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.into_iter().enumerate() {
            let (app, key) = steps::usable_app(&self.deps, ns, input.app_id.as_deref()).await?;
            if !seen.insert(app.id.clone()) {
                return Err(Error::invalid(
                    format!("data[{i}].app_id"),
                    format!("app {} appears twice", app.id),
                ));
            }
            let stripe_customer_id = steps::ensure_stripe_customer(
                &self.deps,
                ns,
                &app,
                &key,
                &customer,
                Some(&input.stripe_customer_id),
                |why| stripe_customer_missing(i, &input.stripe_customer_id, why),
                deadline,
            )
            .await?;
            if let Some(pm) = &input.stripe_default_payment_method_id {
                let method = self
                    .deps
                    .payments
                    .retrieve_payment_method(&key, pm, deadline)
                    .await;
                match method {
                    Ok(m) if m.customer.as_deref() == Some(stripe_customer_id.as_str()) => {}
                    Ok(m) => {
                        return Err(Error::FailedPrecondition {
                            reason: "PAYMENT_METHOD_NOT_ATTACHED",
                            message: format!(
                                "data[{i}].stripe.stripe_default_payment_method_id: payment method {pm} does not belong to Stripe customer {stripe_customer_id}"
                            ),
                            metadata: vec![
                                (
                                    "field",
                                    format!("data[{i}].stripe.stripe_default_payment_method_id"),
                                ),
                                ("stripe_payment_method_id", pm.clone()),
                                ("attached_to", m.customer.unwrap_or_default()),
                            ],
                        });
                    }
                    Err(e) => {
                        let pm = pm.clone();
                        return Err(failure(&self.deps, ns, &app, &key, e, |_| {
                            Error::FailedPrecondition {
                                reason: "STRIPE_PAYMENT_METHOD_NOT_FOUND",
                                message: format!(
                                    "data[{i}].stripe.stripe_default_payment_method_id: payment method {pm} does not exist at Stripe"
                                ),
                                metadata: vec![
                                    (
                                        "field",
                                        format!(
                                            "data[{i}].stripe.stripe_default_payment_method_id"
                                        ),
                                    ),
                                    ("stripe_payment_method_id", pm.clone()),
                                ],
                            }
                        })
                        .await);
                    }
                }
            }
            resolved.push((app, input));
        }

        let now = self.deps.now();
        let result = async {
            let tx = self.deps.store.begin().await?;
            let mut stored = Vec::with_capacity(resolved.len());
            for (app, input) in &resolved {
                let entry = match tx.customer_app(ns, &app.id, &customer.id).await? {
                    Some(mut existing) => {
                        if existing.stripe_customer_id != input.stripe_customer_id {
                            existing.stripe_default_payment_method_id = None;
                            existing.default_payment_method_event_created = None;
                        }
                        existing.stripe_customer_id = input.stripe_customer_id.clone();
                        if let Some(pm) = &input.stripe_default_payment_method_id {
                            existing.stripe_default_payment_method_id = Some(pm.clone());
                            existing.default_payment_method_event_created =
                                Some(now.micros() / 1_000_000);
                        }
                        // Verified at Stripe above: not deleted.
                        existing.stripe_customer_deleted_at = None;
                        existing.updated_at = now.max(existing.updated_at);
                        tx.update_customer_app(ns, &existing).await?;
                        existing
                    }
                    None => {
                        let entry = CustomerApp {
                            id: new_id(),
                            customer_id: customer.id.clone(),
                            app_id: app.id.clone(),
                            stripe_customer_id: input.stripe_customer_id.clone(),
                            stripe_default_payment_method_id: input
                                .stripe_default_payment_method_id
                                .clone(),
                            default_payment_method_event_created: input
                                .stripe_default_payment_method_id
                                .as_ref()
                                .map(|_| now.micros() / 1_000_000),
                            created_at: now,
                            updated_at: now,
                            deleted_at: None,
                            stripe_customer_deleted_at: None,
                        };
                        tx.insert_customer_app(ns, &entry).await?;
                        entry
                    }
                };
                stored.push((entry, app.clone()));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(stored)
        }
        .await;
        match result {
            Ok(stored) => Ok(stored),
            Err(StoreError::UniqueViolation(_)) => {
                for (app, input) in &resolved {
                    if let Some(holder) = self
                        .deps
                        .store
                        .customer_app_by_stripe_customer(ns, &app.id, &input.stripe_customer_id)
                        .await?
                        && holder.customer_id != customer.id
                    {
                        return Err(stripe_customer_taken(
                            app,
                            &input.stripe_customer_id,
                            &holder.customer_id,
                        ));
                    }
                }
                Err(Error::Conflict(
                    "a concurrent write changed this customer's app data; retry".into(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the customer's entry for `app_id`.
    #[tracing::instrument(skip_all, fields(namespace = %ns, app_id = %app_id))]
    pub async fn delete(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        app_id: &str,
    ) -> Result<EntryWithApp> {
        let customer = steps::customer(&self.deps.store, ns, lookup).await?;
        let (app, _) = steps::app(&self.deps.store, ns, app_id).await?;
        let tx = self.deps.store.begin().await?;
        let Some(mut entry) = tx.customer_app(ns, app_id, &customer.id).await? else {
            return Err(Error::NotFound {
                reason: "CUSTOMER_APP_NOT_FOUND",
                message: format!("customer {} has no data for app {app_id}", customer.id),
                metadata: vec![("customer_id", customer.id), ("app_id", app_id.to_owned())],
            });
        };
        let now = self.deps.now().max(entry.updated_at);
        tx.delete_customer_app(ns, app_id, &customer.id, now)
            .await?;
        tx.commit().await?;
        entry.deleted_at = Some(now);
        entry.updated_at = now;
        Ok((entry, app))
    }
}

fn stripe_customer_missing(i: usize, id: &str, why: &'static str) -> Error {
    Error::FailedPrecondition {
        reason: "STRIPE_CUSTOMER_NOT_FOUND",
        message: format!("data[{i}].stripe.stripe_customer_id: Stripe customer {id} {why}"),
        metadata: vec![
            ("field", format!("data[{i}].stripe.stripe_customer_id")),
            ("stripe_customer_id", id.to_owned()),
        ],
    }
}

/// ALREADY_EXISTS: the Stripe customer belongs to another customer in this app.
pub fn stripe_customer_taken(app: &App, stripe_customer_id: &str, holder: &str) -> Error {
    Error::AlreadyExists {
        reason: "STRIPE_CUSTOMER_ALREADY_MAPPED",
        message: format!(
            "Stripe customer {stripe_customer_id} already belongs to customer {holder} in app {}",
            app.id
        ),
        metadata: vec![
            ("stripe_customer_id", stripe_customer_id.to_owned()),
            ("customer_id", holder.to_owned()),
            ("app_id", app.id.clone()),
        ],
    }
}
