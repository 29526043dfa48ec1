//! Customers' data for apps: their Stripe customer and default payment method, per app.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::customer_app as ca;
use super::query::{insert, soft_delete};
use super::read::Reader;
use super::{StoreError, StoreResult, Tx};
use crate::domain::app::CustomerApp;
use crate::domain::{Namespace, Timestamp};

fn to_domain(row: ca::Model) -> CustomerApp {
    CustomerApp {
        id: row.id,
        customer_id: row.customer_id,
        app_id: row.app_id,
        stripe_customer_id: row.stripe_customer_id,
        stripe_default_payment_method_id: row.stripe_default_payment_method_id,
        default_payment_method_event_created: row.default_payment_method_event_created,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        deleted_at: row.deleted_at.map(Timestamp),
        stripe_customer_deleted_at: row.stripe_customer_deleted_at.map(Timestamp),
    }
}

fn to_row(ns: &Namespace, e: &CustomerApp) -> ca::ActiveModel {
    ca::ActiveModel {
        id: Set(e.id.clone()),
        namespace: Set(ns.as_str().to_owned()),
        customer_id: Set(e.customer_id.clone()),
        app_id: Set(e.app_id.clone()),
        stripe_customer_id: Set(e.stripe_customer_id.clone()),
        stripe_default_payment_method_id: Set(e.stripe_default_payment_method_id.clone()),
        default_payment_method_event_created: Set(e.default_payment_method_event_created),
        created_at: Set(e.created_at.micros()),
        updated_at: Set(e.updated_at.micros()),
        deleted_at: Set(e.deleted_at.map(Timestamp::micros)),
        stripe_customer_deleted_at: Set(e.stripe_customer_deleted_at.map(Timestamp::micros)),
    }
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The customer's live app entries, ordered by (created_at, id).
    pub(super) async fn customer_apps(
        &self,
        ns: &Namespace,
        customer_id: &str,
    ) -> StoreResult<Vec<CustomerApp>> {
        let rows = ca::Entity::find()
            .filter(ca::Column::Namespace.eq(ns.as_str()))
            .filter(ca::Column::CustomerId.eq(customer_id))
            .filter(ca::Column::DeletedAt.is_null())
            .order_by_asc(ca::Column::CreatedAt)
            .order_by_asc(ca::Column::Id)
            .all(self.db)
            .await
            .map_err(StoreError::from_db)?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    /// The customer's live entry for the app.
    pub(super) async fn customer_app(
        &self,
        ns: &Namespace,
        app_id: &str,
        customer_id: &str,
    ) -> StoreResult<Option<CustomerApp>> {
        self.live_entry(ns, app_id, ca::Column::CustomerId.eq(customer_id))
            .await
    }

    /// The live entry of the app that uses this Stripe customer.
    pub(super) async fn customer_app_by_stripe_customer(
        &self,
        ns: &Namespace,
        app_id: &str,
        stripe_customer_id: &str,
    ) -> StoreResult<Option<CustomerApp>> {
        self.live_entry(
            ns,
            app_id,
            ca::Column::StripeCustomerId.eq(stripe_customer_id),
        )
        .await
    }

    /// The app's live entry that matches `which`.
    async fn live_entry(
        &self,
        ns: &Namespace,
        app_id: &str,
        which: Expr,
    ) -> StoreResult<Option<CustomerApp>> {
        let row = ca::Entity::find()
            .filter(ca::Column::Namespace.eq(ns.as_str()))
            .filter(ca::Column::AppId.eq(app_id))
            .filter(which)
            .filter(ca::Column::DeletedAt.is_null())
            .one(self.db)
            .await
            .map_err(StoreError::from_db)?;
        Ok(row.map(to_domain))
    }
}

impl Tx {
    /// Inserts an entry. `UniqueViolation` if the customer already has a live entry for the app,
    /// or another live entry of the app uses the same Stripe customer.
    pub async fn insert_customer_app(
        &self,
        ns: &Namespace,
        entry: &CustomerApp,
    ) -> StoreResult<()> {
        insert(&self.inner, [to_row(ns, entry)]).await
    }

    /// Writes the Stripe customer, default payment method (with its event time) and updated_at
    /// of the entry with `entry.id`. `UniqueViolation` if another live entry of the app uses the
    /// Stripe customer.
    pub async fn update_customer_app(
        &self,
        ns: &Namespace,
        entry: &CustomerApp,
    ) -> StoreResult<()> {
        ca::Entity::update_many()
            .col_expr(
                ca::Column::StripeCustomerId,
                Expr::val(entry.stripe_customer_id.clone()),
            )
            .col_expr(
                ca::Column::StripeDefaultPaymentMethodId,
                Expr::val(entry.stripe_default_payment_method_id.clone()),
            )
            .col_expr(
                ca::Column::DefaultPaymentMethodEventCreated,
                Expr::val(entry.default_payment_method_event_created),
            )
            .col_expr(
                ca::Column::StripeCustomerDeletedAt,
                Expr::val(entry.stripe_customer_deleted_at.map(Timestamp::micros)),
            )
            .col_expr(ca::Column::UpdatedAt, Expr::val(entry.updated_at.micros()))
            .filter(ca::Column::Namespace.eq(ns.as_str()))
            .filter(ca::Column::Id.eq(entry.id.as_str()))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Soft-deletes the customer's live entry for the app; returns whether there was one.
    pub async fn delete_customer_app(
        &self,
        ns: &Namespace,
        app_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let deleted = self
            .soft_delete(
                Condition::all()
                    .add(ca::Column::Namespace.eq(ns.as_str()))
                    .add(ca::Column::AppId.eq(app_id))
                    .add(ca::Column::CustomerId.eq(customer_id)),
                at,
            )
            .await?;
        Ok(deleted > 0)
    }

    /// Soft-deletes every live entry of the customer.
    pub async fn delete_customer_apps_of_customer(
        &self,
        ns: &Namespace,
        customer_id: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.soft_delete(
            Condition::all()
                .add(ca::Column::Namespace.eq(ns.as_str()))
                .add(ca::Column::CustomerId.eq(customer_id)),
            at,
        )
        .await?;
        Ok(())
    }

    /// Soft-deletes every live entry of the app.
    pub async fn delete_customer_apps_of_app(
        &self,
        ns: &Namespace,
        app_id: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.soft_delete(
            Condition::all()
                .add(ca::Column::Namespace.eq(ns.as_str()))
                .add(ca::Column::AppId.eq(app_id)),
            at,
        )
        .await?;
        Ok(())
    }

    /// Soft-deletes the live entries matching `which`; returns how many.
    async fn soft_delete(&self, which: Condition, at: Timestamp) -> StoreResult<u64> {
        let columns = (ca::Column::DeletedAt, ca::Column::UpdatedAt);
        soft_delete::<ca::Entity>(&self.inner, columns, which, at).await
    }

    /// Sets the default payment method of the customer's live entry for the app, unless it was
    /// set by an event at least as new as `event_created` (one conditional UPDATE, so the newest
    /// event wins whatever the order of concurrent deliveries). Returns whether the entry changed.
    ///
    /// Only while the entry's Stripe customer is `stripe_customer_id` (in the same statement, so a
    /// concurrent change of the entry's Stripe customer cannot slip in between).
    pub async fn set_default_payment_method(
        &self,
        ns: &Namespace,
        entry: StripeEntry<'_>,
        payment_method_id: &str,
        event_created: i64,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let which = Condition::all()
            .add(ca::Column::CustomerId.eq(entry.customer_id))
            .add(ca::Column::StripeCustomerId.eq(entry.stripe_customer_id));
        self.newer_default(
            ns,
            entry.app_id,
            which,
            Some(payment_method_id),
            event_created,
            at,
        )
        .await
    }

    /// Sets the default payment method of the app's live entry mapped to the Stripe customer
    /// (and, when given, of the patron customer), newest event wins as in
    /// [`Tx::set_default_payment_method`]. Returns whether the entry changed.
    pub async fn set_default_payment_method_of_stripe_customer(
        &self,
        ns: &Namespace,
        customer: StripeCustomerOf<'_>,
        payment_method_id: &str,
        event_created: i64,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut which =
            Condition::all().add(ca::Column::StripeCustomerId.eq(customer.stripe_customer_id));
        if let Some(customer_id) = customer.customer_id {
            which = which.add(ca::Column::CustomerId.eq(customer_id));
        }
        self.newer_default(
            ns,
            customer.app_id,
            which,
            Some(payment_method_id),
            event_created,
            at,
        )
        .await
    }

    /// Clears the default payment method of the app's live entries whose default is
    /// `payment_method_id`, unless it was set by an event at least as new as `event_created`.
    /// Returns whether an entry changed.
    pub async fn clear_default_payment_method(
        &self,
        ns: &Namespace,
        app_id: &str,
        payment_method_id: &str,
        event_created: i64,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let which =
            Condition::all().add(ca::Column::StripeDefaultPaymentMethodId.eq(payment_method_id));
        self.newer_default(ns, app_id, which, None, event_created, at)
            .await
    }

    /// Marks the Stripe customer of the app's live entry mapped to it as deleted at Stripe (and
    /// clears its default payment method, which Stripe detached). Returns whether an entry
    /// changed.
    pub async fn mark_stripe_customer_deleted(
        &self,
        ns: &Namespace,
        app_id: &str,
        stripe_customer_id: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = ca::Entity::update_many()
            .col_expr(ca::Column::StripeCustomerDeletedAt, Expr::val(at.micros()))
            .col_expr(
                ca::Column::StripeDefaultPaymentMethodId,
                Expr::val(None::<String>),
            )
            .col_expr(ca::Column::UpdatedAt, Expr::val(at.micros()))
            .filter(ca::Column::Namespace.eq(ns.as_str()))
            .filter(ca::Column::AppId.eq(app_id))
            .filter(ca::Column::StripeCustomerId.eq(stripe_customer_id))
            .filter(ca::Column::DeletedAt.is_null())
            .filter(ca::Column::StripeCustomerDeletedAt.is_null())
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected > 0)
    }

    /// One conditional UPDATE of the default payment method of the app's live entries matching
    /// `which`, only where no event at least as new as `event_created` set it.
    async fn newer_default(
        &self,
        ns: &Namespace,
        app_id: &str,
        which: Condition,
        payment_method_id: Option<&str>,
        event_created: i64,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = ca::Entity::update_many()
            .col_expr(
                ca::Column::StripeDefaultPaymentMethodId,
                Expr::val(payment_method_id.map(str::to_owned)),
            )
            .col_expr(
                ca::Column::DefaultPaymentMethodEventCreated,
                Expr::val(event_created),
            )
            .col_expr(ca::Column::UpdatedAt, Expr::val(at.micros()))
            .filter(ca::Column::Namespace.eq(ns.as_str()))
            .filter(ca::Column::AppId.eq(app_id))
            .filter(which)
            .filter(ca::Column::DeletedAt.is_null())
            .filter(
                Condition::any()
                    .add(ca::Column::DefaultPaymentMethodEventCreated.is_null())
                    .add(ca::Column::DefaultPaymentMethodEventCreated.lt(event_created)),
            )
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(result.rows_affected > 0)
    }
}

/// One customer's entry for a Stripe app, as a webhook names it.
#[derive(Clone, Copy, Debug)]
pub struct StripeEntry<'a> {
    /// The app.
    pub app_id: &'a str,
    /// The patron customer.
    pub customer_id: &'a str,
    /// The Stripe customer the entry must still map to.
    pub stripe_customer_id: &'a str,
}

/// An app's Stripe customer, as an event about the customer names it.
#[derive(Clone, Copy, Debug)]
pub struct StripeCustomerOf<'a> {
    /// The app.
    pub app_id: &'a str,
    /// The Stripe customer.
    pub stripe_customer_id: &'a str,
    /// The patron customer, when the Stripe customer's metadata names it.
    pub customer_id: Option<&'a str>,
}
