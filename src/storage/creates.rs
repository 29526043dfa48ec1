//! CreateCustomer's statements, written once: what one create writes ([`NewCustomer`]), sent as
//! one SQLite statement list inside the writer's group commit (`Tx::insert_new_customer`), or on
//! PostgreSQL merged with the creates that arrive meanwhile ([`Creates`]).
//!
//! On PostgreSQL a create is one statement (data-modifying CTEs) in its own implicit transaction. Under load
//! what bounds the rate is the statements and their commits (a WAL flush each), not patron's own
//! work, so creates go through a [`Queue`]: a lone create is sent at once as its own statement;
//! creates that arrive while a statement runs wait and go together, up to
//! `batch::MAX_BATCH`, as ONE statement (columns bound as arrays and unnested): one round trip and
//! one commit for all of them. Each create is still all-or-nothing, and answered only after the
//! commit that made it durable. If the merged statement is refused by a constraint (an identifier
//! held by another customer, a request_id seen before) or by a deadlock, every create of it runs
//! again on its own, so each caller gets exactly the answer its create alone would have got.

use std::future::Future;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::query::Query as SqlxQuery;
use sea_orm::sqlx::{self, PgPool};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, RuntimeErr, Statement, Value};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::batch::{Batches, Queue};
use super::customers::{CreateRecord, to_model};
use super::entities::customer;
use super::{StoreError, StoreResult, Tx};
use crate::domain::customer::Customer;
use crate::domain::values::Identifier;
use crate::domain::{Namespace, new_id};

/// The columns a create writes into `customers`, in the order of every create statement's values
/// (the model's order without `deleted_at`; a test checks it).
macro_rules! inserted_customer_columns {
    () => {
        "id, namespace, key, name, name_lower, description, metadata, subject_keys, \
         primary_email, primary_email_lower, currency, billing_country, billing_postal_code, \
         billing_state, billing_city, billing_line1, billing_line2, billing_phone_number, \
         created_at, updated_at, etag"
    };
}

/// One create, owned and ready to bind.
pub(super) struct NewCustomer {
    row: customer::Model,
    /// Ids of the claims on `identifiers`.
    claim_ids: Vec<String>,
    /// The customer's key and subject keys.
    identifiers: Vec<String>,
    subject_keys: Vec<String>,
    /// Ids of the Subjects the subject keys get if they have none.
    subject_ids: Vec<String>,
    /// Metadata of those Subjects (JSON).
    subject_metadata: String,
    record: Option<NewRecord>,
}

/// The idempotency record a create writes.
struct NewRecord {
    method: String,
    request_id: String,
    request_hash: String,
    response: String,
}

impl NewCustomer {
    /// What `Store::create_customer` writes for `customer` in `ns`.
    pub(super) fn new(
        ns: &Namespace,
        customer: &Customer,
        subject_metadata: &serde_json::Map<String, serde_json::Value>,
        record: Option<CreateRecord<'_>>,
    ) -> Self {
        let identifiers: Vec<String> = customer
            .fields
            .identifiers()
            .into_iter()
            .map(|i| i.as_str().to_owned())
            .collect();
        let subject_keys: Vec<String> = customer
            .fields
            .subject_keys
            .iter()
            .map(Identifier::as_str)
            .map(str::to_owned)
            .collect();
        Self {
            row: to_model(ns, customer),
            claim_ids: identifiers.iter().map(|_| new_id()).collect(),
            identifiers,
            subject_ids: subject_keys.iter().map(|_| new_id()).collect(),
            subject_keys,
            subject_metadata: serde_json::Value::Object(subject_metadata.clone()).to_string(),
            record: record.map(|r| NewRecord {
                method: r.method.to_owned(),
                request_id: r.request_id.to_owned(),
                request_hash: r.record.request_hash,
                response: r.record.response,
            }),
        }
    }
}

/// A create waiting for its statement.
struct Request {
    create: NewCustomer,
    reply: oneshot::Sender<StoreResult<()>>,
    /// The caller's span, parent of a lone create's statement.
    span: tracing::Span,
}

/// The queue of PostgreSQL creates; its worker ends when the last clone of the store is dropped.
#[derive(Debug)]
pub(super) struct Creates {
    queue: Queue<Request>,
}

impl Creates {
    /// Starts the worker on `pool` (on the current tokio runtime); a create waits at most
    /// `acquire_timeout` for a statement to take it.
    pub(super) fn start(pool: PgPool, acquire_timeout: Duration) -> Self {
        Self {
            queue: Queue::start(acquire_timeout, CreateBatches { pool }),
        }
    }

    /// Stores `create` in a statement that starts after this call; returns once it committed.
    /// `UniqueViolation` if an identifier is held by another live customer or the request_id
    /// was recorded; nothing is stored then.
    pub(super) async fn create(&self, create: NewCustomer) -> StoreResult<()> {
        let request = |reply| Request {
            create,
            reply,
            span: tracing::Span::current(),
        };
        self.queue.ask(request, stopped).await
    }
}

/// The error of a create whose queue is gone (UNAVAILABLE to the caller).
fn stopped() -> StoreError {
    StoreError::Db(DbErr::Conn(RuntimeErr::Internal(
        "the create queue stopped".into(),
    )))
}

/// The creates' batches, each on the pool.
struct CreateBatches {
    pool: PgPool,
}

impl Batches for CreateBatches {
    type Request = Request;

    fn run(&mut self, batch: Vec<Request>) -> impl Future<Output = ()> + Send {
        run(self.pool.clone(), batch)
    }
}

/// Runs one batch: a lone create as its own statement, several as one, each alone again when the
/// merged one was refused by a constraint or a deadlock.
async fn run(pool: PgPool, mut batch: Vec<Request>) {
    if batch.len() <= 1 {
        if let Some(request) = batch.pop() {
            answer_alone(&pool, request).await;
        }
        return;
    }
    match merged(&pool, &batch).await {
        Ok(()) => {
            for request in batch {
                let _ = request.reply.send(Ok(()));
            }
        }
        Err(e) if refused_by_another_row(&e) => {
            // Each create alone, at once: each gets its own verdict.
            futures::future::join_all(batch.into_iter().map(|r| answer_alone(&pool, r))).await;
        }
        Err(e) => {
            let err = exec_error(e);
            for request in batch {
                let _ = request.reply.send(Err(StoreError::from_db(err.clone())));
            }
        }
    }
}

/// Runs `request`'s create as its own statement and answers it.
async fn answer_alone(pool: &PgPool, request: Request) {
    let result = alone(pool, &request.create, &request.span).await;
    let _ = request.reply.send(result);
}

/// A failed create statement as SeaORM's error (unique violations are told apart from it).
fn exec_error(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(e.into()))
}

/// Whether the merged statement failed because of what some of its rows met (a unique index, a
/// deadlock with a concurrent statement), so that each create alone may fare differently:
/// SQLSTATE classes 23 (integrity constraint) and 40 (transaction rollback).
fn refused_by_another_row(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("23") || code.starts_with("40")),
        _ => false,
    }
}

fn statement_span(parent: &tracing::Span, sql: &'static str, creates: usize) -> tracing::Span {
    tracing::info_span!(
        target: "patron_sql",
        parent: parent,
        "db.execute",
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = "INSERT",
        db.statement = sql,
        batch = creates,
    )
}

/// One create as its own statement.
async fn alone(pool: &PgPool, create: &NewCustomer, parent: &tracing::Span) -> StoreResult<()> {
    let (sql, query) = alone_query(create);
    query
        .execute(pool)
        .instrument(statement_span(parent, sql, 1))
        .await
        .map_err(|e| StoreError::from_db(exec_error(e)))?;
    Ok(())
}

/// Which optional parts a lone create's statement has.
#[derive(Clone, Copy)]
struct Shape {
    /// Claims on identifiers (the key, subject keys).
    identifiers: bool,
    /// Subject keys (and the Subjects they may need).
    keys: bool,
    /// An idempotency record.
    record: bool,
}

/// The statement of one create, its values bound in the order its placeholders number.
fn alone_query(c: &NewCustomer) -> (&'static str, SqlxQuery<'_, Postgres, PgArguments>) {
    let shape = Shape {
        identifiers: !c.identifiers.is_empty(),
        keys: !c.subject_keys.is_empty(),
        record: c.record.is_some(),
    };
    let sql = alone_sql(shape);
    let r = &c.row;
    let mut query = sqlx::query(sql)
        .bind(&r.id)
        .bind(&r.namespace)
        .bind(r.created_at)
        .bind(&r.key)
        .bind(&r.name)
        .bind(&r.name_lower)
        .bind(&r.description)
        .bind(&r.metadata)
        .bind(&r.subject_keys)
        .bind(&r.primary_email)
        .bind(&r.primary_email_lower)
        .bind(&r.currency)
        .bind(&r.billing_country)
        .bind(&r.billing_postal_code)
        .bind(&r.billing_state)
        .bind(&r.billing_city)
        .bind(&r.billing_line1)
        .bind(&r.billing_line2)
        .bind(&r.billing_phone_number)
        .bind(r.updated_at)
        .bind(&r.etag);
    if shape.identifiers {
        query = query.bind(&c.claim_ids).bind(&c.identifiers);
    }
    if shape.keys {
        query = query
            .bind(&c.subject_keys)
            .bind(&c.subject_ids)
            .bind(&c.subject_metadata);
    }
    if let Some(record) = &c.record {
        query = query
            .bind(&record.method)
            .bind(&record.request_id)
            .bind(&record.request_hash)
            .bind(&record.response)
            .bind(r.created_at);
    }
    (sql, query)
}

/// The text of a lone create's statement of this shape, built on first use.
fn alone_sql(shape: Shape) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; 8] = [const { std::sync::OnceLock::new() }; 8];
    let index = usize::from(shape.identifiers)
        | usize::from(shape.keys) << 1
        | usize::from(shape.record) << 2;
    SQL[index].get_or_init(|| build_alone_sql(shape))
}

fn build_alone_sql(shape: Shape) -> String {
    let mut n = 0;
    let mut p = || {
        n += 1;
        format!("${n}")
    };
    let (id, namespace, created_at) = (p(), p(), p());
    // key .. billing_phone_number, then updated_at and etag.
    let middle: Vec<String> = (0..16).map(|_| p()).collect();
    let (updated_at, etag) = (p(), p());
    let mut sql = format!(
        concat!(
            "WITH c AS (INSERT INTO customers (",
            inserted_customer_columns!(),
            ") VALUES ({id}, {namespace}, {}, {created_at}, {updated_at}, {etag}))"
        ),
        middle.join(", "),
        id = id,
        namespace = namespace,
        created_at = created_at,
        updated_at = updated_at,
        etag = etag,
    );
    if shape.identifiers {
        let (ids, identifiers) = (p(), p());
        sql.push_str(&format!(
            ", a AS (INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, \
             valid_from) SELECT t.id, {namespace}, t.identifier, {id}, {created_at} \
             FROM unnest({ids}::text[], {identifiers}::text[]) AS t(id, identifier))"
        ));
    }
    if shape.keys {
        let (keys, subject_ids, metadata) = (p(), p(), p());
        sql.push_str(&format!(
            ", k AS (INSERT INTO customer_subject_keys (customer_id, namespace, subject_key) \
             SELECT {id}, {namespace}, t.key FROM unnest({keys}::text[]) AS t(key)), \
             s AS (INSERT INTO subjects (id, namespace, key, metadata, created_at, updated_at) \
             SELECT t.id, {namespace}, t.key, {metadata}, {created_at}, {created_at} \
             FROM unnest({subject_ids}::text[], {keys}::text[]) AS t(id, key) \
             ON CONFLICT DO NOTHING)"
        ));
    }
    if shape.record {
        let (method, request_id, hash, response, at) = (p(), p(), p(), p(), p());
        sql.push_str(&format!(
            ", r AS (INSERT INTO idempotency_records (namespace, method, request_id, \
             request_hash, response, created_at) VALUES ({namespace}, {method}, {request_id}, \
             {hash}, {response}, {at}))"
        ));
    }
    sql.push_str(" SELECT 1");
    sql
}

/// The customers and their claims of several creates, as arrays unnested: `$1`..`$21` the
/// customers' columns, `$22`..`$26` the claims. The start of both merged statements.
macro_rules! merged_customers_and_claims {
    () => {
        concat!(
            "WITH c AS (INSERT INTO customers (",
            inserted_customer_columns!(),
            ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
              $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
              $18::text[], $19::bigint[], $20::bigint[], $21::text[])), \
            a AS (INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, \
              valid_from) \
              SELECT * FROM unnest($22::text[], $23::text[], $24::text[], $25::text[], \
              $26::bigint[]))"
        )
    };
}

/// Several creates in one statement: every table's rows as arrays, unnested. `$1`..`$26` as
/// [`MERGED_PLAIN_SQL`], `$27`..`$29` the subject keys, `$30`..`$34` the Subjects, `$35`..`$40`
/// the idempotency records.
const MERGED_SQL: &str = concat!(
    merged_customers_and_claims!(),
    ", k AS (INSERT INTO customer_subject_keys (customer_id, namespace, subject_key) \
      SELECT * FROM unnest($27::text[], $28::text[], $29::text[])), \
    s AS (INSERT INTO subjects (id, namespace, key, metadata, created_at, updated_at) \
      SELECT t.id, t.namespace, t.key, t.metadata, t.at, t.at \
      FROM unnest($30::text[], $31::text[], $32::text[], $33::text[], $34::bigint[]) \
      AS t(id, namespace, key, metadata, at) ON CONFLICT DO NOTHING), \
    r AS (INSERT INTO idempotency_records (namespace, method, request_id, request_hash, \
      response, created_at) \
      SELECT * FROM unnest($35::text[], $36::text[], $37::text[], $38::text[], $39::text[], \
      $40::bigint[])) \
    SELECT 1"
);

/// Several creates none of which has subject keys or an idempotency record: customers and
/// claims only. Each empty insert of [`MERGED_SQL`] still opens its table and indexes on every
/// execution (pgbench, one create per statement: 5,954 / 5,772 TPS without the three empty
/// inserts, 5,517 / 5,230 with them).
const MERGED_PLAIN_SQL: &str = concat!(merged_customers_and_claims!(), " SELECT 1");

/// The columns of one table, as arrays to bind.
#[derive(Default)]
struct Columns {
    customers: [Vec<Option<String>>; 18],
    etags: Vec<String>,
    customer_times: [Vec<i64>; 2],
    claims: [Vec<String>; 4],
    claim_times: Vec<i64>,
    subject_keys: [Vec<String>; 3],
    subjects: [Vec<String>; 4],
    subject_times: Vec<i64>,
    records: [Vec<String>; 5],
    record_times: Vec<i64>,
}

/// Several creates as one statement.
async fn merged(pool: &PgPool, batch: &[Request]) -> Result<(), sqlx::Error> {
    let mut cols = Columns::default();
    for request in batch {
        let c = &request.create;
        let r = &c.row;
        let texts = [
            Some(r.id.clone()),
            Some(r.namespace.clone()),
            r.key.clone(),
            Some(r.name.clone()),
            Some(r.name_lower.clone()),
            r.description.clone(),
            Some(r.metadata.clone()),
            Some(r.subject_keys.clone()),
            r.primary_email.clone(),
            r.primary_email_lower.clone(),
            r.currency.clone(),
            r.billing_country.clone(),
            r.billing_postal_code.clone(),
            r.billing_state.clone(),
            r.billing_city.clone(),
            r.billing_line1.clone(),
            r.billing_line2.clone(),
            r.billing_phone_number.clone(),
        ];
        for (column, value) in cols.customers.iter_mut().zip(texts) {
            column.push(value);
        }
        cols.etags.push(r.etag.clone());
        cols.customer_times[0].push(r.created_at);
        cols.customer_times[1].push(r.updated_at);
        for (claim_id, identifier) in c.claim_ids.iter().zip(&c.identifiers) {
            let row = [claim_id, &r.namespace, identifier, &r.id];
            for (column, value) in cols.claims.iter_mut().zip(row) {
                column.push(value.clone());
            }
            cols.claim_times.push(r.created_at);
        }
        for (subject_id, key) in c.subject_ids.iter().zip(&c.subject_keys) {
            for (column, value) in cols.subject_keys.iter_mut().zip([&r.id, &r.namespace, key]) {
                column.push(value.clone());
            }
            let row = [subject_id, &r.namespace, key, &c.subject_metadata];
            for (column, value) in cols.subjects.iter_mut().zip(row) {
                column.push(value.clone());
            }
            cols.subject_times.push(r.created_at);
        }
        if let Some(record) = &c.record {
            let row = [
                &r.namespace,
                &record.method,
                &record.request_id,
                &record.request_hash,
                &record.response,
            ];
            for (column, value) in cols.records.iter_mut().zip(row) {
                column.push(value.clone());
            }
            cols.record_times.push(r.created_at);
        }
    }
    let Columns {
        customers,
        etags,
        customer_times: [created_at, updated_at],
        claims,
        claim_times,
        subject_keys,
        subjects,
        subject_times,
        records,
        record_times,
    } = cols;
    let plain = subject_times.is_empty() && record_times.is_empty();
    let sql = if plain { MERGED_PLAIN_SQL } else { MERGED_SQL };
    let mut query = sqlx::query(sql);
    for column in customers {
        query = query.bind(column);
    }
    query = query.bind(created_at).bind(updated_at).bind(etags);
    for column in claims {
        query = query.bind(column);
    }
    query = query.bind(claim_times);
    if !plain {
        for column in subject_keys {
            query = query.bind(column);
        }
        for column in subjects {
            query = query.bind(column);
        }
        query = query.bind(subject_times);
        for column in records {
            query = query.bind(column);
        }
        query = query.bind(record_times);
    }
    let parent = batch
        .first()
        .map(|r| r.span.clone())
        .unwrap_or_else(tracing::Span::none);
    query
        .execute(pool)
        .instrument(statement_span(&parent, sql, batch.len()))
        .await?;
    Ok(())
}

/// One create on SQLite: its statements in one list (one trip to the driver's thread, each
/// statement prepared once), the lists of claims and subject keys as JSON arrays of
/// `[id, identifier]` pairs. `$1`..`$21` the customer's columns (as [`MERGED_SQL`]), `$22` the
/// claims, `$23` the subject keys, `$24` the Subjects' metadata, `$25`..`$28` the idempotency
/// record (none when `$25` is NULL).
const SQLITE_SQL: &str = concat!(
    "INSERT INTO customers (",
    inserted_customer_columns!(),
    ") VALUES ($1, $2, $3, $4, \
    $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21); \
    INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, valid_from) \
    SELECT value ->> 0, $2, value ->> 1, $1, $19 FROM json_each($22); \
    INSERT INTO customer_subject_keys (customer_id, namespace, subject_key) \
    SELECT $1, $2, value ->> 1 FROM json_each($23); \
    INSERT INTO subjects (id, namespace, key, metadata, created_at, updated_at) \
    SELECT value ->> 0, $2, value ->> 1, $24, $19, $19 FROM json_each($23) WHERE true \
    ON CONFLICT DO NOTHING; \
    INSERT INTO idempotency_records (namespace, method, request_id, request_hash, response, \
    created_at) SELECT $2, $25, $26, $27, $28, $19 WHERE $25 IS NOT NULL"
);

/// `[[id, value], ...]` as JSON.
fn pairs(ids: &[String], values: &[String]) -> String {
    let pairs: Vec<[&str; 2]> = ids
        .iter()
        .zip(values)
        .map(|(id, value)| [id.as_str(), value.as_str()])
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

impl Tx {
    /// Stores `create` (SQLite): its customer, claims, subject keys, missing Subjects and
    /// idempotency record. `UniqueViolation` if an identifier is held by another live customer
    /// or the request_id was recorded; the transaction then holds what the statements before
    /// the refused one wrote (the group commit rolls back).
    pub(super) async fn insert_new_customer(&self, create: &NewCustomer) -> StoreResult<()> {
        let r = &create.row;
        let text = |v: &String| Value::from(v.clone());
        let optional = |v: &Option<String>| Value::from(v.clone());
        let record = create.record.as_ref();
        let values: Vec<Value> = vec![
            text(&r.id),
            text(&r.namespace),
            optional(&r.key),
            text(&r.name),
            text(&r.name_lower),
            optional(&r.description),
            text(&r.metadata),
            text(&r.subject_keys),
            optional(&r.primary_email),
            optional(&r.primary_email_lower),
            optional(&r.currency),
            optional(&r.billing_country),
            optional(&r.billing_postal_code),
            optional(&r.billing_state),
            optional(&r.billing_city),
            optional(&r.billing_line1),
            optional(&r.billing_line2),
            optional(&r.billing_phone_number),
            Value::from(r.created_at),
            Value::from(r.updated_at),
            text(&r.etag),
            Value::from(pairs(&create.claim_ids, &create.identifiers)),
            Value::from(pairs(&create.subject_ids, &create.subject_keys)),
            text(&create.subject_metadata),
            Value::from(record.map(|r| r.method.clone())),
            Value::from(record.map(|r| r.request_id.clone())),
            Value::from(record.map(|r| r.request_hash.clone())),
            Value::from(record.map(|r| r.response.clone())),
        ];
        self.inner
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                SQLITE_SQL,
                values,
            ))
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::super::entities::customer;
    use super::{MERGED_PLAIN_SQL, MERGED_SQL, SQLITE_SQL, Shape, alone_sql};

    #[test]
    fn the_inserted_columns_are_the_models_without_deleted_at() {
        let names: Vec<&str> = customer::Column::iter()
            .map(|c| c.as_str())
            .filter(|name| *name != "deleted_at")
            .collect();
        assert_eq!(inserted_customer_columns!(), names.join(", "));
    }

    /// The numbered placeholders of `sql`, sorted, each once.
    fn placeholders(sql: &str) -> Vec<usize> {
        let mut used: Vec<usize> = sql
            .split('$')
            .skip(1)
            .map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().expect("a numbered placeholder")
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    #[test]
    fn every_statement_numbers_each_placeholder_once_in_order() {
        for index in 0..8 {
            let shape = Shape {
                identifiers: index & 1 != 0,
                keys: index & 2 != 0,
                record: index & 4 != 0,
            };
            let expected = 21
                + if shape.identifiers { 2 } else { 0 }
                + if shape.keys { 3 } else { 0 }
                + if shape.record { 5 } else { 0 };
            let sql = alone_sql(shape);
            assert_eq!(
                placeholders(sql),
                (1..=expected).collect::<Vec<_>>(),
                "{sql}"
            );
        }
        assert_eq!(placeholders(MERGED_SQL), (1..=40).collect::<Vec<_>>());
        assert_eq!(placeholders(MERGED_PLAIN_SQL), (1..=26).collect::<Vec<_>>());
        assert!(MERGED_SQL.starts_with(MERGED_PLAIN_SQL.trim_end_matches(" SELECT 1")));
        assert_eq!(placeholders(SQLITE_SQL), (1..=28).collect::<Vec<_>>());
    }
}
