//! Subject rows. `customer_id` is derived from the attribution ledger by the service.

use std::collections::BTreeSet;

use sea_orm::sea_query::{IntoCondition, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Set, Statement,
};
use serde_json::{Map, Value};

use super::entities::{attribution_identifier as ident, subject};
use super::query::{Sort, insert, page, prefix_end, soft_delete};
use super::read::Reader;
use super::{StoreError, StoreResult, Tx};
use crate::domain::page::Cursor;
use crate::domain::subject::Subject;
use crate::domain::values::Identifier;
use crate::domain::{Namespace, Timestamp, new_id};

fn to_domain(row: subject::Model) -> StoreResult<Subject> {
    let metadata = match row.metadata {
        Some(text) => Some(
            serde_json::from_str::<Map<String, Value>>(&text).map_err(|e| {
                StoreError::Db(sea_orm::DbErr::Custom(format!(
                    "subject {} has unreadable metadata: {e}",
                    row.id
                )))
            })?,
        ),
        None => None,
    };
    Ok(Subject {
        id: row.id,
        key: Identifier::from_stored(row.key),
        display_name: row.display_name,
        metadata,
        stripe_customer_id: row.stripe_customer_id,
        customer_id: None,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        deleted_at: row.deleted_at.map(Timestamp),
    })
}

fn metadata_json(metadata: &Option<Map<String, Value>>) -> Option<String> {
    metadata
        .as_ref()
        .map(|m| Value::Object(m.clone()).to_string())
}

fn to_row(ns: &Namespace, s: &Subject) -> subject::ActiveModel {
    subject::ActiveModel {
        id: Set(s.id.clone()),
        namespace: Set(ns.as_str().to_owned()),
        key: Set(s.key.as_str().to_owned()),
        display_name: Set(s.display_name.clone()),
        metadata: Set(metadata_json(&s.metadata)),
        stripe_customer_id: Set(s.stripe_customer_id.clone()),
        created_at: Set(s.created_at.micros()),
        updated_at: Set(s.updated_at.micros()),
        deleted_at: Set(s.deleted_at.map(Timestamp::micros)),
    }
}

/// Rows per multi-row INSERT (well under both databases' bound-parameter limits).
const INSERT_CHUNK: usize = 500;

/// The INSERTs that give every key without a live subject one (`Tx::ensure_subjects`), built
/// before the transaction that runs them.
#[derive(Clone, Debug)]
pub struct SubjectInserts(Vec<Statement>);

impl SubjectInserts {
    /// Inserts for the distinct `keys`, each new subject with `metadata` and created at `now`.
    pub fn new(
        backend: DbBackend,
        ns: &Namespace,
        keys: &[&str],
        metadata: &Map<String, Value>,
        now: Timestamp,
    ) -> Self {
        let unique: BTreeSet<&str> = keys.iter().copied().collect();
        let unique: Vec<&str> = unique.into_iter().collect();
        let metadata = Value::Object(metadata.clone()).to_string();
        let statements = unique
            .chunks(INSERT_CHUNK)
            .map(|chunk| {
                let mut insert = Query::insert();
                insert.into_table(subject::Entity).columns([
                    subject::Column::Id,
                    subject::Column::Namespace,
                    subject::Column::Key,
                    subject::Column::Metadata,
                    subject::Column::CreatedAt,
                    subject::Column::UpdatedAt,
                ]);
                for key in chunk {
                    insert.values_panic([
                        new_id().into(),
                        ns.as_str().into(),
                        (*key).into(),
                        metadata.clone().into(),
                        now.micros().into(),
                        now.micros().into(),
                    ]);
                }
                insert
                    .on_conflict(OnConflict::new().do_nothing().to_owned())
                    .returning_col(subject::Column::Key);
                backend.build(&insert)
            })
            .collect();
        Self(statements)
    }
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// A subject by id, live or deleted.
    pub(super) async fn subject_by_id(
        &self,
        ns: &Namespace,
        id: &str,
    ) -> StoreResult<Option<Subject>> {
        self.find_one(ns, subject::Column::Id.eq(id)).await
    }

    /// The live subject with this key.
    pub(super) async fn live_subject_by_key(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> StoreResult<Option<Subject>> {
        let live = Condition::all()
            .add(subject::Column::Key.eq(key))
            .add(subject::Column::DeletedAt.is_null());
        self.find_one(ns, live).await
    }

    async fn find_one(
        &self,
        ns: &Namespace,
        which: impl IntoCondition,
    ) -> StoreResult<Option<Subject>> {
        let select = subject::Entity::find()
            .filter(subject::Column::Namespace.eq(ns.as_str()))
            .filter(which);
        self.one(select, to_domain).await
    }

    /// The live subjects with these keys.
    pub(super) async fn live_subjects_by_keys(
        &self,
        ns: &Namespace,
        keys: &[&str],
    ) -> StoreResult<Vec<Subject>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let select = subject::Entity::find()
            .filter(subject::Column::Namespace.eq(ns.as_str()))
            .filter(subject::Column::Key.is_in(keys.iter().copied()))
            .filter(subject::Column::DeletedAt.is_null());
        self.all(select, to_domain).await
    }

    /// Subjects ordered by (key, id), after `after`, at most `limit`.
    pub(super) async fn list_subjects(
        &self,
        ns: &Namespace,
        key_prefix: Option<&str>,
        customer_id: Option<&str>,
        show_deleted: bool,
        after: Option<&Cursor>,
        limit: u64,
    ) -> StoreResult<Vec<Subject>> {
        use subject::Column as C;
        let mut select = subject::Entity::find().filter(C::Namespace.eq(ns.as_str()));
        if !show_deleted {
            select = select.filter(C::DeletedAt.is_null());
        }
        if let Some(prefix) = key_prefix {
            select = select.filter(C::Key.gte(prefix));
            if let Some(end) = prefix_end(prefix) {
                select = select.filter(C::Key.lt(end));
            }
        }
        if let Some(customer_id) = customer_id {
            select = select.filter(
                C::Key.in_subquery(
                    Query::select()
                        .column(ident::Column::Identifier)
                        .from(ident::Entity)
                        .and_where(ident::Column::Namespace.eq(ns.as_str()))
                        .and_where(ident::Column::CustomerId.eq(customer_id))
                        .and_where(ident::Column::ValidTo.is_null())
                        .to_owned(),
                ),
            );
        }
        let select = page(select, Sort::Text(C::Key), C::Id, after, false, limit)?;
        self.all(select, to_domain).await
    }
}

impl Tx {
    /// Inserts a subject (`UniqueViolation` if a live subject has its key).
    pub async fn insert_subject(&self, ns: &Namespace, subject: &Subject) -> StoreResult<()> {
        insert(&self.inner, [to_row(ns, subject)]).await
    }

    /// Writes every column of the subject with this id.
    pub async fn update_subject(&self, ns: &Namespace, subject: &Subject) -> StoreResult<()> {
        subject::Entity::update_many()
            .set(to_row(ns, subject))
            .filter(subject::Column::Namespace.eq(ns.as_str()))
            .filter(subject::Column::Id.eq(subject.id.as_str()))
            .exec(&self.inner)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Creates a live subject for every key that has none, with `metadata`; concurrent creators of
    /// the same key do not fail (the unique index decides, the loser does nothing). Returns the
    /// keys created by this call.
    pub async fn ensure_subjects(
        &self,
        ns: &Namespace,
        keys: &[&str],
        metadata: &Map<String, Value>,
        now: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let inserts =
            SubjectInserts::new(self.inner.get_database_backend(), ns, keys, metadata, now);
        self.insert_subjects(inserts).await
    }

    /// Runs statements built beforehand by [`SubjectInserts::new`] (outside the transaction, so
    /// that building them does not hold the write lock); returns the keys created.
    pub async fn insert_subjects(&self, inserts: SubjectInserts) -> StoreResult<Vec<String>> {
        let mut created = Vec::new();
        for statement in inserts.0 {
            let rows = self
                .inner
                .query_all_raw(statement)
                .await
                .map_err(StoreError::from_db)?;
            for row in rows {
                created.push(
                    row.try_get::<String>("", "key")
                        .map_err(StoreError::from_db)?,
                );
            }
        }
        created.sort();
        Ok(created)
    }

    /// Soft-deletes the subject with this id.
    pub async fn soft_delete_subject(
        &self,
        ns: &Namespace,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let which = Condition::all()
            .add(subject::Column::Namespace.eq(ns.as_str()))
            .add(subject::Column::Id.eq(id));
        let columns = (subject::Column::DeletedAt, subject::Column::UpdatedAt);
        soft_delete::<subject::Entity>(&self.inner, columns, which, at).await?;
        Ok(())
    }
}
