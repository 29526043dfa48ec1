//! PostgreSQL only: concurrent GetCustomer reads (by id, by key) merged into one statement.
//!
//! Every call is a round trip on its own pooled connection otherwise, and under load the round
//! trips (system calls and wake-ups), not patron's own work, bound the rate. A [`Batcher`] per
//! lookup sends a lone read at once; reads that arrive while its statement runs wait in a bounded
//! queue and go together, up to [`MAX_BATCH`], as one `unnest($1, $2) JOIN customers` statement
//! as soon as that statement ends; calls in one batch asking for the same customer share one
//! element of the arrays. Each caller then gets its own answer. The statements run on a pool of
//! their own with generic plans (see `storage::Role`). Every read still reaches the database
//! after its call arrived (nothing is cached, so a row another replica changed is never served
//! stale), and a failed statement fails every call in it.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::FutureExt;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::{PgPool, Row};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{StoreError, StoreResult};
use crate::domain::customer::Customer;

/// Most requests in one batch (reads or creates in one statement).
pub(super) const MAX_BATCH: usize = 64;

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
/// runs one batch at a time, itself: a lone request goes at once, requests that arrive while a
/// batch runs wait and go together in the next. One at a time because it measured best for both
/// queues: every request that arrives meanwhile joins the next statement (32 concurrent
/// GetCustomer: one read statement in flight 15.3-16.5k/s with ~9 reads per statement, two
/// 11.5-12.5k/s; 8 concurrent creates: one ~4,950/s with 3.8 creates per statement, two ~4,200/s),
/// and PostgreSQL reads never wait on locks, so the next statement only waits for the database's
/// own work. Running the batch in the worker itself, not as a task of its own, spares a spawn and
/// a wake-up per statement. A request no batch took within the queue's patience never runs (see
/// [`Queue::ask`]). The worker ends when the queue is dropped.
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

/// What a queue's worker does with its batches.
pub(super) trait Batches: Send + 'static {
    /// One queued request, with where its answer goes.
    type Request: Send + 'static;

    /// Runs one batch, of requests whose callers still wait, and answers each of them.
    fn run(&mut self, batch: Vec<Self::Request>) -> impl Future<Output = ()> + Send;

    /// No request waits any more: let go of what is worth holding only while requests keep
    /// coming.
    fn idle(&mut self) {}
}

impl<R: Send + 'static> Queue<R> {
    /// Starts the worker (on the current tokio runtime), which gives `batches` one batch at a time.
    pub(super) fn start(patience: Duration, mut batches: impl Batches<Request = R>) -> Self {
        let (queue, mut waiting) = mpsc::channel::<(Ticket, R)>(QUEUE);
        tokio::spawn(async move {
            loop {
                let first = match waiting.try_recv() {
                    Ok(first) => first,
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {
                        batches.idle();
                        match waiting.recv().await {
                            Some(first) => first,
                            None => break,
                        }
                    }
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
                // A batch that panicked has dropped its replies (its callers get `gone`); the
                // queue goes on with the next.
                let _ = AssertUnwindSafe(batches.run(batch)).catch_unwind().await;
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
            queue: Queue::start(
                acquire_timeout,
                Reads {
                    pool,
                    lookup,
                    held: None,
                },
            ),
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

/// Statements one connection runs for a lookup before it goes back to the pool, even while reads
/// keep coming: the pool's lifetime and idle rules then apply to it again.
const HELD_STATEMENTS: u32 = 1024;

/// A lookup's batches, on a connection of the pool held while reads keep coming.
struct Reads {
    pool: PgPool,
    lookup: Lookup,
    /// The connection of the last statement and how many it ran, kept while reads wait: a pooled
    /// connection goes back through a task of its own (the driver's), so taking and returning
    /// one per statement cost a spawn and often a wake-up of another worker thread each. Given
    /// back when no read waits, after an error, and after [`HELD_STATEMENTS`].
    held: Option<(PoolConnection<Postgres>, u32)>,
}

impl Batches for Reads {
    type Request = Request;

    fn run(&mut self, batch: Vec<Request>) -> impl Future<Output = ()> + Send {
        run(self, batch)
    }

    fn idle(&mut self) {
        self.held = None;
    }
}

/// Runs one batch's statement and answers each of its reads.
async fn run(reads: &mut Reads, batch: Vec<Request>) {
    let lookup = reads.lookup;
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
    let rows = async {
        let (mut connection, statements) = match reads.held.take() {
            Some(held) => held,
            None => (reads.pool.acquire().await?, 0),
        };
        let rows = sea_orm::sqlx::query(lookup.sql)
            .bind(&namespaces)
            .bind(&values)
            .fetch_all(&mut *connection)
            .await?;
        if statements + 1 < HELD_STATEMENTS {
            reads.held = Some((connection, statements + 1));
        }
        Ok::<_, sea_orm::sqlx::Error>(rows)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    /// One request: its number (0 makes the batch panic) and where the batch's size goes.
    type Numbered = (u32, oneshot::Sender<StoreResult<usize>>);

    /// Answers each request of a batch with the batch's size; a batch holding request 0 panics.
    /// Each idle adds a permit to `idles`.
    struct Sizes {
        idles: Arc<Semaphore>,
    }

    impl Batches for Sizes {
        type Request = Numbered;

        async fn run(&mut self, batch: Vec<Numbered>) {
            assert!(
                batch.iter().all(|(n, _)| *n != 0),
                "request 0 poisons its batch"
            );
            let size = batch.len();
            for (_, reply) in batch {
                let _ = reply.send(Ok(size));
            }
        }

        fn idle(&mut self) {
            self.idles.add_permits(1);
        }
    }

    async fn idled(idles: &Semaphore) {
        tokio::time::timeout(Duration::from_secs(10), idles.acquire())
            .await
            .expect("the worker went idle in time")
            .expect("semaphore open")
            .forget();
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_callers_and_the_queue_goes_on_idle_between() {
        let idles = Arc::new(Semaphore::new(0));
        let queue = Queue::start(
            Duration::from_secs(10),
            Sizes {
                idles: Arc::clone(&idles),
            },
        );
        idled(&idles).await; // nothing queued yet

        let poisoned = queue.ask(|reply| (0, reply), stopped).await;
        assert!(
            matches!(poisoned, Err(StoreError::Db(DbErr::Conn(_)))),
            "{poisoned:?}"
        );
        idled(&idles).await;

        let answered = queue.ask(|reply| (1, reply), stopped).await;
        assert_eq!(answered.expect("answered"), 1);
        idled(&idles).await;
    }
}
