//! CustomerAppService use cases at Stripe for one customer: Billing customer portal sessions,
//! and re-reading the Stripe customer when webhooks were missed.

use tokio::time::Instant;

use super::CustomerApps;
use super::customer_apps::EntryWithApp;
use super::steps::{self, failure};
use crate::domain::app::{App, CustomerApp};
use crate::domain::customer::{Customer, CustomerLookup};
use crate::domain::portal::{PortalOptions, PortalSession};
use crate::domain::{Error, Namespace, Result, Timestamp};
use crate::payments::NewPortalSession;

/// FAILED_PRECONDITION STRIPE_CUSTOMER_MISSING: no implicit creation here.
fn stripe_customer_missing(customer: &Customer, app: &App) -> Error {
    Error::FailedPrecondition {
        reason: "STRIPE_CUSTOMER_MISSING",
        message: format!(
            "customer {} has no Stripe customer yet in app {}; run a checkout or upsert its customer app data first",
            customer.id, app.id
        ),
        metadata: vec![
            ("customer_id", customer.id.clone()),
            ("app_id", app.id.clone()),
        ],
    }
}

fn stripe_customer_gone(entry: &CustomerApp, why: String) -> Error {
    Error::FailedPrecondition {
        reason: "STRIPE_CUSTOMER_NOT_FOUND",
        message: format!(
            "Stripe customer {} of customer {}: {why}",
            entry.stripe_customer_id, entry.customer_id
        ),
        metadata: vec![("stripe_customer_id", entry.stripe_customer_id.clone())],
    }
}

impl CustomerApps {
    /// The customer's live entry for the app, or STRIPE_CUSTOMER_MISSING.
    async fn stripe_entry(
        &self,
        ns: &Namespace,
        customer: &Customer,
        app: &App,
    ) -> Result<CustomerApp> {
        let entries = self.deps.store.customer_apps(ns, &customer.id).await?;
        entries
            .into_iter()
            .find(|e| e.app_id == app.id && e.deleted_at.is_none())
            .ok_or_else(|| stripe_customer_missing(customer, app))
    }

    /// Creates a Billing customer portal session for the customer's Stripe customer in the app
    /// (`app_id`, or the namespace's default).
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn portal_session(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        app_id: Option<&str>,
        options: PortalOptions,
        deadline: Instant,
    ) -> Result<PortalSession> {
        let customer = steps::live_customer(&self.deps.store, ns, lookup).await?;
        let (app, key) = steps::usable_app(&self.deps, ns, app_id).await?;
        let entry = self.stripe_entry(ns, &customer, &app).await?;
        if entry.stripe_customer_deleted_at.is_some() {
            return Err(stripe_customer_gone(
                &entry,
                "it was deleted at Stripe; a new checkout connects a fresh one".into(),
            ));
        }
        let configuration = options.configuration_id.clone();
        let request = NewPortalSession {
            customer: entry.stripe_customer_id.clone(),
            configuration: options.configuration_id,
            locale: options.locale,
            return_url: options.return_url,
        };
        match self
            .deps
            .payments
            .create_portal_session(&key, &request, deadline)
            .await
        {
            Ok(s) => Ok(PortalSession {
                id: s.id,
                stripe_customer_id: s.customer,
                configuration_id: s.configuration,
                livemode: s.livemode,
                created_at: Timestamp(s.created.saturating_mul(1_000_000)),
                return_url: s.return_url,
                locale: s.locale,
                url: s.url,
            }),
            // Stripe names the missing object in its message ("No such configuration:
            // 'bpc_...'"); the id is ours, so looking for it tells which one is missing.
            Err(e) => Err(
                failure(&self.deps, ns, &app, &key, e, |m| match configuration {
                    Some(id) if m.contains(id.as_str()) => Error::FailedPrecondition {
                        reason: "STRIPE_PORTAL_CONFIGURATION_NOT_FOUND",
                        message: format!(
                            "configuration_id: Stripe has no customer portal configuration {id}"
                        ),
                        metadata: vec![
                            ("field", "configuration_id".into()),
                            ("configuration_id", id),
                        ],
                    },
                    _ => stripe_customer_gone(&entry, m),
                })
                .await,
            ),
        }
    }

    /// Re-reads the customer's Stripe customer in the app and stores what Stripe says: its
    /// default payment method (`invoice_settings.default_payment_method`, or none), or, for a
    /// customer deleted at Stripe, marks the entry's Stripe customer deleted as the
    /// `customer.deleted` webhook does.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn sync_stripe_customer(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        app_id: Option<&str>,
        deadline: Instant,
    ) -> Result<EntryWithApp> {
        let customer = steps::live_customer(&self.deps.store, ns, lookup).await?;
        let (app, key) = steps::usable_app(&self.deps, ns, app_id).await?;
        let entry = self.stripe_entry(ns, &customer, &app).await?;
        let found = match self
            .deps
            .payments
            .retrieve_customer(&key, &entry.stripe_customer_id, deadline)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                return Err(failure(&self.deps, ns, &app, &key, e, |m| {
                    stripe_customer_gone(&entry, m)
                })
                .await);
            }
        };
        let tx = self.deps.store.begin().await?;
        let Some(mut current) = tx.customer_app(ns, &app.id, &customer.id).await? else {
            return Err(stripe_customer_missing(&customer, &app));
        };
        if current.stripe_customer_id != entry.stripe_customer_id {
            return Err(Error::Conflict(
                "a concurrent write changed this customer's Stripe customer; retry".into(),
            ));
        }
        let now = self.deps.now().max(current.updated_at);
        if found.deleted {
            // Exactly what `customer.deleted` does: the entry stays, marked gone, so the next
            // checkout connects a fresh Stripe customer and ListCustomerApps says so.
            if current.stripe_customer_deleted_at.is_none() {
                tx.mark_stripe_customer_deleted(ns, &app.id, &current.stripe_customer_id, now)
                    .await?;
                current.stripe_customer_deleted_at = Some(now);
                current.stripe_default_payment_method_id = None;
            }
        } else {
            current.stripe_default_payment_method_id = found.default_payment_method;
            // Newer than any webhook event already applied: an older event delivered late
            // does not undo what Stripe said now.
            current.default_payment_method_event_created = Some(now.micros() / 1_000_000);
            tx.update_customer_app(ns, &current).await?;
        }
        current.updated_at = now;
        tx.commit().await?;
        Ok((current, app))
    }
}
