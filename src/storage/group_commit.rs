//! SQLite group commit: concurrent write jobs (creates, batches of events) share the single
//! writer's transactions.
//!
//! SQLite has one writer, and what bounds its write rate is the commit (a WAL append and its
//! checkpoint bookkeeping), not the statements. Every SQLite store therefore runs one writer task
//! that takes the jobs queued on a bounded channel (up to [`MAX_BATCH`] at a time), opens ONE
//! `BEGIN IMMEDIATE` transaction, runs every job in it, commits once, and only then answers every
//! job: an answered job is as durable as a commit of its own would have made it.
//!
//! Jobs first run one after the other with nothing between them (a savepoint per job costs two
//! statements and SQLite's sub-journal). If one of them fails (e.g. on a unique index), that
//! transaction is rolled back and the batch runs again, each job inside its own `SAVEPOINT`: a
//! job that fails rolls back to its savepoint and gets its own error; the others stay.
//!
//! Cache coherence: the jobs of a batch share the batch's [`Marks`], released after the commit
//! (or the rollback), so no reader caches a row that is not committed yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::batch::{Ticket, ask};
use super::cache::{CustomerCache, Marks};
use super::checkpoint::Checkpoints;
use super::{StoreError, StoreResult, Tx};

/// Most jobs one transaction carries.
pub const MAX_BATCH: usize = 64;

/// Most jobs waiting for the writer; callers beyond it wait to enqueue (backpressure).
const QUEUE: usize = 1024;

/// A write job: runs its statements on the transaction it is given. It may run twice (the second
/// time inside its own savepoint, after a rollback), so it must write the same rows each time.
pub type Job = Box<
    dyn for<'t> Fn(&'t Tx) -> Pin<Box<dyn Future<Output = StoreResult<()>> + Send + 't>>
        + Send
        + Sync,
>;

struct Request {
    job: Job,
    reply: oneshot::Sender<StoreResult<()>>,
    /// Taken by a batch, or given up on by its caller.
    ticket: Ticket,
    /// The caller's span, parent of the job's statements.
    span: tracing::Span,
}

impl Request {
    /// Takes the job for a batch, unless its caller gave up on it.
    fn start(&self) -> bool {
        self.ticket.start()
    }
}

/// The handle to a SQLite store's writer task; the task ends when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Request>,
    /// Longest a job waits for the writer to take it (the pool's acquire timeout).
    acquire_timeout: Duration,
}

impl GroupCommit {
    /// Starts the writer task on `writer` (the store's one writer connection), on the server's
    /// runtime. (A thread of its own with a current-thread runtime was tried: creates fell from
    /// ~3,400-3,700 to ~2,100-2,200 per second, 225 -> 315 us of CPU per call, in noisy runs;
    /// the mix's creates waited less.)
    pub fn start(
        writer: DatabaseConnection,
        cache: Option<Arc<CustomerCache>>,
        checkpoints: Option<Checkpoints>,
        acquire_timeout: Duration,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run_writer(writer, cache, checkpoints, queue));
        Self {
            jobs,
            acquire_timeout,
        }
    }

    /// Runs `job` in the next batch; returns once the batch committed (or the job's own error).
    /// A job the writer has not taken within the acquire timeout (the writer is stuck, e.g. on
    /// another process's lock) never runs, and its caller gets UNAVAILABLE, as a wait for a
    /// pooled connection would.
    pub async fn run(&self, job: Job) -> StoreResult<()> {
        let request = |ticket, reply| Request {
            job,
            reply,
            ticket,
            span: tracing::Span::current(),
        };
        let send = |r| async { self.jobs.send(r).await.is_ok() };
        ask(request, send, self.acquire_timeout, stopped).await
    }
}

/// The error of a job whose writer task is gone (UNAVAILABLE to the caller).
fn stopped() -> StoreError {
    StoreError::Db(DbErr::Conn(RuntimeErr::Internal(
        "the SQLite writer task stopped".into(),
    )))
}

async fn run_writer(
    writer: DatabaseConnection,
    cache: Option<Arc<CustomerCache>>,
    checkpoints: Option<Checkpoints>,
    mut queue: mpsc::Receiver<Request>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    while let Some(first) = queue.recv().await {
        if !first.start() {
            continue;
        }
        batch.push(first);
        let outer = writer.begin_with_options(options).await;
        // What queued meanwhile (and was not given up on) shares the transaction.
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) if request.start() => batch.push(request),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let end = match outer {
            Ok(outer) => together(outer, &cache, &batch).await,
            Err(err) => Together::Failed(err),
        };
        match end {
            Together::Committed => {
                for request in batch.drain(..) {
                    let _ = request.reply.send(Ok(()));
                }
            }
            // The batch's only job failed: its own error is its answer, nothing else was written.
            Together::Refused(own) if batch.len() == 1 => {
                if let Some(request) = batch.pop() {
                    let _ = request.reply.send(Err(own));
                }
            }
            // A job failed: again, each job in its own savepoint, so that it alone fails.
            Together::Refused(_) => match writer.begin_with_options(options).await {
                Ok(outer) => commit_batch(outer, &cache, &mut batch).await,
                Err(err) => fail(&mut batch, &err),
            },
            Together::Failed(err) => fail(&mut batch, &err),
        }
        if let Some(checkpoints) = &checkpoints {
            checkpoints.written();
        }
    }
}

/// Answers every job of `batch` (emptied) with `err`.
fn fail(batch: &mut Vec<Request>, err: &DbErr) {
    for request in batch.drain(..) {
        let _ = request.reply.send(Err(StoreError::from_db(err.clone())));
    }
}

/// How running a batch's jobs one after the other in one transaction ended.
enum Together {
    /// Every job ran and the transaction committed.
    Committed,
    /// A job failed (its error); the transaction was rolled back.
    Refused(StoreError),
    /// The commit failed: no job can be vouched for.
    Failed(DbErr),
}

/// Runs every job of `batch` in `outer`, no savepoints, and commits; at the first job that fails,
/// rolls back instead.
async fn together(
    outer: DatabaseTransaction,
    cache: &Option<Arc<CustomerCache>>,
    batch: &[Request],
) -> Together {
    let marks = Arc::new(Marks::new(cache.clone()));
    let tx = Tx {
        inner: outer,
        marks: Arc::clone(&marks),
        checkpoints: None,
    };
    for request in batch {
        if let Err(own) = (request.job)(&tx).instrument(request.span.clone()).await {
            let _ = tx.inner.rollback().await;
            return Together::Refused(own);
        }
    }
    let end = tx.inner.commit().await;
    // Only now may readers cache what the batch wrote.
    drop(marks);
    match end {
        Ok(()) => Together::Committed,
        Err(err) => Together::Failed(err),
    }
}

/// Runs every job of `batch` (emptied) in `outer`, commits, and answers every job.
async fn commit_batch(
    outer: DatabaseTransaction,
    cache: &Option<Arc<CustomerCache>>,
    batch: &mut Vec<Request>,
) {
    let marks = Arc::new(Marks::new(cache.clone()));
    let mut answers = Vec::with_capacity(batch.len());
    // A savepoint that could not be taken, released or rolled back leaves the transaction in a
    // state no job can vouch for: the whole batch rolls back.
    let mut broken: Option<DbErr> = None;
    for request in batch.drain(..) {
        let result = if broken.is_some() {
            None
        } else {
            match run_job(&outer, &marks, &request.job)
                .instrument(request.span)
                .await
            {
                Ok(result) => Some(result),
                Err(err) => {
                    broken = Some(err);
                    None
                }
            }
        };
        answers.push((request.reply, result));
    }
    let end = match broken {
        Some(err) => {
            let _ = outer.rollback().await;
            Err(err)
        }
        None => outer.commit().await,
    };
    // Only now may readers cache what the batch wrote.
    drop(marks);
    for (reply, result) in answers {
        let answer = match (result, &end) {
            // A job's own error stands whatever happened to the batch.
            (Some(Err(own)), _) => Err(own),
            (_, Err(err)) => Err(StoreError::from_db(err.clone())),
            (Some(Ok(())), Ok(())) => Ok(()),
            // Not run: only after a broken savepoint, which makes `end` an error.
            (None, Ok(())) => Err(stopped()),
        };
        let _ = reply.send(answer);
    }
}

/// Runs `job` inside its own savepoint of `outer`: `Ok(job's result)`, or `Err` when the
/// savepoint itself failed.
async fn run_job(
    outer: &DatabaseTransaction,
    marks: &Arc<Marks>,
    job: &Job,
) -> Result<StoreResult<()>, DbErr> {
    let inner = outer.begin().await?;
    let tx = Tx {
        inner,
        marks: Arc::clone(marks),
        checkpoints: None,
    };
    let result = job(&tx).await;
    let Tx { inner, .. } = tx;
    match result {
        Ok(()) => inner.commit().await.map(|()| Ok(())),
        Err(own) => inner.rollback().await.map(|()| Err(own)),
    }
}
