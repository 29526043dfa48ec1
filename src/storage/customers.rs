//! Customer rows, their subject keys and the attribution-identifier ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::sqlx::{self, PgPool};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QueryResult, RuntimeErr, Set,
};

use super::batch::{self, Batcher};
use super::cache::Lookup;
use super::creates::NewCustomer;
use super::entities::{attribution_identifier as ident, customer, customer_subject_key as csk};
use super::query::{Sort, insert, page, prefix_end};
use super::read::Reader;
use super::{IdempotencyRecord, Store, StoreError, StoreResult, Tx};
use crate::domain::customer::{
    Address, Customer, CustomerFields, CustomerFilter, CustomerQuery, Order, OrderField,
};
use crate::domain::values::{
    CountryCode, Currency, Description, Email, Identifier, Metadata, Name, ShortText,
};
use crate::domain::{Namespace, Timestamp, new_id};

fn stored<T>(value: Option<String>, make: fn(String) -> T) -> Option<T> {
    value.map(make)
}

fn to_domain(row: customer::Model) -> StoreResult<Customer> {
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Db(sea_orm::DbErr::Custom(format!(
            "customer {} has unreadable {what}: {e}",
            row.id
        )))
    };
    let metadata: BTreeMap<String, String> =
        serde_json::from_str(&row.metadata).map_err(|e| corrupt("metadata", e))?;
    let subject_keys: Vec<String> =
        serde_json::from_str(&row.subject_keys).map_err(|e| corrupt("subject_keys", e))?;
    Ok(Customer {
        fields: CustomerFields {
            key: stored(row.key, Identifier::from_stored),
            name: Name::from_stored(row.name),
            description: stored(row.description, Description::from_stored),
            metadata: Metadata::from_stored(metadata),
            subject_keys: subject_keys
                .into_iter()
                .map(Identifier::from_stored)
                .collect(),
            primary_email: stored(row.primary_email, Email::from_stored),
            currency: stored(row.currency, Currency::from_stored),
            billing_address: Address {
                country: stored(row.billing_country, CountryCode::from_stored),
                postal_code: stored(row.billing_postal_code, ShortText::from_stored),
                state: stored(row.billing_state, ShortText::from_stored),
                city: stored(row.billing_city, ShortText::from_stored),
                line1: stored(row.billing_line1, ShortText::from_stored),
                line2: stored(row.billing_line2, ShortText::from_stored),
                phone_number: stored(row.billing_phone_number, ShortText::from_stored),
            },
        },
        id: row.id,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        deleted_at: row.deleted_at.map(Timestamp),
        etag: row.etag,
    })
}

/// The columns of `customers` in the order of `customer::Model`'s fields (a test checks it), for
/// the hand-written statements of the hot reads.
macro_rules! customer_columns {
    () => {
        "id, namespace, key, name, name_lower, description, metadata, subject_keys, \
         primary_email, primary_email_lower, currency, billing_country, billing_postal_code, \
         billing_state, billing_city, billing_line1, billing_line2, billing_phone_number, \
         created_at, updated_at, deleted_at, etag"
    };
}

/// GetCustomer by id: the primary key (a customer of another namespace is not found).
const CUSTOMER_BY_ID: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers WHERE namespace = $1 AND id = $2"
);

/// GetCustomer by key: the live customer holding it (at most one, a unique index says so).
const LIVE_CUSTOMER_BY_KEY: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers WHERE namespace = $1 AND key = $2 AND deleted_at IS NULL LIMIT 1"
);

/// GetCustomer by id for many calls at once (PostgreSQL): `$1` their namespaces, `$2` their ids.
const CUSTOMERS_BY_IDS: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM unnest($1::text[], $2::text[]) AS wanted(wanted_ns, wanted_id) \
     JOIN customers ON namespace = wanted_ns AND id = wanted_id"
);

/// GetCustomer by key for many calls at once (PostgreSQL): `$1` their namespaces, `$2` their keys.
const LIVE_CUSTOMERS_BY_KEYS: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM unnest($1::text[], $2::text[]) AS wanted(wanted_ns, wanted_key) \
     JOIN customers ON namespace = wanted_ns AND key = wanted_key AND deleted_at IS NULL"
);

/// GetCustomer's two lookups, each merging the reads of concurrent calls into one statement
/// (PostgreSQL; see `batch`).
#[derive(Debug)]
pub(super) struct CustomerReads {
    by_id: Batcher,
    by_key: Batcher,
}

impl CustomerReads {
    /// Starts both lookups on `pool`; a read waits at most `acquire_timeout` for its statement.
    pub(super) fn start(pool: &PgPool, acquire_timeout: Duration) -> Self {
        let lookup = |sql, matched_at| batch::Lookup {
            sql,
            matched_at,
            read: customer_from,
        };
        Self {
            by_id: Batcher::start(pool.clone(), lookup(CUSTOMERS_BY_IDS, 0), acquire_timeout),
            by_key: Batcher::start(
                pool.clone(),
                lookup(LIVE_CUSTOMERS_BY_KEYS, 2),
                acquire_timeout,
            ),
        }
    }
}

/// A row of `customer_columns!()`, read by position.
fn customer_at(row: &QueryResult) -> StoreResult<Customer> {
    if let Some(row) = row.try_as_pg_row() {
        customer_from(row)
    } else if let Some(row) = row.try_as_sqlite_row() {
        customer_from(row)
    } else {
        Err(StoreError::Db(DbErr::Custom(
            "a customer row from neither PostgreSQL nor SQLite".into(),
        )))
    }
}

/// A driver row of `customer_columns!()`, read by position with the driver's own decoding (the
/// ORM's adds a formatted message for every NULL column). Unchecked: every statement that reads
/// customers names `customer_columns!()` in order, so each column's type is fixed by the schema,
/// and comparing it with the driver's type info on every value cost 3.4 % of a GetCustomer's
/// instructions on PostgreSQL (callgrind: 103k -> 99.6k per call). PostgreSQL's decoding still
/// fails on a NULL where a value must be, on invalid UTF-8 and on a wrong-sized integer; SQLite's
/// skipped the check for NULL before too (its NOT NULL columns keep NULL out).
pub(super) fn customer_from<R>(row: &R) -> StoreResult<Customer>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database>,
{
    let read = || -> Result<customer::Model, sqlx::Error> {
        Ok(customer::Model {
            id: row.try_get_unchecked(0)?,
            namespace: row.try_get_unchecked(1)?,
            key: row.try_get_unchecked(2)?,
            name: row.try_get_unchecked(3)?,
            name_lower: row.try_get_unchecked(4)?,
            description: row.try_get_unchecked(5)?,
            metadata: row.try_get_unchecked(6)?,
            subject_keys: row.try_get_unchecked(7)?,
            primary_email: row.try_get_unchecked(8)?,
            primary_email_lower: row.try_get_unchecked(9)?,
            currency: row.try_get_unchecked(10)?,
            billing_country: row.try_get_unchecked(11)?,
            billing_postal_code: row.try_get_unchecked(12)?,
            billing_state: row.try_get_unchecked(13)?,
            billing_city: row.try_get_unchecked(14)?,
            billing_line1: row.try_get_unchecked(15)?,
            billing_line2: row.try_get_unchecked(16)?,
            billing_phone_number: row.try_get_unchecked(17)?,
            created_at: row.try_get_unchecked(18)?,
            updated_at: row.try_get_unchecked(19)?,
            deleted_at: row.try_get_unchecked(20)?,
            etag: row.try_get_unchecked(21)?,
        })
    };
    let model =
        read().map_err(|e| StoreError::Db(DbErr::Query(RuntimeErr::SqlxError(e.into()))))?;
    to_domain(model)
}

fn text<T: AsRef<str>>(value: &Option<T>) -> Option<String> {
    value.as_ref().map(|v| v.as_ref().to_owned())
}

pub(super) fn to_model(ns: &Namespace, c: &Customer) -> customer::Model {
    let f = &c.fields;
    let a = &f.billing_address;
    let keys: Vec<&str> = f.subject_keys.iter().map(Identifier::as_str).collect();
    customer::Model {
        id: c.id.clone(),
        namespace: ns.as_str().to_owned(),
        key: text(&f.key),
        name: f.name.as_str().to_owned(),
        name_lower: f.name.as_str().to_lowercase(),
        description: text(&f.description),
        // Built as JSON values, which always render: no serialization error to fall back from.
        metadata: serde_json::Value::Object(
            f.metadata
                .entries()
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect(),
        )
        .to_string(),
        subject_keys: serde_json::Value::from(keys).to_string(),
        primary_email: text(&f.primary_email),
        primary_email_lower: f.primary_email.as_ref().map(Email::lowercase),
        currency: text(&f.currency),
        billing_country: text(&a.country),
        billing_postal_code: text(&a.postal_code),
        billing_state: text(&a.state),
        billing_city: text(&a.city),
        billing_line1: text(&a.line1),
        billing_line2: text(&a.line2),
        billing_phone_number: text(&a.phone_number),
        created_at: c.created_at.micros(),
        updated_at: c.updated_at.micros(),
        deleted_at: c.deleted_at.map(Timestamp::micros),
        etag: c.etag.clone(),
    }
}

/// Every column set (an UPDATE writes them all).
fn to_row(ns: &Namespace, c: &Customer) -> customer::ActiveModel {
    to_model(ns, c).into_active_model().reset_all()
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The customer with this id, live or deleted; outside a transaction served from the customer
    /// cache where there is one.
    pub(super) async fn customer_by_id(
        &self,
        ns: &Namespace,
        id: &str,
    ) -> StoreResult<Option<Customer>> {
        let Some(cache) = self.customer_cache else {
            return self.find_customer(ns, id).await;
        };
        let ticket = match cache.get(ns.as_str(), id) {
            Lookup::Hit(customer) => return Ok(Some(Customer::clone(&customer))),
            Lookup::Miss(ticket) => ticket,
        };
        let found = self.find_customer(ns, id).await?;
        if let Some(customer) = &found {
            cache.fill(ticket, ns.as_str(), customer);
        }
        Ok(found)
    }

    async fn find_customer(&self, ns: &Namespace, id: &str) -> StoreResult<Option<Customer>> {
        if let Some(reads) = self.customer_reads {
            return reads.by_id.get(ns.as_str(), id).await;
        }
        self.one_sql(CUSTOMER_BY_ID, [ns.as_str(), id], customer_at)
            .await
    }

    /// The live customer with this key.
    pub(super) async fn live_customer_by_key(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> StoreResult<Option<Customer>> {
        if let Some(reads) = self.customer_reads {
            return reads.by_key.get(ns.as_str(), key).await;
        }
        self.one_sql(LIVE_CUSTOMER_BY_KEY, [ns.as_str(), key], customer_at)
            .await
    }

    /// The live holders of these identifiers, as (identifier, customer id) sorted by identifier
    /// (read on the writer).
    pub(super) async fn identifier_holders(
        &self,
        ns: &Namespace,
        identifiers: &[&str],
    ) -> StoreResult<Vec<(String, String)>> {
        if identifiers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = ident::Entity::find()
            .filter(ident::Column::Namespace.eq(ns.as_str()))
            .filter(ident::Column::Identifier.is_in(identifiers.iter().copied()))
            .filter(ident::Column::ValidTo.is_null())
            .order_by_asc(ident::Column::Identifier)
            .all(self.writer)
            .await
            .map_err(StoreError::from_db)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.identifier, row.customer_id))
            .collect())
    }

    /// One page of customers plus one more row, if there is one (so the caller knows whether a
    /// next page exists).
    pub(super) async fn list_customers(
        &self,
        ns: &Namespace,
        query: &CustomerQuery,
    ) -> StoreResult<Vec<Customer>> {
        use customer::Column as C;
        let select = filtered(ns, &query.filter);
        let sort = sort_of(query.order.field);
        let (after, desc) = (query.after.as_ref(), query.order.descending);
        let select = page(select, sort, C::Id, after, desc, query.page_size + 1)?;
        self.customers(select).await
    }

    /// Every customer `select` (a `customer::Entity::find()`, whose columns are
    /// `customer_columns!()` in order) finds, decoded by the driver as GetCustomer's rows are.
    async fn customers(
        &self,
        select: sea_orm::Select<customer::Entity>,
    ) -> StoreResult<Vec<Customer>> {
        use sea_orm::QueryTrait;
        let statement = select.build(self.db.get_database_backend());
        let rows = self
            .db
            .query_all_raw(statement)
            .await
            .map_err(StoreError::from_db)?;
        rows.iter().map(customer_at).collect()
    }

    /// How many customers pass `filter`.
    pub(super) async fn count_customers(
        &self,
        ns: &Namespace,
        filter: &CustomerFilter,
    ) -> StoreResult<u64> {
        use sea_orm::PaginatorTrait;
        filtered(ns, filter)
            .count(self.db)
            .await
            .map_err(StoreError::from_db)
    }

    /// At most `limit` customers that pass `filter`, in `order`, skipping the first `offset`
    /// (page-numbered lists).
    pub(super) async fn customers_at(
        &self,
        ns: &Namespace,
        filter: &CustomerFilter,
        order: Order,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<Customer>> {
        use sea_orm::QuerySelect;
        let select = filtered(ns, filter);
        let select = page(
            select,
            sort_of(order.field),
            customer::Column::Id,
            None,
            order.descending,
            limit,
        )?
        .offset(offset);
        self.customers(select).await
    }
}

/// The customers of `ns` that pass `f`, unordered.
fn filtered(ns: &Namespace, f: &CustomerFilter) -> sea_orm::Select<customer::Entity> {
    use customer::Column as C;
    let mut select = customer::Entity::find().filter(C::Namespace.eq(ns.as_str()));
    if !f.show_deleted {
        select = select.filter(C::DeletedAt.is_null());
    }
    if let Some(key) = &f.key {
        select = select.filter(C::Key.eq(key.as_str()));
    }
    if let Some(email) = &f.primary_email_lower {
        select = select.filter(C::PrimaryEmailLower.eq(email.as_str()));
    }
    if let Some(prefix) = &f.name_prefix_lower {
        // A range over the lower-cased name (byte order), so the index serves it.
        select = select.filter(C::NameLower.gte(prefix.as_str()));
        if let Some(end) = prefix_end(prefix) {
            select = select.filter(C::NameLower.lt(end));
        }
    }
    if let Some(subject_key) = &f.subject_key {
        select = select.filter(
            C::Id.in_subquery(
                Query::select()
                    .column(csk::Column::CustomerId)
                    .from(csk::Entity)
                    .and_where(csk::Column::Namespace.eq(ns.as_str()))
                    .and_where(csk::Column::SubjectKey.eq(subject_key.as_str()))
                    .to_owned(),
            ),
        );
    }
    select
}

fn sort_of(field: OrderField) -> Sort<customer::Column> {
    match field {
        OrderField::Name => Sort::Text(customer::Column::Name),
        OrderField::CreatedAt => Sort::Int(customer::Column::CreatedAt),
        OrderField::Id => Sort::Id,
    }
}

/// What a create writes besides the customer: the remembered response of its request_id.
pub struct CreateRecord<'a> {
    /// API method, e.g. `CreateCustomer`.
    pub method: &'a str,
    /// The caller's request id.
    pub request_id: &'a str,
    /// Hash and response.
    pub record: IdempotencyRecord,
}

impl Store {
    /// Stores a new customer atomically: its row, its subject keys, its claims on its identifiers,
    /// a Subject for every subject key that has none yet (with `subject_metadata`) and, if given,
    /// the idempotency record (all stamped with the customer's `created_at`). `UniqueViolation` if an identifier is held by another live customer
    /// or the request_id was recorded concurrently; nothing is stored then.
    ///
    /// On PostgreSQL this is one statement (data-modifying CTEs) in its own implicit transaction,
    /// shared with the creates that arrive meanwhile (see `creates`).
    pub async fn create_customer(
        &self,
        ns: &Namespace,
        customer: &Customer,
        subject_metadata: &serde_json::Map<String, serde_json::Value>,
        record: Option<CreateRecord<'_>>,
    ) -> StoreResult<()> {
        if let Some(creates) = &self.creates {
            return creates
                .create(NewCustomer::new(ns, customer, subject_metadata, record))
                .await;
        }
        // SQLite: one job of the writer's next group commit, inside its own savepoint.
        let Some(group_commit) = &self.group_commit else {
            return Err(StoreError::Db(DbErr::Custom(
                "a SQLite store without its writer task".into(),
            )));
        };
        let create = Arc::new(NewCustomer::new(ns, customer, subject_metadata, record));
        group_commit
            .run(Box::new(move |tx: &Tx| {
                let create = Arc::clone(&create);
                Box::pin(async move { tx.insert_new_customer(&create).await })
            }))
            .await
    }
}

impl Tx {
    /// Writes the customer's new state if its stored etag is still `expected_etag`; returns
    /// whether it was written. Subject keys are replaced; `released` identifiers end their
    /// intervals and `claimed` ones start new ones at the customer's updated_at.
    pub async fn update_customer(
        &self,
        ns: &Namespace,
        customer: &Customer,
        expected_etag: &str,
        released: &[&str],
        claimed: &[&str],
    ) -> StoreResult<bool> {
        self.marks.mark(ns.as_str(), &customer.id);
        let result = customer::Entity::update_many()
            .set(to_row(ns, customer))
            .filter(customer::Column::Namespace.eq(ns.as_str()))
            .filter(customer::Column::Id.eq(customer.id.as_str()))
            .filter(customer::Column::Etag.eq(expected_etag))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        csk::Entity::delete_many()
            .filter(csk::Column::Namespace.eq(ns.as_str()))
            .filter(csk::Column::CustomerId.eq(customer.id.as_str()))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        let keys: Vec<&str> = customer
            .fields
            .subject_keys
            .iter()
            .map(Identifier::as_str)
            .collect();
        self.add_subject_keys(ns, &customer.id, &keys).await?;
        self.release(ns, &customer.id, Some(released), customer.updated_at)
            .await?;
        self.claim(ns, &customer.id, claimed, customer.updated_at)
            .await?;
        Ok(true)
    }

    async fn add_subject_keys(
        &self,
        ns: &Namespace,
        customer_id: &str,
        keys: &[&str],
    ) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let rows = keys.iter().map(|key| csk::ActiveModel {
            customer_id: Set(customer_id.to_owned()),
            namespace: Set(ns.as_str().to_owned()),
            subject_key: Set((*key).to_owned()),
        });
        insert(&self.inner, rows).await
    }

    async fn claim(
        &self,
        ns: &Namespace,
        customer_id: &str,
        identifiers: &[&str],
        at: Timestamp,
    ) -> StoreResult<()> {
        if identifiers.is_empty() {
            return Ok(());
        }
        let rows = identifiers.iter().map(|identifier| ident::ActiveModel {
            id: Set(new_id()),
            namespace: Set(ns.as_str().to_owned()),
            identifier: Set((*identifier).to_owned()),
            customer_id: Set(customer_id.to_owned()),
            valid_from: Set(at.micros()),
            valid_to: Set(None),
        });
        insert(&self.inner, rows).await
    }

    /// Ends at `at` the open intervals of the customer's claims on `identifiers` (`None`: on all
    /// of its identifiers).
    async fn release(
        &self,
        ns: &Namespace,
        customer_id: &str,
        identifiers: Option<&[&str]>,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut update = ident::Entity::update_many()
            .col_expr(ident::Column::ValidTo, Expr::val(at.micros()))
            .filter(ident::Column::Namespace.eq(ns.as_str()))
            .filter(ident::Column::CustomerId.eq(customer_id))
            .filter(ident::Column::ValidTo.is_null());
        if let Some(identifiers) = identifiers {
            if identifiers.is_empty() {
                return Ok(());
            }
            update = update.filter(ident::Column::Identifier.is_in(identifiers.iter().copied()));
        }
        update
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Soft-deletes the customer (already updated to its deleted state) if its etag is still
    /// `expected_etag`, ending every interval of its identifiers; returns whether it was written.
    pub async fn delete_customer(
        &self,
        ns: &Namespace,
        customer: &Customer,
        expected_etag: &str,
    ) -> StoreResult<bool> {
        let Some(deleted_at) = customer.deleted_at else {
            return Ok(false);
        };
        self.marks.mark(ns.as_str(), &customer.id);
        let result = customer::Entity::update_many()
            .col_expr(customer::Column::DeletedAt, Expr::val(deleted_at.micros()))
            .col_expr(
                customer::Column::UpdatedAt,
                Expr::val(customer.updated_at.micros()),
            )
            .col_expr(customer::Column::Etag, Expr::val(customer.etag.clone()))
            .filter(customer::Column::Namespace.eq(ns.as_str()))
            .filter(customer::Column::Id.eq(customer.id.as_str()))
            .filter(customer::Column::Etag.eq(expected_etag))
            .filter(customer::Column::DeletedAt.is_null())
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        self.release(ns, &customer.id, None, deleted_at).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::customer;

    #[test]
    fn the_hand_written_column_list_is_the_models_field_order() {
        let names: Vec<String> = customer::Column::iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(customer_columns!(), names.join(", "));
    }
}
