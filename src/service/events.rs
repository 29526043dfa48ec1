//! EventService use cases: atomic, deduplicated ingestion that creates subjects, and listing with
//! attribution at each event's own time.

use std::collections::BTreeSet;

use crate::domain::event::{EventQuery, IngestResult, StoredEvent, UsageEvent};
use crate::domain::page::{self, Cursor, Page, SortValue, WireSize};
use crate::domain::subject::created_by;
use crate::domain::{Error, Namespace, Result};

use super::Deps;

/// Most events read by one query while a page of events is filled.
const FETCH_CHUNK: u64 = 32;

/// EventService use cases.
#[derive(Clone, Debug)]
pub struct Events {
    deps: Deps,
}

impl Events {
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// The current time of this service's clock (when a batch is received).
    pub fn now(&self) -> crate::domain::Timestamp {
        self.deps.now()
    }

    /// Stores a validated batch atomically: events already stored (by source and id) and repeats
    /// within the batch are duplicates; new subject keys get a Subject in the same transaction.
    #[tracing::instrument(skip_all, fields(namespace = %ns, events = events.len()))]
    pub async fn ingest(&self, ns: &Namespace, events: Vec<UsageEvent>) -> Result<IngestResult> {
        let total = events.len() as u64;
        let mut seen = BTreeSet::new();
        let unique: Vec<UsageEvent> = events
            .into_iter()
            .filter(|e| seen.insert((e.source.clone(), e.id.clone())))
            .collect();
        if unique.is_empty() {
            return Ok(IngestResult::default());
        }
        let now = self.deps.now();
        let stored = self
            .deps
            .store
            .ingest_events(ns, &unique, &created_by("ingest"), now)
            .await?;
        let accepted = stored.accepted;
        let created_subject_keys = stored.created_subject_keys;
        Ok(IngestResult {
            accepted,
            duplicates: total - accepted,
            created_subject_keys,
        })
    }

    /// One page of events.
    pub async fn list(
        &self,
        ns: &Namespace,
        mut query: EventQuery,
        page_token: &str,
    ) -> Result<Page<StoredEvent>> {
        let owner = match &query.owner {
            crate::domain::event::EventOwner::Subject(s) => format!("subject:{s}"),
            crate::domain::event::EventOwner::Customer(c) => format!("customer:{c}"),
        };
        let from = query
            .from
            .map(|t| t.micros().to_string())
            .unwrap_or_default();
        let to = query.to.map(|t| t.micros().to_string()).unwrap_or_default();
        let fingerprint = page::fingerprint(&["events", &owner, &from, &to]);
        query.after =
            page::decode_token("page_token", page_token, &fingerprint, page::SortKind::Int)
                .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let cursor_after = |last: &StoredEvent| Cursor {
            value: SortValue::Int(last.event.time.micros()),
            id: last.row_id.clone(),
        };
        // Events are up to 1 MiB each: read the page (and the one row that tells whether more
        // exist) in chunks, and stop reading once the page is full by count or by bytes.
        let wanted = query.page_size + 1;
        let mut rows: Vec<StoredEvent> = Vec::new();
        let mut bytes = 0usize;
        loop {
            let limit = wanted.saturating_sub(rows.len() as u64).min(FETCH_CHUNK);
            let chunk = self.deps.store.list_events(ns, &query, limit).await?;
            let exhausted = (chunk.len() as u64) < limit;
            bytes = chunk
                .iter()
                .map(WireSize::wire_size)
                .fold(bytes, usize::saturating_add);
            if let Some(last) = chunk.last() {
                query.after = Some(cursor_after(last));
            }
            rows.extend(chunk);
            if exhausted || rows.len() as u64 >= wanted || bytes > page::PAGE_BYTE_BUDGET {
                break;
            }
        }
        Ok(Page::from_rows(
            rows,
            query.page_size,
            &fingerprint,
            cursor_after,
        ))
    }
}
