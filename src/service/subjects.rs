//! SubjectService use cases.

use std::collections::BTreeMap;

use crate::domain::page::{self, Cursor, Page, SortValue};
use crate::domain::subject::{Subject, SubjectUpsert};
use crate::domain::{Error, Namespace, Result, new_id};
use crate::storage::StoreError;

use super::Deps;
use super::steps;

/// How a single subject is addressed.
#[derive(Clone, Debug)]
pub enum SubjectLookup {
    /// By id (deleted ones too).
    Id(String),
    /// By key (live only).
    Key(String),
    /// OpenMeter's `{subjectIdOrKey}`: the subject with this id if there is one, else the live
    /// holder of this key.
    IdOrKey(String),
}

/// Most subjects [`Subjects::list_all`] answers (OpenMeter's list has no paging).
pub const MAX_LIST_ALL: u64 = 10_000;

/// SubjectService use cases.
#[derive(Clone, Debug)]
pub struct Subjects {
    deps: Deps,
}

fn not_found(lookup: &SubjectLookup) -> Error {
    let (what, value) = match lookup {
        SubjectLookup::Id(id) => ("id", id.clone()),
        SubjectLookup::Key(key) => ("key", key.clone()),
        SubjectLookup::IdOrKey(raw) => ("id_or_key", raw.clone()),
    };
    Error::NotFound {
        reason: "SUBJECT_NOT_FOUND",
        message: format!("no subject with {what} {value:?}"),
        metadata: vec![(what, value)],
    }
}

impl Subjects {
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// Fills `customer_id` from the live attribution of each subject's key.
    async fn with_customers(
        &self,
        ns: &Namespace,
        mut subjects: Vec<Subject>,
    ) -> Result<Vec<Subject>> {
        let keys: Vec<&str> = subjects
            .iter()
            .filter(|s| s.deleted_at.is_none())
            .map(|s| s.key.as_str())
            .collect();
        let holders: BTreeMap<String, String> = self
            .deps
            .store
            .identifier_holders(ns, &keys)
            .await?
            .into_iter()
            .collect();
        for subject in &mut subjects {
            if subject.deleted_at.is_none() {
                subject.customer_id = holders.get(subject.key.as_str()).cloned();
            }
        }
        Ok(subjects)
    }

    /// Creates or updates every item in one transaction; the answer is in request order.
    #[tracing::instrument(skip_all, fields(namespace = %ns, items = items.len()))]
    pub async fn upsert(&self, ns: &Namespace, items: &[SubjectUpsert]) -> Result<Vec<Subject>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.deps.now();
        let result = async {
            let tx = self.deps.store.begin().await?;
            let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
            let existing: BTreeMap<String, Subject> = tx
                .live_subjects_by_keys(ns, &keys)
                .await?
                .into_iter()
                .map(|s| (s.key.as_str().to_owned(), s))
                .collect();
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let current = existing.get(item.key.as_str());
                let subject = item.apply(current, new_id, now);
                match current {
                    Some(_) => tx.update_subject(ns, &subject).await?,
                    None => tx.insert_subject(ns, &subject).await?,
                }
                out.push(subject);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(out)
        }
        .await;
        match result {
            Ok(subjects) => self.with_customers(ns, subjects).await,
            Err(StoreError::UniqueViolation(_)) => Err(Error::Conflict(
                "a concurrent write created one of these subjects; retry".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// One subject.
    pub async fn get(&self, ns: &Namespace, lookup: &SubjectLookup) -> Result<Subject> {
        let found = match lookup {
            SubjectLookup::Id(id) => self.deps.store.subject_by_id(ns, id).await?,
            SubjectLookup::Key(key) => self.deps.store.live_subject_by_key(ns, key).await?,
            SubjectLookup::IdOrKey(raw) => match self.deps.store.subject_by_id(ns, raw).await? {
                Some(found) => Some(found),
                None => self.deps.store.live_subject_by_key(ns, raw).await?,
            },
        };
        let subject = found.ok_or_else(|| not_found(lookup))?;
        Ok(self.with_customers(ns, vec![subject]).await?.remove(0))
    }

    /// One page of subjects ordered by key.
    pub async fn list(
        &self,
        ns: &Namespace,
        key_prefix: Option<&str>,
        customer_id: Option<&str>,
        show_deleted: bool,
        page_size: u64,
        page_token: &str,
    ) -> Result<Page<Subject>> {
        let fingerprint = page::fingerprint(&[
            "subjects",
            key_prefix.unwrap_or_default(),
            customer_id.unwrap_or_default(),
            if show_deleted { "deleted" } else { "live" },
        ]);
        let after =
            page::decode_token("page_token", page_token, &fingerprint, page::SortKind::Text)
                .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let rows = self
            .deps
            .store
            .list_subjects(
                ns,
                key_prefix,
                customer_id,
                show_deleted,
                after.as_ref(),
                page_size + 1,
            )
            .await?;
        let mut page = Page::from_rows(rows, page_size, &fingerprint, |last| Cursor {
            value: SortValue::Text(last.key.as_str().to_owned()),
            id: last.id.clone(),
        });
        page.items = self
            .with_customers(ns, std::mem::take(&mut page.items))
            .await?;
        Ok(page)
    }

    /// Every live subject ordered by key, at most [`MAX_LIST_ALL`] (OpenMeter's unpaged list).
    pub async fn list_all(&self, ns: &Namespace) -> Result<Vec<Subject>> {
        steps::every_page(MAX_LIST_ALL, |token| async move {
            self.list(ns, None, None, false, page::MAX_PAGE_SIZE, &token)
                .await
        })
        .await
    }

    /// Soft-deletes a subject (its events stay, and stay attributed).
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn delete(&self, ns: &Namespace, lookup: &SubjectLookup) -> Result<Subject> {
        let tx = self.deps.store.begin().await?;
        let found = match lookup {
            SubjectLookup::Id(id) => tx.subject_by_id(ns, id).await?,
            SubjectLookup::Key(key) => tx.live_subject_by_key(ns, key).await?,
            SubjectLookup::IdOrKey(raw) => match tx.subject_by_id(ns, raw).await? {
                Some(found) => Some(found),
                None => tx.live_subject_by_key(ns, raw).await?,
            },
        };
        let mut subject = found.ok_or_else(|| not_found(lookup))?;
        if subject.deleted_at.is_some() {
            return Ok(subject);
        }
        let now = self.deps.now().max(subject.updated_at);
        tx.soft_delete_subject(ns, &subject.id, now).await?;
        tx.commit().await?;
        subject.deleted_at = Some(now);
        subject.updated_at = now;
        Ok(subject)
    }
}
