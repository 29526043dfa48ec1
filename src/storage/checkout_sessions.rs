//! Stored Stripe Checkout Sessions. The embedded client secret is stored only encrypted.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::entities::checkout_session as cs;
use super::query::{Sort, insert, page};
use super::read::Reader;
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::checkout::{CheckoutSession, SessionStatus, UiMode};
use crate::domain::collected::DetailsRule;
use crate::domain::page::Cursor;
use crate::domain::{Namespace, Timestamp};

/// The session (its `client_secret` is `None`) and the stored client secret ciphertext.
fn to_domain(row: cs::Model) -> StoreResult<(CheckoutSession, Option<String>)> {
    let corrupt = |what: String| {
        StoreError::Db(DbErr::Custom(format!(
            "checkout session {} has unreadable {what}",
            row.session_id
        )))
    };
    let metadata: BTreeMap<String, String> =
        serde_json::from_str(&row.metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
    let status = SessionStatus::parse(&row.status)
        .ok_or_else(|| corrupt(format!("status {:?}", row.status)))?;
    let collected_details: Option<DetailsRule> = row
        .collected_details
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt(format!("collected_details: {e}")))?;
    let session = CheckoutSession {
        session_id: row.session_id,
        app_id: row.app_id,
        customer_id: row.customer_id,
        stripe_customer_id: row.stripe_customer_id,
        setup_intent_id: row.setup_intent_id,
        status,
        ui_mode: UiMode::from_stored(&row.ui_mode),
        url: row.url,
        client_secret: None,
        currency: row.currency,
        success_url: row.success_url,
        cancel_url: row.cancel_url,
        return_url: row.return_url,
        client_reference_id: row.client_reference_id,
        customer_email: row.customer_email,
        metadata,
        request_id: row.request_id,
        expires_at: row.expires_at.map(Timestamp),
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        collected_details,
    };
    Ok((session, row.client_secret_ciphertext))
}

fn to_row(
    ns: &Namespace,
    s: &CheckoutSession,
    client_secret_ciphertext: Option<String>,
) -> StoreResult<cs::ActiveModel> {
    let metadata = serde_json::to_string(&s.metadata).map_err(|e| {
        StoreError::Db(DbErr::Custom(format!(
            "checkout session {} metadata cannot be written: {e}",
            s.session_id
        )))
    })?;
    let collected_details = s
        .collected_details
        .as_ref()
        .map(|rule| rule_json(&s.session_id, rule))
        .transpose()?;
    Ok(cs::ActiveModel {
        session_id: Set(s.session_id.clone()),
        namespace: Set(ns.as_str().to_owned()),
        app_id: Set(s.app_id.clone()),
        customer_id: Set(s.customer_id.clone()),
        stripe_customer_id: Set(s.stripe_customer_id.clone()),
        setup_intent_id: Set(s.setup_intent_id.clone()),
        status: Set(s.status.as_str().to_owned()),
        ui_mode: Set(s.ui_mode.as_str().to_owned()),
        url: Set(s.url.clone()),
        client_secret_ciphertext: Set(client_secret_ciphertext),
        currency: Set(s.currency.clone()),
        success_url: Set(s.success_url.clone()),
        cancel_url: Set(s.cancel_url.clone()),
        return_url: Set(s.return_url.clone()),
        client_reference_id: Set(s.client_reference_id.clone()),
        customer_email: Set(s.customer_email.clone()),
        metadata: Set(metadata),
        request_id: Set(s.request_id.clone()),
        expires_at: Set(s.expires_at.map(Timestamp::micros)),
        created_at: Set(s.created_at.micros()),
        updated_at: Set(s.updated_at.micros()),
        collected_details: Set(collected_details),
    })
}

fn rule_json(session_id: &str, rule: &DetailsRule) -> StoreResult<String> {
    serde_json::to_string(rule).map_err(|e| {
        StoreError::Db(DbErr::Custom(format!(
            "checkout session {session_id} collected_details cannot be written: {e}"
        )))
    })
}

/// Sets the status and updated_at of the namespace's session with this id, if it matches
/// `which` too; returns whether there was one.
async fn set_status(
    db: &impl ConnectionTrait,
    ns: &Namespace,
    session_id: &str,
    which: Condition,
    status: SessionStatus,
    at: Timestamp,
) -> StoreResult<bool> {
    let result = cs::Entity::update_many()
        .col_expr(cs::Column::Status, Expr::val(status.as_str()))
        .col_expr(cs::Column::UpdatedAt, Expr::val(at.micros()))
        .filter(cs::Column::Namespace.eq(ns.as_str()))
        .filter(cs::Column::SessionId.eq(session_id))
        .filter(which)
        .exec(db)
        .await
        .map_err(StoreError::from_db)?;
    Ok(result.rows_affected > 0)
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The session with this id and its stored client secret ciphertext.
    pub(super) async fn checkout_session(
        &self,
        ns: &Namespace,
        session_id: &str,
    ) -> StoreResult<Option<(CheckoutSession, Option<String>)>> {
        let select = cs::Entity::find()
            .filter(cs::Column::Namespace.eq(ns.as_str()))
            .filter(cs::Column::SessionId.eq(session_id));
        self.one(select, to_domain).await
    }

    /// The app's session whose SetupIntent is `setup_intent_id`.
    pub(super) async fn checkout_session_by_setup_intent(
        &self,
        ns: &Namespace,
        app_id: &str,
        setup_intent_id: &str,
    ) -> StoreResult<Option<CheckoutSession>> {
        let select = cs::Entity::find()
            .filter(cs::Column::Namespace.eq(ns.as_str()))
            .filter(cs::Column::AppId.eq(app_id))
            .filter(cs::Column::SetupIntentId.eq(setup_intent_id));
        self.one(select, |row| to_domain(row).map(|(s, _)| s)).await
    }

    /// The customer's newest session in the app (by created_at) that takes collected details,
    /// for its Stripe customer.
    pub(super) async fn newest_collecting_session(
        &self,
        ns: &Namespace,
        app_id: &str,
        customer_id: &str,
        stripe_customer_id: &str,
    ) -> StoreResult<Option<CheckoutSession>> {
        use sea_orm::QueryOrder;
        let select = cs::Entity::find()
            .filter(cs::Column::Namespace.eq(ns.as_str()))
            .filter(cs::Column::AppId.eq(app_id))
            .filter(cs::Column::CustomerId.eq(customer_id))
            .filter(cs::Column::StripeCustomerId.eq(stripe_customer_id))
            .filter(cs::Column::CollectedDetails.is_not_null())
            .order_by_desc(cs::Column::CreatedAt)
            .order_by_desc(cs::Column::SessionId);
        self.one(select, |row| to_domain(row).map(|(s, _)| s)).await
    }

    /// Up to `limit` sessions, newest first (created_at, then session_id, descending), after
    /// `after` if given. `after.value` must be the created_at (`SortValue::Int`) of the last
    /// session of the previous page.
    pub(super) async fn list_checkout_sessions(
        &self,
        ns: &Namespace,
        customer_id: Option<&str>,
        status: Option<SessionStatus>,
        after: Option<&Cursor>,
        limit: u64,
    ) -> StoreResult<Vec<(CheckoutSession, Option<String>)>> {
        use cs::Column as C;
        let mut select = cs::Entity::find().filter(C::Namespace.eq(ns.as_str()));
        if let Some(customer_id) = customer_id {
            select = select.filter(C::CustomerId.eq(customer_id));
        }
        if let Some(status) = status {
            select = select.filter(C::Status.eq(status.as_str()));
        }
        let select = page(
            select,
            Sort::Int(C::CreatedAt),
            C::SessionId,
            after,
            true,
            limit,
        )?;
        self.all(select, to_domain).await
    }
}

impl Store {
    /// Sets the status of the namespace's session with this id; returns whether there was one.
    pub async fn set_checkout_session_status_in(
        &self,
        ns: &Namespace,
        session_id: &str,
        status: SessionStatus,
        at: Timestamp,
    ) -> StoreResult<bool> {
        set_status(&self.writer, ns, session_id, Condition::all(), status, at).await
    }
}

impl Tx {
    /// Inserts a session. Its `client_secret` is not stored: only `client_secret_ciphertext`.
    pub async fn insert_checkout_session(
        &self,
        ns: &Namespace,
        session: &CheckoutSession,
        client_secret_ciphertext: Option<String>,
    ) -> StoreResult<()> {
        insert(
            &self.inner,
            [to_row(ns, session, client_secret_ciphertext)?],
        )
        .await
    }
}

impl Tx {
    /// Sets the status of the app's session with this id inside the transaction (webhook
    /// processing: the event record and its effect commit together); returns whether there was
    /// such a session.
    pub async fn set_checkout_session_status(
        &self,
        ns: &Namespace,
        app_id: &str,
        session_id: &str,
        status: SessionStatus,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let of_app = Condition::all().add(cs::Column::AppId.eq(app_id));
        set_status(&self.inner, ns, session_id, of_app, status, at).await
    }
}

impl Tx {
    /// Stores a session's collected-details rule (after an event applied it).
    pub async fn set_collected_details(
        &self,
        ns: &Namespace,
        session_id: &str,
        rule: &DetailsRule,
        at: Timestamp,
    ) -> StoreResult<()> {
        cs::Entity::update_many()
            .col_expr(
                cs::Column::CollectedDetails,
                Expr::val(rule_json(session_id, rule)?),
            )
            .col_expr(cs::Column::UpdatedAt, Expr::val(at.micros()))
            .filter(cs::Column::Namespace.eq(ns.as_str()))
            .filter(cs::Column::SessionId.eq(session_id))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }
}
