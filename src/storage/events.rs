//! Usage events: batched inserts deduplicated by (namespace, source, event_id), and reads that
//! attribute each event to the customer that held its subject at the event's time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::entities::{attribution_identifier as ident, event};
use super::query::{Sort, after};
use super::read::Reader;
use super::subjects::SubjectInserts;
use super::{Backend, Store, StoreError, StoreResult, Tx};
use crate::domain::event::{
    AttributeValue, EventData, EventOwner, EventQuery, StoredEvent, UsageEvent,
};
use crate::domain::values::Identifier;
use crate::domain::{Namespace, Timestamp, new_id};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(sea_orm::DbErr::Custom(format!(
        "stored event has unreadable {what}: {e}"
    )))
}

fn data_columns(data: &Option<EventData>) -> (Option<&'static str>, Option<String>) {
    match data {
        None => (None, None),
        Some(EventData::Text(text)) => (Some("text"), Some(text.clone())),
        Some(EventData::Binary(bytes)) => (Some("binary"), Some(STANDARD.encode(bytes))),
        Some(EventData::Proto { type_url, value }) => (
            Some("proto"),
            Some(
                serde_json::json!({ "type_url": type_url, "value": STANDARD.encode(value) })
                    .to_string(),
            ),
        ),
    }
}

fn data_from(kind: Option<String>, text: Option<String>) -> StoreResult<Option<EventData>> {
    let (Some(kind), Some(text)) = (kind, text) else {
        return Ok(None);
    };
    Ok(Some(match kind.as_str() {
        "text" => EventData::Text(text),
        "binary" => EventData::Binary(
            STANDARD
                .decode(text)
                .map_err(|e| corrupt("binary data", e))?,
        ),
        _ => {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| corrupt("proto data", e))?;
            EventData::Proto {
                type_url: v["type_url"].as_str().unwrap_or_default().to_owned(),
                value: STANDARD
                    .decode(v["value"].as_str().unwrap_or_default())
                    .map_err(|e| corrupt("proto data", e))?,
            }
        }
    }))
}

/// Rows per SQLite INSERT: 11 bound values each (11,000 in all, below SQLite's 32,766), so
/// that a batch of 1,000 events is one statement.
const INSERT_CHUNK: usize = 1000;

/// SQLite's insert of `rows` events, 11 anonymous `?` per row: namespace, ingested_at, id,
/// source, event_id, event_type, subject, event_time, attributes, data_kind, data_text. (Numbered
/// placeholders would make binding quadratic: SQLite looks each one's name up in a list.) Its
/// text depends only on `rows`, so a full chunk's is written once and stays prepared.
fn sqlite_insert_events(rows: usize) -> std::borrow::Cow<'static, str> {
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if rows == INSERT_CHUNK {
        return FULL
            .get_or_init(|| build_insert_events(rows))
            .as_str()
            .into();
    }
    build_insert_events(rows).into()
}

fn build_insert_events(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (namespace, ingested_at, id, source, event_id, event_type, subject, \
         event_time, attributes, data_kind, data_text) VALUES ",
    );
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sql.push_str(&vec![row; rows].join(", "));
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

/// SQLite's INSERTs of a batch of events, built before the transaction that runs them: the
/// database has one writer, and every microsecond spent inside its transaction is one no other
/// write can use.
#[derive(Clone, Debug)]
pub struct EventInserts(Vec<Statement>);

impl EventInserts {
    /// The inserts of `events` into namespace `ns`, received at `ingested_at`.
    pub fn sqlite(
        ns: &Namespace,
        events: &[UsageEvent],
        ingested_at: Timestamp,
    ) -> StoreResult<Self> {
        events
            .chunks(INSERT_CHUNK)
            .map(|chunk| {
                let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 11);
                for e in chunk {
                    let attributes = serde_json::to_string(&e.attributes)
                        .map_err(|err| corrupt("attributes", err))?;
                    let (kind, text) = data_columns(&e.data);
                    values.extend([
                        ns.as_str().into(),
                        ingested_at.micros().into(),
                        new_id().into(),
                        e.source.clone().into(),
                        e.id.clone().into(),
                        e.event_type.clone().into(),
                        e.subject.as_str().into(),
                        e.time.micros().into(),
                        attributes.into(),
                        kind.map(str::to_owned).into(),
                        text.into(),
                    ]);
                }
                Ok(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sqlite_insert_events(chunk.len()),
                    values,
                ))
            })
            .collect::<StoreResult<_>>()
            .map(Self)
    }
}

impl Tx {
    /// Runs the inserts; events whose (source, id) is already stored are skipped. Returns how
    /// many were stored.
    pub async fn insert_events(&self, inserts: EventInserts) -> StoreResult<u64> {
        let mut inserted = 0;
        for statement in inserts.0 {
            let result = self
                .inner
                .execute_raw(statement)
                .await
                .map_err(StoreError::from_db)?;
            inserted += result.rows_affected();
        }
        Ok(inserted)
    }
}

/// What an ingest stored.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Events stored (the rest were already stored).
    pub accepted: u64,
    /// Subject keys that got a new Subject, sorted.
    pub created_subject_keys: Vec<String>,
}

impl Store {
    /// Stores `events` (unique by (source, id) among themselves) atomically: those already stored
    /// are skipped, and every subject key without a live Subject gets one with `subject_metadata`.
    ///
    /// On PostgreSQL the whole batch is one statement (columns bound as arrays and unnested), in
    /// its own implicit transaction: one round trip per batch. On SQLite it is a job of the
    /// writer's group commit: batches that arrive together share one transaction.
    pub async fn ingest_events(
        &self,
        ns: &Namespace,
        events: &[UsageEvent],
        subject_metadata: &serde_json::Map<String, serde_json::Value>,
        ingested_at: Timestamp,
    ) -> StoreResult<Ingested> {
        if self.backend == Backend::Postgres {
            let statement = ingest_statement(ns, events, subject_metadata, ingested_at)?;
            let row = self
                .writer
                .query_one_raw(statement)
                .await
                .map_err(StoreError::from_db)?
                .ok_or_else(|| corrupt("ingest result", "no row"))?;
            let accepted = row
                .try_get::<i64>("", "accepted")
                .map_err(StoreError::from_db)?;
            let created_subject_keys = row
                .try_get::<Vec<String>>("", "created")
                .map_err(StoreError::from_db)?;
            return Ok(Ingested {
                accepted: u64::try_from(accepted).unwrap_or_default(),
                created_subject_keys,
            });
        }
        // SQLite: one job of the writer's next group commit, so that concurrent batches share a
        // commit (each index page they both touch is written to the WAL once).
        let Some(group_commit) = &self.group_commit else {
            return Err(StoreError::Db(sea_orm::DbErr::Custom(
                "a SQLite store without its writer task".into(),
            )));
        };
        let keys: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
        let job = Arc::new(IngestJob::new(
            EventInserts::sqlite(ns, events, ingested_at)?,
            SubjectInserts::new(DbBackend::Sqlite, ns, &keys, subject_metadata, ingested_at),
        ));
        let run = Arc::clone(&job);
        group_commit
            .run(Box::new(move |tx: &Tx| {
                let job = Arc::clone(&run);
                Box::pin(async move { job.run(tx).await })
            }))
            .await?;
        job.outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or_else(|| corrupt("ingest result", "the job did not run"))
    }
}

/// A batch of events as a job of SQLite's group commit. Its statements are built (and copied
/// once) before it is queued: the first run takes that copy, so nothing is copied while the
/// writer's transaction is open; a second run (inside its own savepoint, after another job of
/// the batch failed) copies the original.
struct IngestJob {
    statements: (EventInserts, SubjectInserts),
    fresh: Mutex<Option<(EventInserts, SubjectInserts)>>,
    outcome: Mutex<Option<Ingested>>,
}

impl IngestJob {
    fn new(events: EventInserts, subjects: SubjectInserts) -> Self {
        let statements = (events, subjects);
        Self {
            fresh: Mutex::new(Some(statements.clone())),
            statements,
            outcome: Mutex::new(None),
        }
    }

    async fn run(&self, tx: &Tx) -> StoreResult<()> {
        let fresh = self
            .fresh
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let (events, subjects) = fresh.unwrap_or_else(|| self.statements.clone());
        let accepted = tx.insert_events(events).await?;
        let created_subject_keys = tx.insert_subjects(subjects).await?;
        *self
            .outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Ingested {
            accepted,
            created_subject_keys,
        });
        Ok(())
    }
}

/// The PostgreSQL statement of `Store::ingest_events`. Rows go in (source, id) order and subjects
/// in key order, so concurrent batches take their index locks in one order (no deadlocks).
fn ingest_statement(
    ns: &Namespace,
    events: &[UsageEvent],
    subject_metadata: &serde_json::Map<String, serde_json::Value>,
    ingested_at: Timestamp,
) -> StoreResult<Statement> {
    let mut order: Vec<&UsageEvent> = events.iter().collect();
    order.sort_unstable_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
    let n = order.len();
    let mut ids = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut subjects = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    // Arrays of nullable text do not bind here: no data is an empty kind, NULL again in SQL.
    let mut kinds: Vec<String> = Vec::with_capacity(n);
    let mut texts: Vec<String> = Vec::with_capacity(n);
    for e in order {
        ids.push(new_id());
        sources.push(e.source.clone());
        event_ids.push(e.id.clone());
        types.push(e.event_type.clone());
        subjects.push(e.subject.as_str().to_owned());
        times.push(e.time.micros());
        attributes
            .push(serde_json::to_string(&e.attributes).map_err(|err| corrupt("attributes", err))?);
        let (kind, text) = data_columns(&e.data);
        kinds.push(kind.unwrap_or_default().to_owned());
        texts.push(text.unwrap_or_default());
    }
    let keys: BTreeSet<&str> = events.iter().map(|e| e.subject.as_str()).collect();
    let subject_ids: Vec<String> = keys.iter().map(|_| new_id()).collect();
    let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    let metadata = serde_json::Value::Object(subject_metadata.clone()).to_string();
    let values: Vec<Value> = vec![
        ns.as_str().into(),
        ingested_at.micros().into(),
        ids.into(),
        sources.into(),
        event_ids.into(),
        types.into(),
        subjects.into(),
        times.into(),
        attributes.into(),
        kinds.into(),
        texts.into(),
        metadata.into(),
        subject_ids.into(),
        keys.into(),
    ];
    let sql = "WITH e AS (INSERT INTO events (id, namespace, source, event_id, event_type, \
        subject, event_time, attributes, data_kind, data_text, ingested_at) \
        SELECT t.id, $1, t.source, t.event_id, t.event_type, t.subject, t.event_time, \
        t.attributes, nullif(t.data_kind, ''), \
        CASE WHEN t.data_kind = '' THEN NULL ELSE t.data_text END, $2 \
        FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], \
        $9::text[], $10::text[], $11::text[]) \
        AS t(id, source, event_id, event_type, subject, event_time, attributes, data_kind, \
        data_text) \
        ON CONFLICT DO NOTHING RETURNING 1), \
        s AS (INSERT INTO subjects (id, namespace, key, metadata, created_at, updated_at) \
        SELECT t.id, $1, t.key, $12, $2, $2 FROM unnest($13::text[], $14::text[]) AS t(id, key) \
        ON CONFLICT DO NOTHING RETURNING key) \
        SELECT (SELECT count(*) FROM e) AS accepted, \
        (SELECT coalesce(array_agg(key ORDER BY key), '{}') FROM s) AS created";
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

fn row_to_event(row: &QueryResult) -> StoreResult<StoredEvent> {
    let get_s = |c: &str| row.try_get::<String>("", c).map_err(StoreError::from_db);
    let get_i = |c: &str| row.try_get::<i64>("", c).map_err(StoreError::from_db);
    let get_o = |c: &str| {
        row.try_get::<Option<String>>("", c)
            .map_err(StoreError::from_db)
    };
    let attributes: BTreeMap<String, AttributeValue> =
        serde_json::from_str(&get_s("attributes")?).map_err(|e| corrupt("attributes", e))?;
    Ok(StoredEvent {
        row_id: get_s("id")?,
        event: UsageEvent {
            id: get_s("event_id")?,
            source: get_s("source")?,
            event_type: get_s("event_type")?,
            subject: Identifier::from_stored(get_s("subject")?),
            time: Timestamp(get_i("event_time")?),
            attributes,
            data: data_from(get_o("data_kind")?, get_o("data_text")?)?,
        },
        customer_id: get_o("customer_id")?,
        ingested_at: Timestamp(get_i("ingested_at")?),
    })
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// At most `limit` events of `query` (after its cursor) in (event time, row id) order, each
    /// with the customer that held its subject at its time.
    pub(super) async fn list_events(
        &self,
        ns: &Namespace,
        query: &EventQuery,
        limit: u64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let e = Alias::new("e");
        let ai = Alias::new("ai");
        let col = |c: event::Column| Expr::col((e.clone(), c));
        let mut select = Query::select();
        select
            .columns([
                (e.clone(), event::Column::Id),
                (e.clone(), event::Column::Source),
                (e.clone(), event::Column::EventId),
                (e.clone(), event::Column::EventType),
                (e.clone(), event::Column::Subject),
                (e.clone(), event::Column::EventTime),
                (e.clone(), event::Column::Attributes),
                (e.clone(), event::Column::DataKind),
                (e.clone(), event::Column::DataText),
                (e.clone(), event::Column::IngestedAt),
            ])
            .expr_as(
                Expr::col((ai.clone(), ident::Column::CustomerId)),
                Alias::new("customer_id"),
            )
            .from_as(event::Entity, e.clone());
        let held_at_event_time = Expr::col((ai.clone(), ident::Column::Namespace))
            .equals((e.clone(), event::Column::Namespace))
            .and(
                Expr::col((ai.clone(), ident::Column::Identifier))
                    .equals((e.clone(), event::Column::Subject)),
            )
            .and(
                Expr::col((ai.clone(), ident::Column::ValidFrom))
                    .lte(col(event::Column::EventTime)),
            )
            .and(
                Expr::col((ai.clone(), ident::Column::ValidTo))
                    .is_null()
                    .or(col(event::Column::EventTime)
                        .lt(Expr::col((ai.clone(), ident::Column::ValidTo)))),
            );
        match &query.owner {
            EventOwner::Subject(key) => {
                select
                    .join_as(
                        JoinType::LeftJoin,
                        ident::Entity,
                        ai.clone(),
                        held_at_event_time,
                    )
                    .and_where(col(event::Column::Subject).eq(key.as_str()));
            }
            EventOwner::Customer(customer_id) => {
                select
                    .join_as(
                        JoinType::InnerJoin,
                        ident::Entity,
                        ai.clone(),
                        held_at_event_time,
                    )
                    .and_where(
                        Expr::col((ai.clone(), ident::Column::CustomerId)).eq(customer_id.as_str()),
                    );
            }
        }
        select.and_where(col(event::Column::Namespace).eq(ns.as_str()));
        if let Some(from) = query.from {
            select.and_where(col(event::Column::EventTime).gte(from.micros()));
        }
        if let Some(to) = query.to {
            select.and_where(col(event::Column::EventTime).lt(to.micros()));
        }
        if let Some(cursor) = &query.after {
            let sort = Sort::Int(col(event::Column::EventTime));
            select.and_where(after(cursor, sort, col(event::Column::Id), false)?);
        }
        select
            .order_by((e.clone(), event::Column::EventTime), Order::Asc)
            .order_by((e, event::Column::Id), Order::Asc)
            .limit(limit);
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(backend.build(&select))
            .await
            .map_err(StoreError::from_db)?;
        rows.iter().map(row_to_event).collect()
    }
}
