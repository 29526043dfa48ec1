//! PostgreSQL only: concurrent GetCustomer reads (by id, by key) merged into one statement.
//!
//! Every call is a round trip on its own pooled connection otherwise, and under load the round
//! trips (system calls and wake-ups), not patron's own work, bound the rate. A [`Batcher`] per
//! lookup sends a lone read at once; reads that arrive while [`IN_FLIGHT`] statements are already
//! running wait in a bounded queue and go together, up to [`MAX_BATCH`], as one
//! `unnest($1, $2) JOIN customers` statement as soon as one of those statements ends; calls in
//! one batch asking for the same customer share one element of the arrays. Each caller then gets
//! its own answer. The statements run on a pool of their own with generic plans (see
//! `storage::Role`). Every read still reaches the database after its call arrived (nothing
//! is cached, so a row another replica changed is never served stale), and a failed statement
//! fails every call in it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{PgPool, Row};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use super::{StoreError, StoreResult};
use crate::domain::customer::Customer;

/// Most requests in one batch (reads or creates in one statement).
pub(super) const MAX_BATCH: usize = 64;

/// Most statements of one lookup running at once. One: every read that arrives while it runs goes
/// in the next statement (quiet machine, 32 concurrent GetCustomer: 1 in flight 15.3-16.5k/s with
/// ~9 reads per statement, 2 in flight 11.5-12.5k/s). PostgreSQL reads never wait on locks, so
/// one statement in flight only waits for the database's own work.
pub(super) const IN_FLIGHT: usize = 1;

/// Most requests waiting for a batch; a call beyond it waits to enter the queue.
const QUEUE: usize = 4096;

/// One waiting read: (namespace, id or key) and where its answer goes.
struct Request {
    namespace: String,
    value: String,
    reply: oneshot::Sender<StoreResult<Option<Customer>>>,
}

/// How a batch's statement is written and its rows matched to the reads.
#[derive(Clone, Copy)]
pub(super) struct Lookup {
    /// The statement: `$1` the namespaces, `$2` the ids or keys (two `text[]` of equal length).
    pub(super) sql: &'static str,
    /// Position of the matched column (id or key) in the statement's rows; the namespace is at 1.
    pub(super) matched_at: usize,
    /// A row, read by position.
    pub(super) read: fn(&PgRow) -> StoreResult<Customer>,
}

/// A bounded queue whose worker takes what waits, up to [`MAX_BATCH`] requests, as one batch, and
/// runs at most `in_flight` batches at once: a lone request goes at once, requests that arrive
/// while every batch is running wait and go together. A request no batch took within the queue's
/// patience never runs (see [`Queue::ask`]). The worker ends when the queue is dropped.
pub(super) struct Queue<R> {
    queue: mpsc::Sender<(Ticket, R)>,
    /// Longest a request waits for a batch to take it (the pool's acquire timeout).
    patience: Duration,
}

impl<R> std::fmt::Debug for Queue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl<R: Send + 'static> Queue<R> {
    /// Starts the worker (on the current tokio runtime); `run` runs one batch, of requests whose
    /// callers still wait.
    pub(super) fn start<F, Fut>(in_flight: usize, patience: Duration, run: F) -> Self
    where
        F: Fn(Vec<R>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (queue, mut waiting) = mpsc::channel::<(Ticket, R)>(QUEUE);
        let running = Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                // Requests that arrive while every batch is running queue up behind this one.
                let Ok(permit) = Arc::clone(&running).acquire_owned().await else {
                    break;
                };
                let mut batch = Vec::with_capacity(MAX_BATCH.min(waiting.len() + 1));
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(request) => batch.push(request),
                        Err(_) => break,
                    }
                }
                // Requests their callers gave up on never run.
                let batch: Vec<R> = batch
                    .into_iter()
                    .filter_map(|(ticket, request)| ticket.start().then_some(request))
                    .collect();
                if batch.is_empty() {
                    continue;
                }
                let work = run(batch);
                tokio::spawn(async move {
                    work.await;
                    drop(permit);
                });
            }
        });
        Self { queue, patience }
    }

    /// Queues the request `make` builds around its reply channel and waits for the answer, as
    /// [`ask`] does; `gone` is the error if the worker is gone.
    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> R,
        gone: fn() -> StoreError,
    ) -> StoreResult<T> {
        let send = |request| async { self.queue.send(request).await.is_ok() };
        ask(
            |ticket, reply| (ticket, make(reply)),
            send,
            self.patience,
            gone,
        )
        .await
    }
}

/// A queued request its caller may give up on: it is either taken by a batch (and then runs and
/// is answered) or abandoned by its caller (and then never runs), never both.
#[derive(Clone, Debug, Default)]
pub(super) struct Ticket(Arc<AtomicU8>);

/// Waiting for a batch.
const QUEUED: u8 = 0;
/// Taken by a batch: it runs and is answered.
const STARTED: u8 = 1;
/// Given up on by its caller before a batch took it: it never runs.
const ABANDONED: u8 = 2;

impl Ticket {
    /// Takes the request for a batch, unless its caller gave up on it.
    pub(super) fn start(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Waits for the answer of the request `send` queues (false: the queue is gone, `gone()`).
    /// A request no batch took within `patience` (what a wait for a pooled connection may last)
    /// never runs, and its caller gets the pool's timeout (UNAVAILABLE); one taken meanwhile is
    /// awaited like a statement.
    async fn wait<T>(
        &self,
        send: impl Future<Output = bool>,
        answer: oneshot::Receiver<StoreResult<T>>,
        patience: Duration,
        gone: fn() -> StoreError,
    ) -> StoreResult<T> {
        let deadline = tokio::time::Instant::now() + patience;
        match tokio::time::timeout_at(deadline, send).await {
            Ok(true) => {}
            Ok(false) => return Err(gone()),
            Err(_) => return Err(gave_up()),
        }
        let mut answer = answer;
        if let Ok(answered) = tokio::time::timeout_at(deadline, &mut answer).await {
            return answered.map_err(|_| gone())?;
        }
        if self
            .0
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Err(gave_up());
        }
        answer.await.map_err(|_| gone())?
    }
}

/// Queues the request `make` builds from its ticket and reply channel (`send` puts it in the queue
/// and says false if the queue is gone) and waits for its answer as [`Ticket::wait`] does.
pub(super) async fn ask<T, R, Sent>(
    make: impl FnOnce(Ticket, oneshot::Sender<StoreResult<T>>) -> R,
    send: impl FnOnce(R) -> Sent,
    patience: Duration,
    gone: fn() -> StoreError,
) -> StoreResult<T>
where
    Sent: Future<Output = bool>,
{
    let ticket = Ticket::default();
    let (reply, answer) = oneshot::channel();
    let request = make(ticket.clone(), reply);
    ticket.wait(send(request), answer, patience, gone).await
}

/// The error of a request no batch took in time (UNAVAILABLE to the caller).
fn gave_up() -> StoreError {
    StoreError::Db(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
}

/// The queue of one lookup.
#[derive(Debug)]
pub(super) struct Batcher {
    queue: Queue<Request>,
}

impl Batcher {
    /// Starts the worker of `lookup` on `pool` (on the current tokio runtime).
    pub(super) fn start(pool: PgPool, lookup: Lookup, acquire_timeout: Duration) -> Self {
        Self {
            queue: Queue::start(IN_FLIGHT, acquire_timeout, move |batch| {
                run(pool.clone(), lookup, batch)
            }),
        }
    }

    /// The customer `lookup` finds for (`namespace`, `value`), read by a statement that starts
    /// after this call. A read no statement took within the acquire timeout is not sent and
    /// fails as a pool timeout would (UNAVAILABLE).
    pub(super) async fn get(&self, namespace: &str, value: &str) -> StoreResult<Option<Customer>> {
        let request = |reply| Request {
            namespace: namespace.to_owned(),
            value: value.to_owned(),
            reply,
        };
        self.queue.ask(request, stopped).await
    }
}

/// The error of a read whose batcher is gone (UNAVAILABLE to the caller).
fn stopped() -> StoreError {
    StoreError::Db(DbErr::Conn(RuntimeErr::Internal(
        "the read batcher stopped".into(),
    )))
}

/// Runs one batch's statement and answers each of its reads.
async fn run(pool: PgPool, lookup: Lookup, batch: Vec<Request>) {
    // Calls asking for the same customer share one element of the statement (and its row):
    // they arrived before the statement started, and one statement reads one snapshot.
    let mut wanted: HashMap<(&str, &str), usize> = HashMap::with_capacity(batch.len());
    let mut namespaces: Vec<&str> = Vec::with_capacity(batch.len());
    let mut values: Vec<&str> = Vec::with_capacity(batch.len());
    let mut askers: Vec<usize> = Vec::with_capacity(batch.len());
    let of_request: Vec<usize> = batch
        .iter()
        .map(|r| {
            *wanted
                .entry((r.namespace.as_str(), r.value.as_str()))
                .and_modify(|&mut at| askers[at] += 1)
                .or_insert_with(|| {
                    namespaces.push(r.namespace.as_str());
                    values.push(r.value.as_str());
                    askers.push(1);
                    askers.len() - 1
                })
        })
        .collect();
    let span = tracing::info_span!(
        target: "patron_sql",
        "db.query_all",
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = "SELECT",
        db.statement = lookup.sql,
        batch = batch.len(),
    );
    let rows = sea_orm::sqlx::query(lookup.sql)
        .bind(&namespaces)
        .bind(&values)
        .fetch_all(&pool)
        .instrument(span)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let err = DbErr::Query(RuntimeErr::SqlxError(e.into()));
            for request in batch {
                let _ = request.reply.send(Err(StoreError::Db(err.clone())));
            }
            return;
        }
    };
    let mut found: Vec<Option<StoreResult<Customer>>> = Vec::new();
    found.resize_with(askers.len(), || None);
    for row in &rows {
        let key = (
            row.try_get::<&str, _>(1),
            row.try_get::<Option<&str>, _>(lookup.matched_at),
        );
        if let (Ok(namespace), Ok(Some(value))) = key
            && let Some(&at) = wanted.get(&(namespace, value))
        {
            found[at] = Some((lookup.read)(row));
        }
    }
    for (request, at) in batch.into_iter().zip(of_request) {
        askers[at] -= 1;
        let answer = match (&found[at], askers[at]) {
            (None, _) => Ok(None),
            // The last caller asking for it takes the row's customer; the others get a copy.
            (Some(_), 0) => found[at].take().map_or(Ok(None), |r| r.map(Some)),
            (Some(Ok(customer)), _) => Ok(Some(customer.clone())),
            (Some(Err(e)), _) => Err(clone_error(e)),
        };
        // A caller that went away no longer waits for its answer.
        let _ = request.reply.send(answer);
    }
}

fn clone_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Db(db) => StoreError::Db(db.clone()),
        StoreError::UniqueViolation(message) => StoreError::UniqueViolation(message.clone()),
    }
}
