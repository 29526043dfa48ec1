//! EventService use cases: atomic, deduplicated ingestion that creates subjects, and listing with
//! attribution at each event's own time.

use std::collections::BTreeSet;

use crate::domain::event::{EventQuery, IngestResult, StoredEvent, UsageEvent};
use crate::domain::page::{self, Cursor, SortValue};
use crate::domain::subject::created_by;
use crate::domain::{Error, Namespace, Result, Timestamp};
use crate::storage::Store;

/// One page of events.
#[derive(Debug)]
pub struct EventPage {
    /// In time order.
    pub events: Vec<StoredEvent>,
    /// The next page's token.
    pub next_page_token: Option<String>,
}

/// EventService use cases.
#[derive(Clone, Debug)]
pub struct Events {
    store: Store,
}

impl Events {
    /// Use cases over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
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
        let now = Timestamp::now();
        let stored = self
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
    ) -> Result<EventPage> {
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
        query.after = page::decode_token("page_token", page_token, &fingerprint)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let rows = self.store.list_events(ns, &query).await?;
        let (events, next_page_token) =
            page::finish(rows, query.page_size, &fingerprint, |last| Cursor {
                value: SortValue::Int(last.event.time.micros()),
                id: last.row_id.clone(),
            });
        Ok(EventPage {
            events,
            next_page_token,
        })
    }
}
